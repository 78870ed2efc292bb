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

// A registered symbol, so two copies of this package (ESM and CommonJS) agree on it.
const MARK = Symbol.for('clientcert.authentication')

/** Frozen marks, one per principal (and one per authenticator for anonymous requests). */
const marks = new WeakMap<object, AuthenticationMark>()

/** Records the outcome of the authentication stage on the raw request. */
export function markAuthenticated(request: object, mark: AuthenticationMark): void {
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
  // A plain store (an inline-cached transition), not defineProperty: this runs on every request.
  // Symbol-keyed, so JSON, Object.keys and for...in never see it.
  ;(request as { [MARK]?: AuthenticationMark })[MARK] = value
}

/** The mark left by the authentication stage, or undefined when it did not run for this request. */
export function authenticationOf(request: unknown): AuthenticationMark | undefined {
  if (typeof request !== 'object' || request === null) return undefined
  const mark = (request as { [MARK]?: unknown })[MARK]
  if (typeof mark !== 'object' || mark === null) return undefined
  const m = mark as Partial<AuthenticationMark>
  return typeof m.authenticator === 'object' && m.authenticator !== null
    ? (m as AuthenticationMark)
    : undefined
}
