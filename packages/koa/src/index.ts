import {
  type AllowPolicy,
  type ClientCertAuthenticator,
  ClientCertError,
  type ClientCertOptions,
  type ClientPrincipal,
  type CompiledPolicy,
  compilePolicy,
  problemResponse,
} from '@clientcert/core'
import {
  type Admission,
  adapterCheck,
  admitRequest,
  checkRoute,
  type MaybePromise,
  mountedAfterBody,
  type RouteRule,
  splitAdapterOptions,
} from '@clientcert/core/adapter'
import type { Context, Middleware, Next } from 'koa'

declare module 'koa' {
  interface DefaultState {
    /** The authenticated client, set by `clientCert()`; undefined in optional mode without a certificate. */
    clientCert?: ClientPrincipal | undefined
  }
}

/** Options of `clientCert()`: the core options, or an existing authenticator, plus adapter settings. */
export type KoaClientCertOptions = (
  | ClientCertOptions
  | { readonly authenticator: ClientCertAuthenticator }
) & {
  /**
   * Let requests without a certificate through with `ctx.state.clientCert` undefined, for
   * routes that decide with `requireClientCert()`. A certificate that is presented but invalid
   * is still rejected.
   */
  readonly optional?: boolean
  /** Where configuration errors found at request time are reported. Default `console.error`. */
  readonly logger?: (message: string) => void
}

/** The slice of Koa's context the adapter uses (Koa 2 and 3 agree on it). */
type KoaContext = Pick<Context, 'req' | 'res' | 'request' | 'state' | 'status' | 'body' | 'set'>

/**
 * Authenticates every request by its TLS client certificate before anything else reads it.
 * Mount it first (before `@koa/bodyparser`, `koa-body` and the router): mounted after a body
 * parser, it fails closed with `ERR_CLIENT_CERT_BODY_ALREADY_READ` and logs the misconfiguration.
 */
export function clientCert(options: KoaClientCertOptions): Middleware {
  const { settings, authenticator } = splitAdapterOptions(options, {
    optional: { check: adapterCheck.boolean, default: false },
    logger: { check: adapterCheck.function<(message: string) => void>, default: defaultLogger },
  })
  const rule: RouteRule = { policy: undefined, optional: settings.optional }
  const fault = (err: unknown, ctx: KoaContext): ClientCertError =>
    authenticator.reject('ERR_CLIENT_CERT_INTERNAL', String(err), ctx.req)

  return function clientCertMiddleware(ctx: Context, next: Next): Promise<void> {
    // `ctx.request.body` is where @koa/bodyparser and koa-body leave what they parsed.
    if (mountedAfterBody(ctx.req) || (ctx.request as { body?: unknown }).body !== undefined) {
      const message =
        'clientcert: clientCert() ran after the request body was read. Mount it before @koa/bodyparser, koa-body and any other body parser.'
      settings.logger(message)
      reply(ctx, authenticator.reject('ERR_CLIENT_CERT_BODY_ALREADY_READ', message, ctx.req))
      return DONE
    }
    return continueWith(admitRequest(authenticator, ctx.req, rule), ctx, next, fault)
  }
}

/**
 * Route guard (a Koa middleware, usable with `@koa/router`): requires an authenticated client
 * (also in optional mode) and, when given, a policy for this route. The policy is validated
 * now, so a mistake fails at startup. Without `clientCert()` before it, it refuses every
 * request with `ERR_CLIENT_CERT_MISCONFIGURED`.
 */
export function requireClientCert(policy?: AllowPolicy | CompiledPolicy): Middleware {
  const rule: RouteRule = {
    policy: policy === undefined ? undefined : compilePolicy(policy, 'requireClientCert(policy)'),
    optional: false,
  }
  return function requireClientCertMiddleware(ctx: Context, next: Next): Promise<void> {
    const admission = checkRoute(ctx.req, rule)
    if (
      !(admission instanceof Promise) &&
      !admission.ok &&
      admission.error.code === 'ERR_CLIENT_CERT_MISCONFIGURED'
    )
      defaultLogger('clientcert: requireClientCert() ran without clientCert() mounted before it.')
    return continueWith(admission, ctx, next, guardFault)
  }
}

function guardFault(err: unknown): ClientCertError {
  return new ClientCertError('ERR_CLIENT_CERT_INTERNAL', String(err))
}

const DONE: Promise<void> = Promise.resolve()

/**
 * Calls the next middleware for an admitted request (synchronously, with no closure, when the
 * answer is already known), or answers.
 */
function continueWith(
  value: MaybePromise<Admission>,
  ctx: KoaContext,
  next: Next,
  fault: (err: unknown, ctx: KoaContext) => ClientCertError,
): Promise<void> {
  if (!(value instanceof Promise)) return proceed(value, ctx, next)
  return value.then(
    (admission) => proceed(admission, ctx, next),
    (err: unknown) => reply(ctx, fault(err, ctx)),
  )
}

function proceed(admission: Admission, ctx: KoaContext, next: Next): Promise<void> {
  if (!admission.ok) {
    reply(ctx, admission.error)
    return DONE
  }
  ctx.state.clientCert = admission.principal
  return next()
}

/**
 * Answers with the shared problem response through Koa (so outer middleware — loggers, CORS —
 * see the status), the content type set before the body so Koa keeps it. Headers already sent
 * means something answered before authentication finished: the connection is destroyed, a
 * partial success must never stand.
 */
function reply(ctx: KoaContext, error: ClientCertError): void {
  if (ctx.res.headersSent) {
    ctx.res.destroy()
    return
  }
  const answer = problemResponse(error, ctx.req)
  ctx.status = answer.status
  ctx.set(answer.headers)
  ctx.body = answer.body
}

function defaultLogger(message: string): void {
  console.error(message)
}

export type { AllowPolicy, ClientCertError, ClientPrincipal, CompiledPolicy }
