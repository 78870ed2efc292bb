import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  ClientCertConfigError,
  type ClientCertError,
  isClientCertError,
  problemResponse,
} from '@clientcert/core'
import { getClientCertError } from './request.js'

/** Options of {@link clientCertErrorHandler}. */
export interface ClientCertErrorHandlerOptions {
  /**
   * Receives server-side failures (status ≥ 500: a misordered strategy, an internal fault) with
   * their `reason`, which the response never carries. Default `console.error`.
   */
  readonly logger?: (message: string) => void
}

/** An Express (or Connect) error-handling middleware. */
export type ClientCertErrorMiddleware = (
  err: unknown,
  req: IncomingMessage,
  res: ServerResponse,
  next: (err?: unknown) => void,
) => void

/**
 * Error-handling middleware that answers clientcert failures with the RFC 9457 problem body
 * every clientcert adapter sends (`application/problem+json`, `Cache-Control: no-store`, and
 * `Connection: close` when the request body has not been received, so it is not drained).
 *
 * It renders a `ClientCertError` handed to Passport's `error` (500s), and Passport's
 * `AuthenticationError` from `failWithError: true` when a client-certificate strategy failed
 * this request (its code comes from {@link getClientCertError}). Anything else goes to `next`.
 *
 * ```ts
 * app.use(passport.authenticate('client-cert', { session: false, failWithError: true }))
 * // ... body parsers, routes ...
 * app.use(clientCertErrorHandler())
 * ```
 */
export function clientCertErrorHandler(
  options: ClientCertErrorHandlerOptions = {},
): ClientCertErrorMiddleware {
  if (typeof options !== 'object' || options === null)
    throw new ClientCertConfigError('options', 'must be an object')
  const { logger = defaultLogger, ...extra } = options
  const unknown = Object.keys(extra)[0]
  if (unknown !== undefined) throw new ClientCertConfigError(unknown, 'unknown option; expected logger')
  if (typeof logger !== 'function') throw new ClientCertConfigError('logger', 'must be a function')

  return function clientCertErrorHandlerMiddleware(err, req, res, next) {
    const error = clientCertErrorFor(err, req)
    if (error === undefined) {
      next(err)
      return
    }
    if (error.status >= 500) logger(`clientcert: ${error.code}: ${error.reason}`)
    send(req, res, error)
  }
}

function clientCertErrorFor(err: unknown, req: IncomingMessage): ClientCertError | undefined {
  if (isClientCertError(err)) return err
  if (!isAuthenticationError(err)) return undefined
  const recorded = getClientCertError(req)
  // Passport answers with the first failure's status: only then was it this strategy's failure.
  return recorded !== undefined && recorded.status === err.status ? recorded : undefined
}

/** Passport's error for `failWithError: true` (passport/lib/errors/authenticationerror.js). */
function isAuthenticationError(err: unknown): err is { name: 'AuthenticationError'; status: number } {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { name?: unknown }).name === 'AuthenticationError' &&
    typeof (err as { status?: unknown }).status === 'number'
  )
}

function send(req: IncomingMessage, res: ServerResponse, error: ClientCertError): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const answer = problemResponse(error, req)
  res.writeHead(answer.status, answer.headers)
  res.end(answer.body)
}

function defaultLogger(message: string): void {
  console.error(message)
}
