import { bodyAlreadyRead } from '../problem.js'

/**
 * Exactly what the core reads from a request: Node's `IncomingMessage` (HTTP/1.1) or
 * `Http2ServerRequest` (HTTP/2 compatibility API) satisfies it. Anything else an adapter holds
 * (Express's `req`, Fastify's `request`, Koa's `ctx`) must be turned into this view first,
 * with {@link nodeRequestOf}.
 */
export interface NodeRequestView {
  /** The TLS (or plain TCP) socket: `authorized`, `authorizationError`, `getPeerCertificate()`, `remoteAddress`. */
  readonly socket?: unknown
  /** Parsed headers (used when `rawHeaders` is absent). */
  readonly headers?: unknown
  /** Node's raw header list: the only place repeated lines and every spelling of a name are visible. */
  readonly rawHeaders?: unknown
  /** HTTP/2 compatibility API: the stream, whose `session` is the connection. */
  readonly stream?: unknown
  /** False while the body has not been received (the rejection then closes the connection). */
  readonly complete?: unknown
  readonly httpVersionMajor?: unknown
}

/**
 * The Node request behind a framework's request object: Fastify's and NestJS-on-Fastify's
 * `request.raw`, or the object itself (Express's `req` is Node's request). Marks left by a
 * pre-parse stage live on this object, so every later stage finds them.
 */
export function nodeRequestOf(request: object): NodeRequestView & object {
  const raw = (request as { raw?: unknown }).raw
  if (typeof raw === 'object' && raw !== null && 'socket' in raw && 'headers' in raw) return raw
  return request
}

/**
 * True when the adapter runs after something read the request body: it was mounted too late
 * (after a body parser), so an anonymous client may already have been answered by the parser.
 *
 * For a Node request (the view's contract) the evidence is the stream itself: data emitted or
 * the end reached means a consumer read it — every body parser does, also for an empty body.
 * One property of the request is read (`_readableState`, the state behind Node's public
 * `readableDidRead` and `readableEnded`): under Express each property read on `req` misses V8's
 * inline caches (see mark.ts), and this runs on every request. A parser that only sets
 * `req.body` on a request without a body (body-parser 1.x on a GET) is caught on the first
 * request that has one. Anything that is not a Node request gets the generic check.
 */
export function mountedAfterBody(request: object): boolean {
  const state = (request as { _readableState?: unknown })._readableState
  if (typeof state !== 'object' || state === null) return bodyAlreadyRead(request)
  const s = state as { dataEmitted?: unknown; endEmitted?: unknown }
  return s.dataEmitted === true || s.endEmitted === true
}
