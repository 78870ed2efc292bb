import {
  type AllowPolicy,
  type AuthResult,
  type ClientCertAuthenticator,
  ClientCertConfigError,
  type ClientCertError,
  type ClientCertOptions,
  type ClientPrincipal,
  type CompiledPolicy,
  compilePolicy,
  isClientCertError,
  markAuthenticated,
  type OptionalAuthResult,
  problemResponse,
  resolveAuthenticator,
} from '@clientcert/core'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'

/** Per-route settings, in a route's `config.clientCert`. Validated when the route is added. */
export interface RouteClientCertConfig {
  /** A policy this route applies on top of the plugin's `allow`. */
  readonly allow?: AllowPolicy
  /** Let requests without a certificate reach this route with `request.clientCert` undefined. */
  readonly optional?: boolean
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated client; undefined on optional routes when no certificate was presented. */
    clientCert: ClientPrincipal | undefined
  }
  interface FastifyContextConfig {
    clientCert?: RouteClientCertConfig
  }
}

/** Plugin options: the core options (or an existing authenticator) plus adapter settings. */
export type FastifyClientCertOptions = (
  | ClientCertOptions
  | { readonly authenticator: ClientCertAuthenticator }
) & {
  /** Default for routes without `config.clientCert.optional`. Default false. */
  readonly optional?: boolean
  /**
   * Send the problem response from the hook instead of going through Fastify's error
   * handler. For hosts that own the error handler (NestJS replaces it during init). Default false.
   */
  readonly replyDirectly?: boolean
}

interface RouteRule {
  readonly policy: CompiledPolicy | undefined
  readonly optional: boolean
}

/**
 * Authenticates in `onRequest`, before Fastify reads or parses the body. Rejections go
 * through Fastify's error handling as `ClientCertError`s (`code`, `statusCode`); the plugin's
 * error handler renders them as the same RFC 9457 body the other adapters send.
 */
async function clientCertPlugin(fastify: FastifyInstance, options: FastifyClientCertOptions): Promise<void> {
  const {
    optional: defaultOptional = false,
    replyDirectly = false,
    ...rest
  } = options as FastifyClientCertOptions & Record<string, unknown>
  if (typeof defaultOptional !== 'boolean') throw new ClientCertConfigError('optional', 'must be a boolean')
  if (typeof replyDirectly !== 'boolean')
    throw new ClientCertConfigError('replyDirectly', 'must be a boolean')
  const authenticator = resolveAuthenticator(rest)
  const rules = new WeakMap<object, RouteRule>()
  const defaultRule: RouteRule = { policy: undefined, optional: defaultOptional }

  fastify.decorateRequest('clientCert', undefined)

  // Routes are checked as they are added, so a typo in a route's policy fails ready().
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const cfg = (route.config as { clientCert?: unknown } | undefined)?.clientCert
    if (cfg === undefined) return
    rules.set(cfg as object, compileRouteRule(cfg, `${route.method} ${route.url}`, defaultOptional))
  })

  /**
   * Authenticates one request. Returns the error to reject with, undefined to go on, or a
   * promise of either when something asynchronous is left to do (a first request on a
   * connection, an async policy): keep-alive requests are answered without a promise.
   */
  const check = (
    request: FastifyRequest,
  ): ClientCertError | undefined | Promise<ClientCertError | undefined> => {
    const cfg = request.routeOptions.config?.clientCert
    const rule = cfg === undefined ? defaultRule : rules.get(cfg)
    if (rule === undefined) {
      // A route config this plugin never validated (route added before it was registered).
      return authenticator.reject(
        'ERR_CLIENT_CERT_MISCONFIGURED',
        `route ${request.routeOptions.url ?? request.url} has an unvalidated config.clientCert`,
        request.raw,
      )
    }
    const result = rule.optional
      ? authenticator.authenticateFast(request.raw, { optional: true })
      : authenticator.authenticateFast(request.raw)
    return result instanceof Promise
      ? result.then((r) => admit(request, rule, r))
      : admit(request, rule, result)
  }

  const admit = (
    request: FastifyRequest,
    rule: RouteRule,
    result: OptionalAuthResult,
  ): ClientCertError | undefined | Promise<ClientCertError | undefined> => {
    if (!result.ok) return result.error
    const principal = result.principal
    if (principal === undefined || rule.policy === undefined) return accept(request, principal)
    const decision = authenticator.authorizeFast(principal, rule.policy, request.raw)
    const decided = (d: AuthResult) => (d.ok ? accept(request, principal) : d.error)
    return decision instanceof Promise ? decision.then(decided) : decided(decision)
  }

  const accept = (request: FastifyRequest, principal: ClientPrincipal | undefined): undefined => {
    markAuthenticated(request.raw, { principal, authenticator })
    request.clientCert = principal
    return undefined
  }

  // A callback hook, so a synchronous answer continues without a promise.
  fastify.addHook(
    'onRequest',
    (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void => {
      const finish = (error: ClientCertError | undefined): void => {
        if (error === undefined) done()
        else if (!replyDirectly) done(error)
        else sendProblem(error, request, reply)
      }
      let verdict: ReturnType<typeof check>
      try {
        verdict = check(request)
      } catch (err) {
        finish(internalError(err, request))
        return
      }
      if (verdict instanceof Promise)
        verdict.then(finish, (err: unknown) => finish(internalError(err, request)))
      else finish(verdict)
    },
  )

  const internalError = (err: unknown, request: FastifyRequest): ClientCertError =>
    authenticator.reject('ERR_CLIENT_CERT_INTERNAL', `the onRequest hook threw: ${String(err)}`, request.raw)

  if (!replyDirectly) {
    fastify.setErrorHandler((error: FastifyError | ClientCertError, request, reply: FastifyReply) => {
      if (!isClientCertError(error)) throw error
      return sendProblem(error, request, reply)
    })
  }
}

function sendProblem(error: ClientCertError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  request.log.info({ code: error.code, reason: error.reason }, 'client certificate rejected')
  const answer = problemResponse(error, request.raw)
  return reply.code(answer.status).headers(answer.headers).send(answer.body)
}

function compileRouteRule(cfg: unknown, route: string, defaultOptional: boolean): RouteRule {
  const at = `config.clientCert of ${route}`
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg))
    throw new ClientCertConfigError(at, 'must be an object { allow?, optional? }')
  const { allow, optional, ...extra } = cfg as Record<string, unknown>
  const unknown = Object.keys(extra)[0]
  if (unknown !== undefined)
    throw new ClientCertConfigError(`${at}.${unknown}`, 'unknown key; expected allow, optional')
  if (optional !== undefined && typeof optional !== 'boolean')
    throw new ClientCertConfigError(`${at}.optional`, 'must be a boolean')
  return {
    policy: allow === undefined ? undefined : compilePolicy(allow as AllowPolicy, `${at}.allow`),
    // A route with its own policy needs a client unless it says `optional: true` itself.
    optional: (optional as boolean | undefined) ?? (allow === undefined ? defaultOptional : false),
  }
}

/** The Fastify plugin. Register it before your routes: `await app.register(clientCert, options)`. */
export const clientCert = fp(clientCertPlugin, { fastify: '5.x', name: '@clientcert/fastify' })
export default clientCert

export type { AllowPolicy, ClientCertError, ClientPrincipal }
