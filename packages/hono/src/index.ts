import type { IncomingMessage } from 'node:http'
import type { Http2ServerRequest } from 'node:http2'
import {
  type AllowPolicy,
  type ClientCertAuthenticator,
  ClientCertConfigError,
  ClientCertError,
  type ClientCertOptions,
  type ClientPrincipal,
  type CompiledPolicy,
  compilePolicy,
  createWebRequestAuthenticator,
  markAuthenticated,
  problemResponse,
  type TrustedBoundary,
  type WebClientCertOptions,
} from '@clientcert/core'
import {
  type Admission,
  adapterCheck,
  admitRequest,
  admitView,
  checkRoute,
  type MaybePromise,
  mountedAfterBody,
  type RouteRule,
  splitAdapterOptions,
} from '@clientcert/core/adapter'
import type { Context, MiddlewareHandler, Next } from 'hono'

/** What the middleware sets: `c.get('clientCert')`, undefined in optional mode without a certificate. */
export type ClientCertVariables = { clientCert: ClientPrincipal | undefined }

/** The Hono environment of an app on `@hono/node-server`: its bindings and `c.get('clientCert')`. */
export type ClientCertEnv = {
  Bindings: { incoming: IncomingMessage | Http2ServerRequest }
  Variables: ClientCertVariables
}

/** The Hono environment on a Web runtime (Bun, Deno, Cloudflare Workers): `c.get('clientCert')`. */
export type WebClientCertEnv = { Variables: ClientCertVariables }

/** Options of `clientCert()`: the core options, or an existing authenticator, plus adapter settings. */
export type HonoClientCertOptions = (
  | ClientCertOptions
  | { readonly authenticator: ClientCertAuthenticator }
) & {
  /** Let requests without a certificate through with `c.get('clientCert')` undefined (see `requireClientCert()`). */
  readonly optional?: boolean
  /** Where configuration errors found at request time are reported. Default `console.error`. */
  readonly logger?: (message: string) => void
}

/** Options of `webClientCert()`: a forwarded source behind an explicit `trustedBoundary`. */
export type WebHonoClientCertOptions = WebClientCertOptions & {
  readonly optional?: boolean
  readonly logger?: (message: string) => void
}

/**
 * Authenticates every request of a Hono app served by `@hono/node-server`, from the TLS socket
 * (or a header of an allowlisted proxy) of the Node request behind it (`c.env.incoming`).
 * Mount it first: after something read the body it fails closed with
 * `ERR_CLIENT_CERT_BODY_ALREADY_READ`. On a runtime without a Node request, every request is
 * refused with `ERR_CLIENT_CERT_MISCONFIGURED`: use `webClientCert()` there.
 */
export function clientCert(options: HonoClientCertOptions): MiddlewareHandler<ClientCertEnv> {
  const { settings, authenticator } = splitAdapterOptions(options, {
    optional: { check: adapterCheck.boolean, default: false },
    logger: { check: adapterCheck.function<(message: string) => void>, default: defaultLogger },
  })
  const rule: RouteRule = { policy: undefined, optional: settings.optional }
  return function clientCertMiddleware(c, next) {
    const incoming = nodeRequestIn(c)
    if (incoming === undefined) {
      const message =
        'clientcert: clientCert() needs @hono/node-server (c.env.incoming); on Bun, Deno or Workers use webClientCert() with a trustedBoundary.'
      settings.logger(message)
      return Promise.resolve(reply(authenticator.reject('ERR_CLIENT_CERT_MISCONFIGURED', message, undefined)))
    }
    if (mountedAfterBody(incoming)) {
      const message =
        'clientcert: clientCert() ran after the request body was read. Mount it before any body parser or validator (c.req.json(), c.req.parseBody(), validator()).'
      settings.logger(message)
      return Promise.resolve(
        reply(authenticator.reject('ERR_CLIENT_CERT_BODY_ALREADY_READ', message, incoming)),
      )
    }
    return continueWith(admitRequest(authenticator, incoming, rule), c, next, incoming, (err) =>
      authenticator.reject('ERR_CLIENT_CERT_INTERNAL', String(err), incoming),
    )
  }
}

/**
 * Authenticates every request on a runtime without a Node socket (Bun, Deno, Cloudflare
 * Workers, or `app.fetch()` anywhere) from a forwarded-certificate header, believed only
 * behind the explicit `trustedBoundary`. Throws `ClientCertConfigError` at construction
 * without one.
 */
export function webClientCert(options: WebHonoClientCertOptions): MiddlewareHandler<WebClientCertEnv> {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new ClientCertConfigError('options', 'must be an object')
  const { optional = false, logger = defaultLogger, ...web } = options
  adapterCheck.boolean(optional, 'optional')
  adapterCheck.function(logger, 'logger')
  const source = createWebRequestAuthenticator(web)
  const authenticator = source.authenticator
  const rule: RouteRule = { policy: undefined, optional }
  return function webClientCertMiddleware(c, next) {
    const request = c.req.raw
    if (request.bodyUsed) {
      const message =
        'clientcert: webClientCert() ran after the request body was read. Mount it before any body parser or validator (c.req.json(), c.req.parseBody(), validator()).'
      logger(message)
      return Promise.resolve(
        reply(authenticator.reject('ERR_CLIENT_CERT_BODY_ALREADY_READ', message, undefined)),
      )
    }
    const view = source.viewOf(request)
    return continueWith(
      admitView(authenticator, view, rule),
      c,
      next,
      request,
      (err) => authenticator.reject('ERR_CLIENT_CERT_INTERNAL', String(err), view),
      authenticator,
    )
  }
}

/**
 * Per-route guard: requires an authenticated client (also in optional mode) and, when given,
 * a policy for this route, validated now so a mistake fails at startup. Without `clientCert()`
 * or `webClientCert()` before it, every request is refused with `ERR_CLIENT_CERT_MISCONFIGURED`.
 */
export function requireClientCert(policy?: AllowPolicy | CompiledPolicy): MiddlewareHandler {
  const rule: RouteRule = {
    policy: policy === undefined ? undefined : compilePolicy(policy, 'requireClientCert(policy)'),
    optional: false,
  }
  return function requireClientCertMiddleware(c, next) {
    const target = nodeRequestIn(c) ?? c.req.raw
    const admission = checkRoute(target, rule)
    if (
      !(admission instanceof Promise) &&
      !admission.ok &&
      admission.error.code === 'ERR_CLIENT_CERT_MISCONFIGURED'
    )
      defaultLogger(
        'clientcert: requireClientCert() ran without clientCert() or webClientCert() mounted before it.',
      )
    return continueWith(
      admission,
      c,
      next,
      target,
      (err) => new ClientCertError('ERR_CLIENT_CERT_INTERNAL', String(err)),
    )
  }
}

/** The Node request behind a `@hono/node-server` context, or undefined on another runtime. */
function nodeRequestIn(c: { readonly env: unknown }): (IncomingMessage | Http2ServerRequest) | undefined {
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming
  return typeof incoming === 'object' && incoming !== null && 'socket' in incoming && 'headers' in incoming
    ? (incoming as IncomingMessage | Http2ServerRequest)
    : undefined
}

/**
 * Calls the next middleware for an admitted request (synchronously when the answer is already
 * known), or answers with the problem. `markOn` (with `authenticator`) is where the mark for
 * route guards is left when the kit marked another object (a Web request's view).
 */
function continueWith(
  value: MaybePromise<Admission>,
  c: Context<WebClientCertEnv> | Context<ClientCertEnv>,
  next: Next,
  markOn: object,
  fault: (err: unknown) => ClientCertError,
  authenticator?: ClientCertAuthenticator,
): Promise<Response | undefined> {
  const go = (admission: Admission): Promise<Response | undefined> | Response => {
    if (!admission.ok) return reply(admission.error, markOn)
    if (authenticator !== undefined)
      markAuthenticated(markOn, { principal: admission.principal, authenticator })
    ;(c as Context<WebClientCertEnv>).set('clientCert', admission.principal)
    // Hono's `next()` resolves to nothing; typed as such so the handler's type stays Hono's.
    return next() as Promise<undefined>
  }
  if (!(value instanceof Promise)) return Promise.resolve(go(value))
  return value.then(go, (err: unknown) => reply(fault(err), markOn))
}

/** The shared problem response (RFC 9457 body from the code alone, `no-store`). */
function reply(error: ClientCertError, request?: object): Response {
  const answer = problemResponse(error, request)
  return new Response(answer.body, { status: answer.status, headers: answer.headers })
}

function defaultLogger(message: string): void {
  console.error(message)
}

export type { AllowPolicy, ClientCertError, ClientPrincipal, CompiledPolicy, TrustedBoundary }
