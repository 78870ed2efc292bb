import { IncomingMessage } from 'node:http'
import { Http2ServerRequest } from 'node:http2'
import type { ClientCertAuthenticator } from './api.js'
import type { ClientPrincipal } from './identity/principal.js'

/**
 * What an adapter's pre-parse stage leaves on the raw request (Node's IncomingMessage) for
 * later stages — route guards, NestJS guards and decorators — so they can tell "authenticated
 * (maybe anonymously)" from "the authentication stage never ran", and fail closed on the latter.
 */
export interface AuthenticationMark {
  /** The client, or undefined when an optional route let an anonymous request through. */
  readonly principal: ClientPrincipal | undefined
  /** The authenticator that judged the request (for per-route policies). */
  readonly authenticator: ClientCertAuthenticator
}

/**
 * Where a mark is kept depends on the request object's class. A request that is still a plain
 * Node request (`IncomingMessage`, `Http2ServerRequest`: Fastify, Koa, Hono, `node:http`) keeps
 * its mark in a private symbol property: its hidden class is shared by every request, so the
 * property add is a cached transition (~20 ns), while a WeakMap entry keyed by a young object
 * costs an ephemeron write barrier, an identity hash and scavenger work (~0.3 µs, ~1 % of a Koa
 * request; docs/benchmarks.md, "Koa, from perf samples"). Anything else — Express's request, whose
 * prototype Express swaps with `setPrototypeOf` so that every property added copies its hidden
 * class (~3 µs) and makes later reads on it miss their inline caches, a gRPC call, a Web
 * `Request` — keeps its mark in a WeakMap. A mark found in the property is honoured only if this
 * process made it (`genuine`), so an object written there by hand is not a mark. The map, the
 * symbol and the set of genuine marks live once per process, under a registered symbol, so the
 * ESM and CommonJS copies of this package share them.
 */
const REGISTRY = Symbol.for('clientcert.authentication.marks')
const PROPERTY_REGISTRY = Symbol.for('clientcert.authentication.mark-property')
const requestMarks: WeakMap<object, AuthenticationMark> = sharedOnce(REGISTRY, () => new WeakMap())
const { key: MARK, genuine } = sharedOnce(PROPERTY_REGISTRY, () => ({
  key: Symbol('clientcert.authentication.mark'),
  genuine: new WeakSet<AuthenticationMark>(),
}))

function sharedOnce<T extends object>(name: symbol, create: () => T): T {
  const registry = globalThis as Record<symbol, unknown>
  const existing = registry[name]
  if (typeof existing === 'object' && existing !== null) return existing as T
  const created = create()
  Object.defineProperty(registry, name, {
    value: created,
    enumerable: false,
    writable: false,
    configurable: false,
  })
  return created
}

const INCOMING = IncomingMessage.prototype
const HTTP2_REQUEST = Http2ServerRequest.prototype

/** A request whose hidden class every request shares: its prototype is still Node's own. */
function isPlainRequest(request: object): boolean {
  const proto: unknown = Object.getPrototypeOf(request)
  return proto === INCOMING || proto === HTTP2_REQUEST
}

/** Frozen marks, one per principal (and one per authenticator for anonymous requests). */
const marks = new WeakMap<object, AuthenticationMark>()

/** Records the outcome of the authentication stage on the raw request. */
export function markAuthenticated(request: object, mark: AuthenticationMark): void {
  if (typeof mark?.authenticator !== 'object' || mark.authenticator === null)
    throw new TypeError(
      'markAuthenticated(request, mark): mark.authenticator must be the authenticator that judged the request',
    )
  markRequest(request, mark.principal, mark.authenticator)
}

/** `markAuthenticated` for the adapter kit, which always has an authenticator: no mark object per call. */
export function markRequest(
  request: object,
  principal: ClientPrincipal | undefined,
  authenticator: ClientCertAuthenticator,
): void {
  putMark(request, markOf(principal, authenticator))
}

/** The frozen, genuine mark for a principal (or an anonymous request) and its authenticator: one per pair. */
export function markOf(
  principal: ClientPrincipal | undefined,
  authenticator: ClientCertAuthenticator,
): AuthenticationMark {
  const owner: object = principal ?? authenticator
  let value = marks.get(owner)
  if (value === undefined || value.principal !== principal || value.authenticator !== authenticator) {
    value = Object.freeze({ principal, authenticator })
    genuine.add(value)
    marks.set(owner, value)
  }
  return value
}

/** Leaves a mark made by `markOf` on the request. */
export function putMark(request: object, mark: AuthenticationMark): void {
  if (isPlainRequest(request)) (request as Record<symbol, unknown>)[MARK] = mark
  else requestMarks.set(request, mark)
}

/** The mark left by the authentication stage, or undefined when it did not run for this request. */
export function authenticationOf(request: unknown): AuthenticationMark | undefined {
  if (typeof request !== 'object' || request === null) return undefined
  const kept = requestMarks.get(request)
  if (kept !== undefined) return kept
  // Also when the request is no longer plain: marked before a framework swapped its prototype.
  const own = Object.hasOwn(request, MARK) ? (request as Record<symbol, unknown>)[MARK] : undefined
  return genuine.has(own as AuthenticationMark) ? (own as AuthenticationMark) : undefined
}
