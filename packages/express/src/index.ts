import {
  type AllowPolicy,
  type AuthResult,
  authenticationOf,
  bodyAlreadyRead,
  type ClientCertAuthenticator,
  ClientCertConfigError,
  ClientCertError,
  type ClientCertOptions,
  type ClientPrincipal,
  type CompiledPolicy,
  compilePolicy,
  markAuthenticated,
  type OptionalAuthResult,
  problemResponse,
  resolveAuthenticator,
} from '@clientcert/core'
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
  | ClientCertOptions
  | { readonly authenticator: ClientCertAuthenticator }
) & {
  /**
   * Let requests without a certificate through with `req.clientCert` undefined, for routes
   * that decide with `requireClientCert()`. A certificate that is presented but invalid is
   * still rejected.
   */
  readonly optional?: boolean
  /** Where configuration errors found at request time are reported. Default `console.error`. */
  readonly logger?: (message: string) => void
}

/**
 * Authenticates every request by its TLS client certificate before anything else reads it.
 * Mount it before any body parser: mounted after one, it fails closed with
 * `ERR_CLIENT_CERT_BODY_ALREADY_READ` and logs the misconfiguration.
 */
export function clientCert(options: ClientCertMiddlewareOptions): RequestHandler {
  if (typeof options !== 'object' || options === null)
    throw new ClientCertConfigError('options', 'must be an object')
  const {
    optional = false,
    logger = defaultLogger,
    ...rest
  } = options as ClientCertMiddlewareOptions & Record<string, unknown>
  if (typeof optional !== 'boolean') throw new ClientCertConfigError('optional', 'must be a boolean')
  if (typeof logger !== 'function') throw new ClientCertConfigError('logger', 'must be a function')
  const authenticator = resolveAuthenticator(rest)

  return function clientCertMiddleware(req: Request, res: Response, next: NextFunction): void {
    if (bodyAlreadyRead(req)) {
      const message =
        'clientcert: clientCert() ran after the request body was read. Mount it before express.json(), express.urlencoded() and any other body parser.'
      logger(message)
      sendError(res, authenticator.reject('ERR_CLIENT_CERT_BODY_ALREADY_READ', message, req))
      return
    }
    const result = optional
      ? authenticator.authenticateFast(req, OPTIONAL)
      : authenticator.authenticateFast(req)
    // A connection already judged answers synchronously: no promise hop on keep-alive requests.
    if (!(result instanceof Promise)) {
      admit(result, req, res, next, authenticator)
      return
    }
    result.then(
      (r) => admit(r, req, res, next, authenticator),
      (err: unknown) => sendError(res, authenticator.reject('ERR_CLIENT_CERT_INTERNAL', String(err), req)),
    )
  }
}

const OPTIONAL = Object.freeze({ optional: true as const })

/** Lets the request on (marked, with `req.clientCert`) or answers with the problem. No closures per request. */
function admit(
  r: OptionalAuthResult,
  req: Request,
  res: Response,
  next: NextFunction,
  authenticator: ClientCertAuthenticator,
): void {
  if (!r.ok) {
    sendError(res, r.error)
    return
  }
  markAuthenticated(req, { principal: r.principal, authenticator })
  req.clientCert = r.principal
  next()
}

/**
 * Route guard: requires an authenticated client (also in optional mode) and, when given,
 * a policy for this route. The policy is validated now, so a mistake fails at startup.
 */
export function requireClientCert(policy?: AllowPolicy | CompiledPolicy): RequestHandler {
  const compiled = policy === undefined ? undefined : compilePolicy(policy, 'requireClientCert(policy)')
  return function requireClientCertMiddleware(req: Request, res: Response, next: NextFunction): void {
    const state = authenticationOf(req)
    if (state === undefined) {
      // No clientCert() ran before this guard: there is nothing to trust, so refuse.
      defaultLogger('clientcert: requireClientCert() ran without clientCert() mounted before it.')
      sendError(
        res,
        new ClientCertError('ERR_CLIENT_CERT_MISCONFIGURED', 'requireClientCert() without clientCert()'),
      )
      return
    }
    const principal = state.principal
    if (principal === undefined) {
      sendError(
        res,
        state.authenticator.reject(
          'ERR_CLIENT_CERT_MISSING',
          'this route requires a client certificate',
          req,
        ),
      )
      return
    }
    if (compiled === undefined) {
      next()
      return
    }
    const decided = (r: AuthResult): void => {
      if (r.ok) next()
      else sendError(res, r.error)
    }
    const decision = state.authenticator.authorizeFast(principal, compiled, req)
    if (!(decision instanceof Promise)) {
      decided(decision)
      return
    }
    decision.then(decided, (err: unknown) =>
      sendError(res, state.authenticator.reject('ERR_CLIENT_CERT_INTERNAL', String(err), req)),
    )
  }
}

/** Sends the problem response. Unread request bytes are not drained: the connection is closed instead. */
function sendError(res: Response, error: ClientCertError): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const answer = problemResponse(error, res.req)
  res.writeHead(answer.status, answer.headers)
  res.end(answer.body)
}

function defaultLogger(message: string): void {
  console.error(message)
}

export type { AllowPolicy, ClientCertError, ClientPrincipal, CompiledPolicy }
