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
 * Marks live in a WeakMap keyed by the request, never in a property of it. Express gives every
 * request object a hidden class of its own (it swaps the prototype with `setPrototypeOf`, after
 * which V8 caches no property-add transition), so each property added to `req` copies that
 * class (~3 µs) and every later property access on `req` misses its inline cache: a symbol
 * property cost ~2 % of an Express request, a WeakMap entry costs ~70 ns (see
 * docs/benchmarks.md, "Where the Express cost went"). A WeakMap also cannot be forged by code
 * that writes properties on the request. One map per process, under a registered symbol, so the
 * ESM and CommonJS copies of this package share it.
 */
const REGISTRY = Symbol.for('clientcert.authentication.marks')
const requestMarks: WeakMap<object, AuthenticationMark> = sharedMarks()

function sharedMarks(): WeakMap<object, AuthenticationMark> {
  const registry = globalThis as Record<symbol, unknown>
  const existing = registry[REGISTRY]
  if (existing instanceof WeakMap) return existing as WeakMap<object, AuthenticationMark>
  const created = new WeakMap<object, AuthenticationMark>()
  Object.defineProperty(registry, REGISTRY, {
    value: created,
    enumerable: false,
    writable: false,
    configurable: false,
  })
  return created
}

/** Frozen marks, one per principal (and one per authenticator for anonymous requests). */
const marks = new WeakMap<object, AuthenticationMark>()

/** Records the outcome of the authentication stage on the raw request. */
export function markAuthenticated(request: object, mark: AuthenticationMark): void {
  if (typeof mark?.authenticator !== 'object' || mark.authenticator === null)
    throw new TypeError(
      'markAuthenticated(request, mark): mark.authenticator must be the authenticator that judged the request',
    )
  const owner: object = mark.principal ?? mark.authenticator
  let value = marks.get(owner)
  if (
    value === undefined ||
    value.principal !== mark.principal ||
    value.authenticator !== mark.authenticator
  ) {
    value = Object.freeze({ principal: mark.principal, authenticator: mark.authenticator })
    marks.set(owner, value)
  }
  requestMarks.set(request, value)
}

/** The mark left by the authentication stage, or undefined when it did not run for this request. */
export function authenticationOf(request: unknown): AuthenticationMark | undefined {
  if (typeof request !== 'object' || request === null) return undefined
  return requestMarks.get(request)
}
