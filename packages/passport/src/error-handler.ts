import type { IncomingMessage, ServerResponse } from 'node:http'
import { ClientCertConfigError, type ClientCertError, isClientCertError } from '@clientcert/core'
import {
  type AdapterLogger,
  consoleLogger,
  loggerOption,
  logRejection,
  writeProblem,
} from '@clientcert/core/adapter'
import { getClientCertError } from './request.js'

/** Options of {@link clientCertErrorHandler}. */
export interface ClientCertErrorHandlerOptions {
  /**
   * Where the handler logs: every rendered rejection once at `info` (unless the strategy already
   * logged this request), and server-side failures (status ≥ 500: a misordered strategy, an
   * internal fault) at `error` with their `reason`, which the response never carries. A logger
   * with `info`, `warn` and `error`, a function for every line, or `false`. Default: the console.
   */
  readonly logger?: AdapterLogger | ((message: string) => void) | false
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
  const logger = handlerOptions(options)
  return function clientCertErrorHandlerMiddleware(err, req, res, next) {
    const error = clientCertErrorFor(err, req)
    if (error === undefined) {
      next(err)
      return
    }
    if (error.status >= 500) logger.error(`clientcert: ${error.code}: ${error.reason}`)
    logRejection(logger, error, req)
    writeProblem(res, error, req)
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

/** The handler's only option (it builds no authenticator, so the kit's option splitting does not apply). */
function handlerOptions(options: unknown): AdapterLogger {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new ClientCertConfigError('options', 'must be an object')
  const { logger, ...extra } = options as { logger?: unknown }
  const unknown = Object.keys(extra)[0]
  if (unknown !== undefined) throw new ClientCertConfigError(unknown, 'unknown option; expected logger')
  return logger === undefined ? consoleLogger : loggerOption(logger, 'logger')
}
