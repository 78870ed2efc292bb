import {
  type AllowPolicy,
  type ClientCertAuthenticator,
  ClientCertConfigError,
  type ClientCertError,
  type ClientCertOptions,
  type ClientPrincipal,
  isClientCertError,
  problemResponse,
} from '@clientcert/core'
import {
  type AdapterLogger,
  type Admission,
  adapterCheck,
  admitRequest,
  compileRouteRule,
  loggerOption,
  logRejection,
  type MaybePromise,
  type RouteRule,
  splitAdapterOptions,
  whenSettled,
} from '@clientcert/core/adapter'
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
  | ClientCertOptions<FastifyRequest['raw']>
  | { readonly authenticator: ClientCertAuthenticator }
) & {
  /** Default for routes without `config.clientCert.optional`. Default false. */
  readonly optional?: boolean
  /**
   * Send the problem response from the hook instead of going through Fastify's error
   * handler. For hosts that own the error handler (NestJS replaces it during init). Default false.
   */
  readonly replyDirectly?: boolean
  /**
   * Where rejections (one line each at `info`, never the certificate) and deployment mistakes
   * (`warn`) go: a logger with `info`, `warn` and `error`, a function for every line, or
   * `false`. Default: Fastify's request logger (`request.log`), with the code and reason as fields.
   */
  readonly logger?: AdapterLogger | ((message: string) => void) | false
}

/**
 * Authenticates in `onRequest`, before Fastify reads or parses the body. Rejections go
 * through Fastify's error handling as `ClientCertError`s (`code`, `statusCode`); the plugin's
 * error handler renders them as the same RFC 9457 body the other adapters send.
 */
async function clientCertPlugin(fastify: FastifyInstance, options: FastifyClientCertOptions): Promise<void> {
  const { settings, authenticator } = splitAdapterOptions<{
    optional: boolean
    replyDirectly: boolean
    logger: AdapterLogger | undefined
  }>(options, {
    optional: { check: adapterCheck.boolean, default: false },
    replyDirectly: { check: adapterCheck.boolean, default: false },
    logger: { check: loggerOption, default: undefined },
  })
  refuseEarlierRoutes(fastify)
  const rules = new WeakMap<object, RouteRule>()
  const defaultRule: RouteRule = { policy: undefined, optional: settings.optional }

  fastify.decorateRequest('clientCert', undefined)

  // Routes are checked as they are added, so a typo in a route's policy fails ready().
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const cfg = (route.config as { clientCert?: unknown } | undefined)?.clientCert
    if (cfg === undefined) return
    rules.set(
      cfg as object,
      compileRouteRule(cfg, `config.clientCert of ${route.method} ${route.url}`, settings.optional),
    )
  })

  const admission = (request: FastifyRequest): MaybePromise<Admission> => {
    const cfg = request.routeOptions.config?.clientCert
    const rule = cfg === undefined ? defaultRule : rules.get(cfg)
    if (rule !== undefined) return admitRequest(authenticator, request.raw, rule)
    // A route config this plugin never validated (route added before it was registered).
    const reason = `route ${request.routeOptions.url ?? request.url} has an unvalidated config.clientCert`
    return { ok: false, error: authenticator.reject('ERR_CLIENT_CERT_MISCONFIGURED', reason, request.raw) }
  }

  // A callback hook, so a synchronous answer continues without a promise.
  fastify.addHook(
    'onRequest',
    (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void => {
      const finish = (a: Admission): void => {
        if (a.ok) {
          request.clientCert = a.principal
          done()
        } else if (!settings.replyDirectly) done(a.error)
        else sendProblem(a.error, request, reply, settings.logger)
      }
      whenSettled(admission(request), finish, (err) =>
        finish({
          ok: false,
          error: authenticator.reject('ERR_CLIENT_CERT_INTERNAL', String(err), request.raw),
        }),
      )
    },
  )

  if (!settings.replyDirectly) {
    fastify.setErrorHandler((error: FastifyError | ClientCertError, request, reply: FastifyReply) => {
      if (!isClientCertError(error)) throw error
      return sendProblem(error, request, reply, settings.logger)
    })
  }
}

/**
 * Routes declared before the plugin never pass its `onRoute` check (a typo in their
 * `config.clientCert` is not caught), keep Fastify's default error handler (its body, not the
 * problem) and, declared in a sibling scope, never get its `onRequest` hook at all: they would
 * be served without authentication. Fastify's router is shared by every scope, so any route in
 * it now was declared before this plugin: refuse, and `register()`/`ready()` fail at startup.
 */
function refuseEarlierRoutes(fastify: FastifyInstance): void {
  const tree = fastify.printRoutes({ commonPrefix: false })
  // A route line ends with its methods, "(GET, HEAD)"; an empty router prints "(empty tree)".
  const routes = tree
    .split('\n')
    .filter((line) => /\([A-Z][A-Z-]*(, [A-Z][A-Z-]*)*\)\s*$/.test(line))
    .map((line) => line.replace(/^[\s│├└─]+/, '').trim())
  if (routes.length === 0) return
  const named = routes.length > 5 ? [...routes.slice(0, 5), '…'] : routes
  throw new ClientCertConfigError(
    '@clientcert/fastify',
    `registered after routes were declared (${named.join('; ')}): those routes would skip its route checks, its error handler and, in another scope, authentication itself. Register the plugin before any route: await app.register(clientCert, options)`,
  )
}

function sendProblem(
  error: ClientCertError,
  request: FastifyRequest,
  reply: FastifyReply,
  logger: AdapterLogger | undefined,
): FastifyReply {
  // Through Fastify's logger unless one was given: one line per rejection at info, with the code
  // as a field; a server without requestCert is reported once at warn.
  const log = request.log
  logRejection(
    logger ?? {
      info: (m) => log.info({ code: error.code, reason: error.reason }, m),
      warn: (m) => log.warn(m),
      error: (m) => log.error(m),
    },
    error,
    request.raw,
  )
  const answer = problemResponse(error, request.raw)
  // A Buffer, because Fastify appends "; charset=utf-8" to a string body's content-type: the
  // problem media type is sent exactly as every other adapter sends it.
  return reply.code(answer.status).headers(answer.headers).send(Buffer.from(answer.body))
}

/** The Fastify plugin. Register it before your routes: `await app.register(clientCert, options)`. */
export const clientCert = fp(clientCertPlugin, { fastify: '5.x', name: '@clientcert/fastify' })
export default clientCert

export type { AllowPolicy, ClientCertError, ClientPrincipal }
