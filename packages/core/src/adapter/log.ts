import type { ClientCertError } from '../errors.js'
import { ClientCertConfigError } from '../errors.js'
import { SERVER_DID_NOT_REQUEST, serverDidNotRequest } from '../sources/tls.js'
import { nodeRequestOf } from './view.js'

/** Where an adapter writes: one line per rejected request at `info`, deployment mistakes at `warn`/`error`. */
export interface AdapterLogger {
  info(message: string): void
  warn(message: string): void
  error(message: string): void
}

/** The default: the console (rejections with `console.info`, which writes to stdout). */
export const consoleLogger: AdapterLogger = {
  info: (m) => console.info(m),
  warn: (m) => console.warn(m),
  error: (m) => console.error(m),
}

const silent: AdapterLogger = { info() {}, warn() {}, error() {} }

/**
 * The `logger` option of an adapter: an object with `info`, `warn` and `error` (the console,
 * pino and winston loggers fit), a function that takes every line, or `false` for none.
 */
export function loggerOption(value: unknown, name: string): AdapterLogger {
  if (value === false) return silent
  if (typeof value === 'function') {
    const line = value as (message: string) => void
    return { info: line, warn: line, error: line }
  }
  if (typeof value === 'object' && value !== null) {
    const l = value as Partial<Record<keyof AdapterLogger, unknown>>
    if (typeof l.info === 'function' && typeof l.warn === 'function' && typeof l.error === 'function') {
      return {
        info: (m) => (l.info as (m: string) => void).call(value, m),
        warn: (m) => (l.warn as (m: string) => void).call(value, m),
        error: (m) => (l.error as (m: string) => void).call(value, m),
      }
    }
  }
  throw new ClientCertConfigError(name, 'must be a logger { info, warn, error }, a function or false')
}

/** Requests already logged: two stages of one request (a strategy and its error handler) log it once. */
const logged = new WeakSet<object>()

/** Servers already warned about, so a server without `requestCert` is reported once, not per request. */
const warned = new WeakSet<object>()

/**
 * Logs one rejected request: method, path (never the query, which may carry secrets), status,
 * code and the log-only reason — never the certificate. A TLS server that never asks clients
 * for a certificate is also reported once at `warn`, with the fix.
 */
export function logRejection(logger: AdapterLogger, error: ClientCertError, request: object): void {
  const node = nodeRequestOf(request)
  if (logged.has(node)) return
  logged.add(node)
  const r = request as { method?: unknown; url?: unknown; originalUrl?: unknown; socket?: unknown }
  const url = typeof r.originalUrl === 'string' ? r.originalUrl : typeof r.url === 'string' ? r.url : ''
  const path = url.split('?')[0]
  const method = typeof r.method === 'string' ? r.method : ''
  logger.info(`clientcert: rejected ${method} ${path}: ${error.status} ${error.code} (${error.reason})`)
  if (error.code !== 'ERR_CLIENT_CERT_MISSING' || !serverDidNotRequest(node.socket)) return
  const server = (node.socket as { server: object }).server
  if (warned.has(server)) return
  warned.add(server)
  logger.warn(`clientcert: ${SERVER_DID_NOT_REQUEST}; every client is rejected as having no certificate`)
}
