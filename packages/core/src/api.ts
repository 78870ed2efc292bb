import type { TrustDescription } from './diagnostics.js'
import type { ClientCertError, ClientCertErrorCode } from './errors.js'
import type { ClientPrincipal } from './identity/principal.js'
import type { AuthenticationMark } from './mark.js'
import type { MaybePromise } from './maybe-promise.js'
import type { ClientCertOptions } from './options.js'
import type { CompiledPolicy } from './policy/match.js'
import type { ProxyCertificateOptions } from './sources/proxy-identity.js'

/** The authenticator's public contract: what adapters, applications and the kit call. */

/** What the core needs from a request: its socket (and, for forwarded mode, its headers). */
export interface RequestLike {
  readonly socket?: unknown
  readonly headers?: unknown
  /** Node's raw header list; lets the core see repeated header lines that `headers` folds together. */
  readonly rawHeaders?: unknown
}

export type AuthResult =
  | { readonly ok: true; readonly principal: ClientPrincipal }
  | { readonly ok: false; readonly error: ClientCertError }

/** With `optional: true`, a request without a certificate succeeds with no principal. */
export type OptionalAuthResult =
  | { readonly ok: true; readonly principal: ClientPrincipal | undefined }
  | { readonly ok: false; readonly error: ClientCertError }

export interface AuthenticateOptions {
  /** Policy for this request instead of the authenticator's `allow`. */
  readonly policy?: CompiledPolicy
}

export type JudgeOptions = AuthenticateOptions & { readonly optional?: boolean }

/**
 * The adapter kit's way in (`@clientcert/core/adapter`): the same judgement as `authenticate()`
 * and `authorize()`, answered as a value when nothing asynchronous is left (a connection already
 * judged, synchronous policies) and as a promise otherwise. Registered symbols, so the ESM and
 * CommonJS copies of the core agree on them.
 */
export const JUDGE: unique symbol = Symbol.for('clientcert.judge') as never
export const DECIDE: unique symbol = Symbol.for('clientcert.decide') as never
/** @internal How `describeTrust()` asks an authenticator for its trust settings' expiry facts. */
export const DESCRIBE_TRUST: unique symbol = Symbol.for('clientcert.describeTrust') as never
/**
 * @internal The adapter kit's keep-alive fast path: the admission a connection settled on, when
 * nothing but the clock and the request's own headers could change it (see `admitRequest`).
 */
export const SETTLED: unique symbol = Symbol.for('clientcert.settled') as never
/** @internal Counters a test reads: `forwardedMemoHits`, requests answered from a connection's forwarded memo. */
export const STATS: unique symbol = Symbol.for('clientcert.stats') as never

export interface ClientCertAuthenticator {
  /** Source → validate → map → authorize. Never throws; every failure is a `ClientCertError` result. */
  authenticate(
    request: RequestLike,
    options?: AuthenticateOptions & { readonly optional?: false },
  ): Promise<AuthResult>
  authenticate(
    request: RequestLike,
    options: AuthenticateOptions & { readonly optional: true },
  ): Promise<OptionalAuthResult>
  /** Checks an authenticated principal against another policy (per-route rules). Fires `onRejected` on denial. */
  authorize(principal: ClientPrincipal, policy: CompiledPolicy, request?: unknown): Promise<AuthResult>
  /** Builds a `ClientCertError` with this authenticator's statuses and reports it to `onRejected`. */
  reject(code: ClientCertErrorCode, reason: string, request?: unknown): ClientCertError
  /**
   * Replaces trust material and the default policy atomically: the update is validated as a
   * whole (a mistake throws `ClientCertConfigError` and changes nothing), and every request
   * after it — also on connections already open or resumed — is judged under the new rules.
   * Omitted keys keep their current value; a key present with `undefined` is a configuration error.
   */
  updateTrust(update: TrustUpdate): void
  /** @internal The adapter kit's judgement (see `JUDGE`). */
  [JUDGE](request: RequestLike, options?: JudgeOptions): MaybePromise<OptionalAuthResult>
  /** @internal See `describeTrust()`. */
  [DESCRIBE_TRUST]?(): TrustDescription
  /** @internal The adapter kit's authorization (see `DECIDE`). */
  [DECIDE](principal: ClientPrincipal, policy: CompiledPolicy, request?: unknown): MaybePromise<AuthResult>
  /** @internal The adapter kit's keep-alive fast path (see `SETTLED`); undefined: take the full judgement. */
  [SETTLED]?(
    request: RequestLike,
  ): { readonly answer: AuthResult & { readonly ok: true }; readonly mark: AuthenticationMark } | undefined
}

/** What `updateTrust` can replace. */
export interface TrustUpdate {
  readonly trust?: ClientCertOptions['trust']
  readonly allow?: ClientCertOptions['allow']
  /** New revocation settings (e.g. new CRLs). */
  readonly revocation?: ClientCertOptions['revocation']
  /**
   * New proxy CA rules for `source.forwarded.proxyCertificate` (replaced whole); only for a
   * forwarded source that has them. See docs/guide/front-proxy.md.
   */
  readonly proxyCertificate?: ProxyCertificateOptions
}
