import { createHash } from 'node:crypto'
import { DerError } from './asn1/der.js'
import { LruCache } from './cache.js'
import { type ParsedCertificate, parseCertificate } from './cert/parse.js'
import { ClientCertConfigError, ClientCertError, type ClientCertErrorCode } from './errors.js'
import {
  type CertificateFacts,
  checkedId,
  facts,
  IdentityError,
  type MappedIdentity,
  mapBuiltin,
} from './identity/map.js'
import type { ClientPrincipal, PrincipalSource } from './identity/principal.js'
import { type ClientCertOptions, type ResolvedOptions, resolveOptions } from './options.js'
import {
  type AllowPolicy,
  type CompiledPolicy,
  compilePolicy,
  isDeterministicPolicy,
} from './policy/match.js'
import { createRevocationChecker, type RevocationChecker } from './revocation/index.js'
import { misdirection, type ServernameRule, servernameRule } from './servername.js'
import { type ForwardedRead, hasForwardedHeader, readForwarded } from './sources/forwarded/index.js'
import { codeForAuthorizationError, peerChainDer, readSocket } from './sources/tls.js'
import { isBundledRoot } from './trust/public-roots.js'
import { storeFor } from './trust/spiffe.js'
import { checkLeaf, checkTime } from './validate/leaf.js'
import { buildPath, indexBySubject, type TrustStore } from './validate/path.js'
import { checkKeyProfile } from './validate/profile.js'
import { verifySignature } from './validate/signature.js'

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
  /**
   * The same judgement as `authenticate()`, answered synchronously when nothing asynchronous is
   * left to do: a connection already judged or a cached certificate, a built-in identity, a
   * synchronous policy and no revocation check. Otherwise a promise. Adapters use it on the
   * request path so keep-alive requests cost no promise hops. Never throws.
   */
  authenticateFast(
    request: RequestLike,
    options?: AuthenticateOptions & { readonly optional?: false },
  ): AuthResult | Promise<AuthResult>
  authenticateFast(
    request: RequestLike,
    options: AuthenticateOptions & { readonly optional: true },
  ): OptionalAuthResult | Promise<OptionalAuthResult>
  /** Checks an authenticated principal against another policy (per-route rules). Fires `onRejected` on denial. */
  authorize(principal: ClientPrincipal, policy: CompiledPolicy, request?: unknown): Promise<AuthResult>
  /** `authorize()`, answered synchronously when the policy is synchronous. Never throws. */
  authorizeFast(
    principal: ClientPrincipal,
    policy: CompiledPolicy,
    request?: unknown,
  ): AuthResult | Promise<AuthResult>
  /** Builds a `ClientCertError` with this authenticator's statuses and reports it to `onRejected`. */
  reject(code: ClientCertErrorCode, reason: string, request?: unknown): ClientCertError
  /**
   * Replaces trust material and the default policy atomically: the update is validated as a
   * whole (a mistake throws `ClientCertConfigError` and changes nothing), caches are dropped,
   * and every request after it — also on connections already open or resumed — is judged under
   * the new rules. Omitted keys keep their current value; a key present with `undefined` is a
   * configuration error.
   */
  updateTrust(update: TrustUpdate): void
}

/** What `updateTrust` can replace. */
export interface TrustUpdate {
  readonly trust?: ClientCertOptions['trust']
  readonly allow?: ClientCertOptions['allow']
  /** New revocation settings (e.g. new CRLs); caches are dropped. */
  readonly revocation?: ClientCertOptions['revocation']
}

interface Verified {
  /** Leaf first, anchor last, when revocation is configured; empty otherwise. */
  readonly path: readonly ParsedCertificate[]
  readonly principal: ClientPrincipal
  readonly validFrom: number
  readonly validUntil: number
}

type Outcome =
  | { readonly ok: true; readonly verified: Verified }
  | {
      readonly ok: false
      readonly code: ClientCertErrorCode
      readonly reason: string
      /** No certificate on a healthy connection: the only failure optional mode lets through. */
      readonly absent?: boolean
    }

/**
 * Failures that depend only on the certificate and the configuration, so they can be
 * remembered for the connection. Time-dependent or transient ones (not yet valid, a failing
 * identity function, internal errors) are judged again on the next request.
 */
const STABLE_FAILURES: ReadonlySet<ClientCertErrorCode> = new Set([
  'ERR_CLIENT_CERT_MISSING',
  'ERR_CLIENT_CERT_UNTRUSTED',
  'ERR_CLIENT_CERT_EXPIRED',
  'ERR_CLIENT_CERT_EKU',
  'ERR_CLIENT_CERT_BASIC_CONSTRAINTS',
  'ERR_CLIENT_CERT_KEY_USAGE',
  'ERR_CLIENT_CERT_NAME_CONSTRAINTS',
  'ERR_CLIENT_CERT_CRITICAL_EXTENSION',
  'ERR_CLIENT_CERT_MALFORMED',
])

const MAX_SIGNATURE_CHECKS = 64
/**
 * Verification work one request may spend on client-sent chain certificates (their keys or
 * their signatures), in P-256 verifications (validate/profile.ts verifyCost): a legitimate
 * chain of four P-256 intermediates costs 5, one P-384 intermediate under a P-384 root 16; a
 * hostile set stops here, at about the cost of three ordinary cold requests (bench/hostile.mjs).
 * Deeper P-384 chains, and P-521 ones, need their intermediates in trust.intermediates, which
 * cost this budget nothing.
 */
const MAX_HINT_VERIFY_COST = 16
/**
 * A forwarded certificate that failed validation is remembered this long under its header
 * hash, so the same hostile request repeated is refused without verifying anything again.
 */
const FAILED_FORWARDED_TTL_MS = 60_000
const FAILED_FORWARDED_MAX = 1024
const NO_OPTIONS: AuthenticateOptions & { readonly optional?: boolean } = Object.freeze({})

/** Validates `options` (throwing `ClientCertConfigError` on any mistake) and returns the authenticator. */
export function createClientCertAuthenticator<R = unknown>(
  options: ClientCertOptions<R>,
): ClientCertAuthenticator {
  return new Authenticator(options as ClientCertOptions, resolveOptions(options as ClientCertOptions))
}

class Authenticator implements ClientCertAuthenticator {
  #raw: ClientCertOptions
  #o: ResolvedOptions
  #store: TrustStore
  /** Per-connection outcome, so keep-alive requests do not re-read or re-parse the certificate. */
  readonly #memo = new WeakMap<object, MemoEntry>()
  readonly #cache: LruCache<string, Verified> | undefined
  /** Whether a socket carries its own client certificate (checked once per connection). */
  readonly #socketCert = new WeakMap<object, boolean>()
  /** Per proxy connection: the last forwarded certificate's cache key and outcome. */
  readonly #lastForwarded = new WeakMap<
    object,
    { key: string; generation: number; expires: number; outcome: Outcome }
  >()
  /** Recent forwarded-certificate failures by cache key (see FAILED_FORWARDED_TTL_MS). */
  readonly #failedForwarded = new LruCache<string, Extract<Outcome, { ok: false }>>(FAILED_FORWARDED_MAX)
  /** The success answer per principal (immutable, so shared by every request it admits). */
  readonly #allowed = new WeakMap<ClientPrincipal, AuthResult>()
  /** Per connection: its servername rule, or null when trust does not vary by name on it. */
  readonly #servername = new WeakMap<object, ServernameRule | null>()
  /** Principals whose path the TLS stack verified: their anchor is asked of the socket when needed. */
  readonly #tlsVerified = new WeakSet<ClientPrincipal>()
  /** Per principal: does its path end in one of Node's bundled public roots (see #publicRootRefusal)? */
  readonly #publicRoot = new WeakMap<ClientPrincipal, boolean>()
  #warnedPublicRoot = false
  /** Bumped when trust changes, so memoised connections are judged again. */
  #generation = 0
  #revocation: RevocationChecker | undefined

  constructor(raw: ClientCertOptions, options: ResolvedOptions) {
    this.#raw = raw
    this.#o = options
    this.#revocation = options.revocation
      ? createRevocationChecker(options.revocation, () => this.#o.now())
      : undefined
    this.#store = {
      anchors: indexBySubject(options.anchors),
      intermediates: indexBySubject(options.intermediates),
    }
    this.#cache = options.cache === false ? undefined : new LruCache(options.cache.max)
  }

  authenticate(
    request: RequestLike,
    options?: AuthenticateOptions & { readonly optional?: false },
  ): Promise<AuthResult>
  authenticate(
    request: RequestLike,
    options: AuthenticateOptions & { readonly optional: true },
  ): Promise<OptionalAuthResult>
  async authenticate(
    request: RequestLike,
    options: AuthenticateOptions & { readonly optional?: boolean } = NO_OPTIONS,
  ): Promise<OptionalAuthResult> {
    return this.#misdirected(request) ?? this.#judge(request, options)
  }

  authenticateFast(
    request: RequestLike,
    options?: AuthenticateOptions & { readonly optional?: false },
  ): AuthResult | Promise<AuthResult>
  authenticateFast(
    request: RequestLike,
    options: AuthenticateOptions & { readonly optional: true },
  ): OptionalAuthResult | Promise<OptionalAuthResult>
  authenticateFast(
    request: RequestLike,
    options: AuthenticateOptions & { readonly optional?: boolean } = NO_OPTIONS,
  ): OptionalAuthResult | Promise<OptionalAuthResult> {
    const misdirected = this.#misdirected(request)
    if (misdirected !== undefined) return misdirected
    if (options.policy !== undefined || this.#revocation !== undefined || this.#o.forwarded !== undefined)
      return this.#judge(request, options)
    let key: object | undefined
    let entry: MemoEntry | undefined
    try {
      key = connectionKey(request, isObject(request) ? request.socket : undefined)
      entry = key === undefined ? undefined : this.#memo.get(key)
    } catch {
      // A request whose properties throw: the full path judges (and rejects) it.
      return this.#judge(request, options)
    }
    if (entry?.admitted !== undefined && entry.generation === this.#generation) {
      // A keep-alive request on a connection already admitted under the default policy.
      try {
        const admitted = this.#admittedAgain(entry.admitted, request)
        if (admitted !== undefined) return admitted
      } catch (err) {
        // A failing clock or onAuthenticated hook: the same internal error as the full path.
        return this.#internal(err, request)
      }
    }
    const result = this.#judge(request, options)
    if (entry?.admitted === undefined && key !== undefined && !(result instanceof Promise) && result.ok) {
      if (result.principal !== undefined)
        this.#rememberAdmitted(key, result as Extract<AuthResult, { ok: true }>)
    }
    return result
  }

  /**
   * The short way for a request on a connection the full path admitted before: the same
   * checks that could change between two requests (a forwarded-certificate header sent by
   * this direct client, the validity window), with the same answer; undefined when any of
   * them needs the full path (which then rejects with the right code).
   */
  #admittedAgain(admitted: AdmittedEntry, request: RequestLike): AuthResult | undefined {
    if (hasForwardedHeader(isObject(request) ? request : {})) return undefined
    if (checkWindow(admitted.verified, this.#o.now(), this.#o.skewMs) !== undefined) return undefined
    return this.#announce(admitted.answer, request)
  }

  /**
   * After a request was admitted under the default policy, records the answer on the
   * connection's memo entry, when that policy's verdict cannot change (no predicate) and no
   * revocation or forwarded source is configured.
   */
  #rememberAdmitted(key: object, answer: Extract<AuthResult, { ok: true }>): void {
    const entry = this.#memo.get(key)
    if (entry === undefined || entry.generation !== this.#generation || entry.outcome instanceof Promise)
      return
    const outcome = entry.outcome
    if (
      !outcome.ok ||
      outcome.verified.principal !== answer.principal ||
      !isDeterministicPolicy(this.#o.allow)
    )
      return
    this.#memo.set(key, { ...entry, admitted: { verified: outcome.verified, answer } })
  }

  /** Source → validate → map → authorize, synchronous as far as it can be. Never throws or rejects. */
  #judge(
    request: RequestLike,
    options: AuthenticateOptions & { readonly optional?: boolean },
  ): OptionalAuthResult | Promise<OptionalAuthResult> {
    try {
      const outcome = this.#outcome(request)
      const result =
        outcome instanceof Promise
          ? outcome.then((o) => this.#conclude(o, request, options))
          : this.#conclude(outcome, request, options)
      if (!(result instanceof Promise)) return result
      return result.then(undefined, (err: unknown) => this.#internal(err, request))
    } catch (err) {
      return this.#internal(err, request)
    }
  }

  /**
   * 421 for a request naming another host than its connection's TLS server name, where trust
   * differs by name. Judged first, before and whatever the certificate: a coalescing browser
   * must learn to retry on a new connection, not that it is unauthorised. Never throws.
   */
  #misdirected(request: RequestLike): OptionalAuthResult | undefined {
    try {
      const socket = isObject(request) ? request.socket : undefined
      const key = connectionKey(request, socket)
      let rule = key === undefined ? undefined : this.#servername.get(key)
      if (rule === undefined) {
        rule = servernameRule(socket, this.#o.requireServernameMatch) ?? null
        if (key !== undefined) this.#servername.set(key, rule)
      }
      if (rule === null) return undefined
      const why = misdirection(request, rule)
      return why === undefined
        ? undefined
        : { ok: false, error: this.reject('ERR_CLIENT_CERT_MISDIRECTED', why, request) }
    } catch (err) {
      return this.#internal(err, request)
    }
  }

  #internal(err: unknown, request: RequestLike): OptionalAuthResult {
    return {
      ok: false,
      error: this.reject('ERR_CLIENT_CERT_INTERNAL', `authentication threw: ${describe(err)}`, request),
    }
  }

  /** From a source's outcome to the answer: time window, revocation, policy, hook. */
  #conclude(
    outcome: Outcome,
    request: RequestLike,
    options: AuthenticateOptions & { readonly optional?: boolean },
  ): OptionalAuthResult | Promise<OptionalAuthResult> {
    if (!outcome.ok) {
      if (options.optional === true && outcome.code === 'ERR_CLIENT_CERT_MISSING' && outcome.absent === true)
        return { ok: true, principal: undefined }
      return { ok: false, error: this.reject(outcome.code, outcome.reason, request) }
    }
    const { verified } = outcome
    const time = checkWindow(verified, this.#o.now(), this.#o.skewMs)
    if (time) return { ok: false, error: this.reject(time.code, time.reason, request) }
    const policy = options.policy ?? this.#o.allow
    if (this.#revocation !== undefined && verified.path.length >= 2) {
      return this.#checkRevocation(verified).then((revoked) =>
        revoked
          ? { ok: false, error: this.reject(revoked.code, revoked.reason, request) }
          : this.#decide(verified, policy, request),
      )
    }
    return this.#decide(verified, policy, request)
  }

  #decide(
    verified: Verified,
    policy: CompiledPolicy,
    request: RequestLike,
  ): AuthResult | Promise<AuthResult> {
    const decision = this.authorizeFast(verified.principal, policy, request)
    return decision instanceof Promise
      ? decision.then((d) => this.#announce(d, request))
      : this.#announce(decision, request)
  }

  #announce(decision: AuthResult, request: RequestLike): AuthResult {
    if (decision.ok && this.#o.onAuthenticated) this.#o.onAuthenticated(decision.principal, { request })
    return decision
  }

  async authorize(
    principal: ClientPrincipal,
    policy: CompiledPolicy,
    request?: unknown,
  ): Promise<AuthResult> {
    return this.authorizeFast(principal, policy, request)
  }

  authorizeFast(
    principal: ClientPrincipal,
    policy: CompiledPolicy,
    request?: unknown,
  ): AuthResult | Promise<AuthResult> {
    let compiled: CompiledPolicy | undefined
    try {
      compiled = compilePolicy(policy)
      if (compiled.admitsAnyone && this.#anchoredPublicly(principal, request))
        return this.#publicRootRefusal(principal, compiled, request)
      const verdict = compiled.evaluate(principal)
      // Synchronous policies (ids, spiffe, dnsSuffix...) answer without a microtask hop.
      if (typeof verdict === 'boolean') return this.#verdict(verdict, principal, compiled, request)
      const c = compiled
      return Promise.resolve(verdict).then(
        (v) => this.#verdict(v === true, principal, c, request),
        (err: unknown) => this.#policyThrew(err, c, request),
      )
    } catch (err) {
      return this.#policyThrew(err, compiled, request)
    }
  }

  /**
   * A public CA vouches for names, not clients: a policy that does not name who is allowed must
   * not admit a path anchored in the public root store (the request-time twin of the startup
   * check on app-level anchors). Reached when an HTTPS server has no `ca` of its own.
   */
  #publicRootRefusal(principal: ClientPrincipal, compiled: CompiledPolicy, request: unknown): AuthResult {
    const fix =
      "the client certificate chains to one of Node's bundled public roots, and the policy " +
      `${compiled.description} does not name who is allowed: give the HTTPS server your own client CA ` +
      "(createMtlsServerOptions({ clientCa }) or the server's `ca` option), or name the allowed clients " +
      '(ids, spiffe, dnsSuffix, pins, groups)'
    if (!this.#warnedPublicRoot) {
      this.#warnedPublicRoot = true
      console.warn(`clientcert: ERR_CLIENT_CERT_MISCONFIGURED: ${fix}`)
    }
    return {
      ok: false,
      error: this.reject('ERR_CLIENT_CERT_MISCONFIGURED', `"${principal.id}": ${fix}`, request),
    }
  }

  /**
   * Only asked for policies that name nobody, so a policy naming clients costs nothing here. For
   * a TLS-verified principal the chain is read from the request's socket once per principal
   * (per certificate, while it is cached); a request without a readable chain counts as public.
   */
  #anchoredPublicly(principal: ClientPrincipal, request: unknown): boolean {
    const known = this.#publicRoot.get(principal)
    if (known !== undefined) return known
    if (!this.#tlsVerified.has(principal)) return false
    let chain: Uint8Array[]
    try {
      chain = peerChainDer(isObject(request) ? request.socket : undefined)
    } catch {
      return true
    }
    const answer = chain.some(isBundledRoot)
    this.#publicRoot.set(principal, answer)
    return answer
  }

  #policyThrew(err: unknown, compiled: CompiledPolicy | undefined, request: unknown): AuthResult {
    return {
      ok: false,
      error: this.reject(
        'ERR_CLIENT_CERT_INTERNAL',
        `policy ${compiled?.description ?? '(invalid)'} threw: ${describe(err)}`,
        request,
      ),
    }
  }

  #verdict(
    allowed: boolean,
    principal: ClientPrincipal,
    compiled: CompiledPolicy,
    request: unknown,
  ): AuthResult {
    if (allowed) {
      // One frozen answer per principal: keep-alive requests allocate nothing here.
      let ok = this.#allowed.get(principal)
      if (ok === undefined) {
        ok = Object.freeze({ ok: true, principal })
        this.#allowed.set(principal, ok)
      }
      return ok
    }
    return {
      ok: false,
      error: this.reject(
        'ERR_CLIENT_CERT_NOT_ALLOWED',
        `"${principal.id}" (${principal.kind}) is not allowed by ${compiled.description}`,
        request,
      ),
    }
  }

  updateTrust(update: TrustUpdate): void {
    if (typeof update !== 'object' || update === null)
      throw new ClientCertConfigError('updateTrust', 'expects { trust?, allow? }')
    const extra = Object.keys(update).find((k) => k !== 'trust' && k !== 'allow' && k !== 'revocation')
    if (extra !== undefined) {
      throw new ClientCertConfigError(
        `updateTrust.${extra}`,
        'only trust, allow and revocation can be updated',
      )
    }
    // A key present with undefined reads as "keep" to some and "remove" to others; refuse it.
    // Each value is read once, so a getter cannot pass the check and then change.
    const changes: Record<string, unknown> = {}
    for (const key of Object.keys(update)) {
      const value: unknown = update[key as keyof TrustUpdate]
      if (value === undefined)
        throw new ClientCertConfigError(
          `updateTrust.${key}`,
          'is undefined; leave the key out to keep its value',
        )
      changes[key] = value
    }
    const raw = { ...this.#raw, ...changes } as ClientCertOptions
    // Validate everything first; only then swap, so a bad update leaves the old rules intact.
    const next = resolveOptions(raw)
    this.#raw = raw
    this.#o = next
    this.#store = { anchors: indexBySubject(next.anchors), intermediates: indexBySubject(next.intermediates) }
    this.#generation++
    this.#cache?.clear()
    this.#failedForwarded.clear()
    this.#revocation?.close()
    this.#revocation = next.revocation
      ? createRevocationChecker(next.revocation, () => this.#o.now())
      : undefined
  }

  reject(code: ClientCertErrorCode, reason: string, request?: unknown): ClientCertError {
    const error = new ClientCertError(code, reason)
    const status =
      error.category === 'unauthenticated'
        ? this.#o.statusUnauthenticated
        : error.category === 'forbidden'
          ? this.#o.statusForbidden
          : error.status
    const out = error.withStatus(status)
    try {
      this.#o.onRejected?.(out, { request })
    } catch {
      // An audit hook failing must not turn a rejection into anything else.
    }
    return out
  }

  /**
   * Picks the source. A forwarded-certificate header from a peer that is not an allowlisted
   * proxy rejects the request (also when only TLS is configured). A connection with its own
   * client certificate never takes its identity from a header.
   */
  #outcome(request: RequestLike): Outcome | Promise<Outcome> {
    const socket = isObject(request) ? request.socket : undefined
    const key = connectionKey(request, socket)
    const fwd = readForwarded(isObject(request) ? request : {}, this.#o.forwarded)
    if (fwd.kind === 'reject' && fwd.code !== 'ERR_CLIENT_CERT_MISSING') return fail(fwd.code, fwd.reason)
    if (fwd.kind === 'cert') {
      if (!this.#socketHasCertificate(socket, key)) return this.#forwardedOutcome(fwd, key)
      if (!this.#o.tlsSource) {
        return fail(
          'ERR_CLIENT_CERT_UNTRUSTED_PROXY',
          'the connection presents its own client certificate; identity is never taken from a header on such a connection',
        )
      }
    }
    if (!this.#o.tlsSource) {
      // The proxy forwarded no certificate (or nobody sent a header): the client has none.
      const reason = fwd.kind === 'reject' ? fwd.reason : 'no forwarded client certificate'
      return { ok: false, code: 'ERR_CLIENT_CERT_MISSING', reason, absent: true }
    }
    return this.#outcomeFor(socket, key)
  }

  #socketHasCertificate(socket: unknown, key: object | undefined): boolean {
    if (!isObject(socket) || socket.encrypted !== true || key === undefined) return false
    let has = this.#socketCert.get(key)
    if (has === undefined) {
      has = readSocket(socket).ok
      this.#socketCert.set(key, has)
    }
    return has
  }

  #forwardedOutcome(
    fwd: Extract<ForwardedRead, { kind: 'cert' }>,
    connection: object | undefined,
  ): Outcome | Promise<Outcome> {
    const now = this.#o.now()
    const key = fwd.cacheKey
    // A proxy's keep-alive connection usually carries one client: its last success is kept on
    // the connection, under the same key, generation and expiry as the cache entry.
    const last = connection === undefined ? undefined : this.#lastForwarded.get(connection)
    if (last !== undefined && last.key === key && last.generation === this.#generation && now < last.expires)
      return last.outcome
    const cached = this.#cache?.entry(key, now)
    if (cached !== undefined) {
      const outcome: Outcome = { ok: true, verified: cached.value }
      if (connection !== undefined)
        this.#lastForwarded.set(connection, {
          key,
          generation: this.#generation,
          expires: cached.expires,
          outcome,
        })
      return outcome
    }
    const failed = this.#failedForwarded.get(key, now)
    if (failed !== undefined) return failed
    const outcome = this.#forwardedFresh(fwd, now)
    // Only synchronous, stable failures: what a repeat of the same headers would get again.
    if (!(outcome instanceof Promise) && !outcome.ok && STABLE_FAILURES.has(outcome.code))
      this.#failedForwarded.set(key, outcome, now + FAILED_FORWARDED_TTL_MS)
    return outcome
  }

  #forwardedFresh(fwd: Extract<ForwardedRead, { kind: 'cert' }>, now: number): Outcome | Promise<Outcome> {
    const key = fwd.cacheKey
    const decodedResult = fwd.decode()
    if (!decodedResult.ok) return fail('ERR_CLIENT_CERT_MALFORMED', decodedResult.reason)
    const decoded = decodedResult.decoded
    const leaf = parseLeaf(decoded.leaf)
    if (!isParsed(leaf)) return leaf
    const hints: ParsedCertificate[] = []
    for (const der of decoded.chain) {
      const c = parseLeaf(der)
      if (!isParsed(c))
        return fail(
          'ERR_CLIENT_CERT_MALFORMED',
          `a forwarded chain certificate is not valid DER: ${c.reason}`,
        )
      hints.push(c)
    }
    const format = this.#o.forwarded?.preset.name ?? 'custom'
    return this.#verify(leaf, hints, { type: 'forwarded', format, proxy: fwd.proxy }, key, now)
  }

  /**
   * The connection's outcome: remembered once known (successes and stable failures), shared
   * while pending, so a keep-alive request is answered from the memo without a promise.
   */
  #outcomeFor(socket: unknown, key: object | undefined): Outcome | Promise<Outcome> {
    if (key === undefined) return this.#identify(socket)
    const entry = this.#memo.get(key)
    if (entry !== undefined && entry.generation === this.#generation) return entry.outcome
    const generation = this.#generation
    const outcome = this.#identify(socket)
    if (!(outcome instanceof Promise)) {
      if (memorable(outcome)) this.#memo.set(key, { generation, outcome })
      return outcome
    }
    const pending: MemoEntry = { generation, outcome }
    this.#memo.set(key, pending)
    const settle = (o: Outcome | undefined) => {
      if (this.#memo.get(key) !== pending) return
      if (o !== undefined && memorable(o)) this.#memo.set(key, { generation, outcome: o })
      else this.#memo.delete(key)
    }
    outcome.then(settle, () => settle(undefined))
    return outcome
  }

  #identify(socket: unknown): Outcome | Promise<Outcome> {
    const read = readSocket(socket)
    if (!read.ok) return read
    const now = this.#o.now()
    if (!this.#o.appTrust && (!read.authorized || read.authorizationError !== ''))
      return this.#tlsRejected(read.der, read.authorizationError, now)
    const fingerprint = createHash('sha256').update(read.der).digest('hex')
    const cached = this.#cache?.get(fingerprint, now)
    if (cached !== undefined) return { ok: true, verified: cached }
    const leaf = parseLeaf(read.der)
    if (!isParsed(leaf)) return leaf
    return this.#verify(leaf, [], { type: 'tls' }, fingerprint, now, !this.#o.appTrust)
  }

  /** Leaf rules, trust (path or pin), identity mapping; the result is cached under `cacheKey`. */
  #verify(
    leaf: ParsedCertificate,
    hints: readonly ParsedCertificate[],
    source: PrincipalSource,
    cacheKey: string,
    now: number,
    /** True when the TLS stack, not the app, verified the path (its anchor is then unknown here). */
    tlsVerified = false,
  ): Outcome | Promise<Outcome> {
    const leafFailure = checkLeaf(leaf, this.#o.eku)
    if (leafFailure) return fail(leafFailure.code, leafFailure.reason)
    const trusted = this.#validate(leaf, hints, now)
    if (!trusted.ok) return trusted
    const base = facts(leaf, trusted.chain, source)
    const identityFailed = (err: unknown): Outcome =>
      fail(
        'ERR_CLIENT_CERT_IDENTITY',
        err instanceof IdentityError ? err.message : `the identity function threw: ${describe(err)}`,
      )
    let mapped: MappedIdentity | Promise<MappedIdentity>
    try {
      mapped = this.#map(leaf, base)
    } catch (err) {
      return identityFailed(err)
    }
    const publicRoot = !tlsVerified && isBundledRoot((trusted.chain.at(-1) ?? leaf).der)
    const done = (m: MappedIdentity) => {
      const outcome = this.#verified(leaf, trusted, base, m, cacheKey, now)
      if (outcome.ok) {
        if (tlsVerified) this.#tlsVerified.add(outcome.verified.principal)
        else this.#publicRoot.set(outcome.verified.principal, publicRoot)
      }
      return outcome
    }
    return mapped instanceof Promise ? mapped.then(done, identityFailed) : done(mapped)
  }

  #verified(
    leaf: ParsedCertificate,
    trusted: { chain: readonly ParsedCertificate[]; validFrom: number; validUntil: number },
    base: CertificateFacts,
    mapped: MappedIdentity,
    cacheKey: string,
    now: number,
  ): Outcome {
    const principal = Object.freeze(
      Object.assign(Object.create(null, Object.getOwnPropertyDescriptors(base)), {
        id: mapped.id,
        kind: mapped.kind,
        groups: Object.freeze([...mapped.groups]),
      }),
    ) as ClientPrincipal
    const verified: Verified = {
      // Kept only for revocation checks, so cached entries do not hold parsed certificates otherwise.
      path: this.#revocation ? [leaf, ...trusted.chain] : [],
      principal,
      validFrom: trusted.validFrom,
      validUntil: trusted.validUntil,
    }
    if (this.#cache && this.#o.cache !== false) {
      this.#cache.set(
        cacheKey,
        verified,
        Math.min(trusted.validUntil + this.#o.skewMs, now + this.#o.cache.ttlMs),
      )
    }
    return { ok: true, verified }
  }

  /**
   * The TLS stack refused the certificate. The rejection is final; the code is refined by our
   * own leaf checks first, because Node reports some OpenSSL failures only as "UNSPECIFIED".
   */
  #tlsRejected(der: Uint8Array, authorizationError: string, now: number): Extract<Outcome, { ok: false }> {
    const err = authorizationError || 'not authorized'
    const why = `the TLS stack did not verify the client certificate (${err})`
    const leaf = parseLeaf(der)
    if (isParsed(leaf)) {
      const own = checkLeaf(leaf, this.#o.eku) ?? checkTime(leaf, now, this.#o.skewMs)
      if (own) return fail(own.code, `${own.reason}; ${why}`)
    }
    return fail(codeForAuthorizationError(err), why)
  }

  /**
   * Revocation is judged on every request, also for memoised connections and cached paths:
   * the checker keeps its own CRL/OCSP caches, so a certificate revoked after the connection
   * opened is refused on its next request.
   */
  async #checkRevocation(
    verified: Verified,
  ): Promise<{ code: ClientCertErrorCode; reason: string } | undefined> {
    const checker = this.#revocation
    if (checker === undefined || verified.path.length < 2) return undefined
    const result = await checker.check(verified.path)
    if (result.ok) return undefined
    return {
      code: result.revoked ? 'ERR_CLIENT_CERT_REVOKED' : 'ERR_CLIENT_CERT_REVOCATION_UNAVAILABLE',
      reason: result.reason,
    }
  }

  /** Path validation when the app holds its own trust; the leaf's own dates otherwise. */
  #validate(
    leaf: ParsedCertificate,
    hints: readonly ParsedCertificate[],
    now: number,
  ):
    | { ok: true; chain: readonly ParsedCertificate[]; validFrom: number; validUntil: number }
    | Extract<Outcome, { ok: false }> {
    const o = this.#o
    if (!o.appTrust || this.#pinned(leaf)) {
      const time = checkTime(leaf, now, o.skewMs)
      if (time) return fail(time.code, time.reason)
      return { ok: true, chain: [], validFrom: leaf.notBefore, validUntil: leaf.notAfter }
    }
    if (o.anchors.length === 0)
      return fail('ERR_CLIENT_CERT_UNTRUSTED', 'the client certificate matches no pin')
    const result = buildPath(leaf, storeFor(leaf, o.spiffe, this.#store), hints, {
      now,
      skewMs: o.skewMs,
      maxDepth: o.maxChainDepth,
      maxSignatureChecks: MAX_SIGNATURE_CHECKS,
      maxHintVerifyCost: MAX_HINT_VERIFY_COST,
      requiredEku: o.eku.required,
    })
    if (!result.ok) return fail(result.code, result.reason)
    return {
      ok: true,
      chain: result.path.slice(1),
      validFrom: result.validFrom,
      validUntil: result.validUntil,
    }
  }

  /**
   * A pinned certificate. An SPKI pin vouches only for what the pinned key signed: the key is
   * public, so anyone can put it in a certificate of their own with any names (issuer ≠
   * subject included); only a certificate self-signed by that key carries names its holder chose.
   */
  #pinned(leaf: ParsedCertificate): boolean {
    for (const pin of this.#o.pins) {
      if (pin.kind === 'cert' && pin.hex === leaf.fingerprint256) return true
      if (pin.kind === 'spki' && pin.hex === leaf.spkiSha256)
        return checkKeyProfile(leaf) === undefined && verifySignature(leaf, leaf)
    }
    return false
  }

  #map(leaf: ParsedCertificate, base: CertificateFacts): MappedIdentity | Promise<MappedIdentity> {
    const identity = this.#o.identity
    if (typeof identity !== 'function') return mapBuiltin(identity, leaf)
    const custom = (id: unknown): MappedIdentity => {
      if (typeof id !== 'string') throw new IdentityError('the identity function returned no string')
      return { id: checkedId(id, 'the custom identity'), kind: 'custom', groups: [] }
    }
    const id: unknown = identity(base)
    return isThenable(id) ? Promise.resolve(id).then(custom) : custom(id)
  }
}

interface MemoEntry {
  readonly generation: number
  /** The outcome once known; the shared promise while the first request is judged. */
  readonly outcome: Outcome | Promise<Outcome>
  /** Set once a request was admitted under the default (deterministic) policy. */
  readonly admitted?: AdmittedEntry
}

interface AdmittedEntry {
  readonly verified: Verified
  readonly answer: Extract<AuthResult, { ok: true }>
}

/** Outcomes a connection keeps: successes and failures that cannot change while it is open. */
function memorable(o: Outcome): boolean {
  return o.ok || STABLE_FAILURES.has(o.code)
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return isObject(v) && typeof v.then === 'function'
}

/**
 * What identifies the connection for the per-connection memo: the socket, or for an HTTP/2
 * stream its session (the compat API hands each stream a different socket proxy).
 */
function connectionKey(request: unknown, socket: unknown): object | undefined {
  if (isObject(request) && isObject(request.stream) && isObject(request.stream.session))
    return request.stream.session
  return isObject(socket) ? socket : undefined
}

function parseLeaf(der: Uint8Array): ParsedCertificate | Extract<Outcome, { ok: false }> {
  try {
    return parseCertificate(der)
  } catch (err) {
    if (err instanceof DerError)
      return fail('ERR_CLIENT_CERT_MALFORMED', `the client certificate is not valid DER: ${err.message}`)
    throw err
  }
}

function isParsed(v: ParsedCertificate | Extract<Outcome, { ok: false }>): v is ParsedCertificate {
  return !('ok' in v)
}

function checkWindow(
  v: Verified,
  now: number,
  skewMs: number,
): { code: ClientCertErrorCode; reason: string } | undefined {
  // Certificate times have whole seconds; a certificate is valid through its notAfter second.
  now = Math.floor(now / 1000) * 1000
  if (now + skewMs < v.validFrom)
    return { code: 'ERR_CLIENT_CERT_NOT_YET_VALID', reason: 'a certificate in the path is not yet valid' }
  if (now - skewMs > v.validUntil)
    return { code: 'ERR_CLIENT_CERT_EXPIRED', reason: 'a certificate in the path has expired' }
  return undefined
}

function fail(code: ClientCertErrorCode, reason: string): Extract<Outcome, { ok: false }> {
  return { ok: false, code, reason }
}

function isObject(v: unknown): v is Record<PropertyKey, unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err)
}

export type { AllowPolicy }

/**
 * For adapters: an authenticator from options that are either core options or
 * `{ authenticator }` (one authenticator shared by several adapters or the CLI).
 */
export function resolveAuthenticator(options: Record<string, unknown>): ClientCertAuthenticator {
  if (!('authenticator' in options))
    return createClientCertAuthenticator(options as unknown as ClientCertOptions)
  const { authenticator, ...others } = options
  const extra = Object.keys(others)[0]
  if (extra !== undefined) {
    throw new ClientCertConfigError(
      extra,
      'cannot be combined with "authenticator"; configure the authenticator instead',
    )
  }
  const a = authenticator as Partial<ClientCertAuthenticator> | null
  if (
    typeof a !== 'object' ||
    a === null ||
    typeof a.authenticate !== 'function' ||
    typeof a.authenticateFast !== 'function' ||
    typeof a.authorizeFast !== 'function' ||
    typeof a.reject !== 'function'
  ) {
    throw new ClientCertConfigError('authenticator', 'must come from createClientCertAuthenticator()')
  }
  return a as ClientCertAuthenticator
}
