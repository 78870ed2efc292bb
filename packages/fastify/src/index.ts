import {
  type AllowPolicy,
  type ClientCertAuthenticator,
  ClientCertConfigError,
  type ClientCertError,
  type ClientCertOptions,
  type ClientPrincipal,
  type CompiledPolicy,
  compilePolicy,
  isClientCertError,
  markAuthenticated,
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

  const check = async (request: FastifyRequest): Promise<void> => {
    const cfg = request.routeOptions.config?.clientCert
    const rule = cfg === undefined ? defaultRule : rules.get(cfg)
    if (rule === undefined) {
      // A route config this plugin never validated (route added before it was registered).
      throw authenticator.reject(
        'ERR_CLIENT_CERT_MISCONFIGURED',
        `route ${request.routeOptions.url ?? request.url} has an unvalidated config.clientCert`,
        request.raw,
      )
    }
    const result = rule.optional
      ? await authenticator.authenticate(request.raw, { optional: true })
      : await authenticator.authenticate(request.raw)
    if (!result.ok) throw result.error
    if (result.principal !== undefined && rule.policy !== undefined) {
      const decision = await authenticator.authorize(result.principal, rule.policy, request.raw)
      if (!decision.ok) throw decision.error
    }
    markAuthenticated(request.raw, { principal: result.principal, authenticator })
    request.clientCert = result.principal
  }

  fastify.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    if (!replyDirectly) return check(request)
    try {
      await check(request)
    } catch (err) {
      if (!isClientCertError(err)) throw err
      return sendProblem(err, request, reply)
    }
  })

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
