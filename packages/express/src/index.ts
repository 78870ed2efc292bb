import {
  type AllowPolicy,
  authenticationOf,
  type ClientCertAuthenticator,
  ClientCertError,
  type ClientCertOptions,
  type ClientPrincipal,
  type CompiledPolicy,
  compilePolicy,
} from '@clientcert/core'
import {
  type AdapterLogger,
  type Admission,
  adapterCheck,
  admitRequest,
  checkRoute,
  consoleLogger,
  loggerOption,
  logRejection,
  mountedAfterBody,
  type RouteRule,
  splitAdapterOptions,
  whenSettled,
  writeProblem,
} from '@clientcert/core/adapter'
import type { NextFunction, Request, RequestHandler, Response } from 'express'

declare global {
  namespace Express {
    interface Request {
      /** The authenticated client, set by `clientCert()`; undefined in optional mode without a certificate. */
      clientCert?: ClientPrincipal | undefined
    }
  }
}

/** Options of `clientCert()`: the core options, or an existing authenticator, plus adapter settings. */
export type ClientCertMiddlewareOptions = (
  | ClientCertOptions<Request>
  | { readonly authenticator: ClientCertAuthenticator }
) & {
  /**
   * Let requests without a certificate through with `req.clientCert` undefined, for routes
   * that decide with `requireClientCert()`. A certificate that is presented but invalid is
   * still rejected.
   */
  readonly optional?: boolean
  /**
   * Where rejections (one line each at `info`: method, path, status, code and reason, never the
   * certificate) and deployment mistakes (`warn`/`error`) are written: a logger with `info`,
   * `warn` and `error` (the console, pino, winston), a function for every line, or `false`.
   * Default: the console.
   */
  readonly logger?: AdapterLogger | ((message: string) => void) | false
}

/**
 * Authenticates every request by its TLS client certificate before anything else reads it.
 * Mount it before any body parser: mounted after one, it fails closed with
 * `ERR_CLIENT_CERT_BODY_ALREADY_READ` and logs the misconfiguration.
 */
export function clientCert(options: ClientCertMiddlewareOptions): RequestHandler {
  const { settings, authenticator } = splitAdapterOptions(options, {
    optional: { check: adapterCheck.boolean, default: false },
    logger: { check: loggerOption, default: consoleLogger },
  })
  const rule: RouteRule = { policy: undefined, optional: settings.optional }
  const logger = settings.logger
  loggers.set(authenticator, logger)

  return function clientCertMiddleware(req: Request, res: Response, next: NextFunction): void {
    if (mountedAfterBody(req)) {
      const message =
        'clientcert: clientCert() ran after the request body was read. Mount it before express.json(), express.urlencoded() and any other body parser.'
      logger.error(message)
      reject(logger, res, authenticator.reject('ERR_CLIENT_CERT_BODY_ALREADY_READ', message, req), req)
      return
    }
    // A connection already judged answers synchronously: no promise hop on keep-alive requests.
    whenSettled(
      admitRequest(authenticator, req, rule),
      (admission) => proceed(admission, req, res, next, logger),
      (err) => reject(logger, res, authenticator.reject('ERR_CLIENT_CERT_INTERNAL', String(err), req), req),
    )
  }
}

/** Lets the request on with `req.clientCert`, or answers with the problem. */
function proceed(
  admission: Admission,
  req: Request,
  res: Response,
  next: NextFunction,
  logger: AdapterLogger,
): void {
  if (!admission.ok) {
    reject(logger, res, admission.error, req)
    return
  }
  req.clientCert = admission.principal
  next()
}

/**
 * Route guard: requires an authenticated client (also in optional mode) and, when given,
 * a policy for this route. The policy is validated now, so a mistake fails at startup.
 */
export function requireClientCert(policy?: AllowPolicy | CompiledPolicy): RequestHandler {
  const rule: RouteRule = {
    policy: policy === undefined ? undefined : compilePolicy(policy, 'requireClientCert(policy)'),
    optional: false,
  }
  return function requireClientCertMiddleware(req: Request, res: Response, next: NextFunction): void {
    whenSettled(
      checkRoute(req, rule),
      (admission) => {
        if (admission.ok) {
          next()
          return
        }
        const mark = authenticationOf(req)
        const logger = (mark && loggers.get(mark.authenticator)) ?? consoleLogger
        if (admission.error.code === 'ERR_CLIENT_CERT_MISCONFIGURED')
          logger.error('clientcert: requireClientCert() ran without clientCert() mounted before it.')
        reject(logger, res, admission.error, req)
      },
      (err) => writeProblem(res, new ClientCertError('ERR_CLIENT_CERT_INTERNAL', String(err)), req),
    )
  }
}

/** Each clientCert() instance's logger, so requireClientCert() logs where its stage does. */
const loggers = new WeakMap<ClientCertAuthenticator, AdapterLogger>()

function reject(logger: AdapterLogger, res: Response, error: ClientCertError, req: Request): void {
  logRejection(logger, error, req)
  writeProblem(res, error, req)
}

export type { AllowPolicy, ClientCertError, ClientPrincipal, CompiledPolicy }
