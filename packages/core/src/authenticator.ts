import { createHash } from 'node:crypto'
import { TLSSocket } from 'node:tls'
import {
  type AuthenticateOptions,
  type AuthResult,
  type ClientCertAuthenticator,
  DECIDE,
  DESCRIBE_TRUST,
  JUDGE,
  type JudgeOptions,
  type OptionalAuthResult,
  type RequestLike,
  SETTLED,
  STATS,
  type TrustUpdate,
} from './api.js'
import {
  type ConnectionState,
  Connections,
  type Connections as ConnectionsType,
  type Settled,
} from './connection.js'
import {
  type AuthenticateContext,
  type DiagnosticsSource,
  describePrincipal,
  peerName,
  publishForwardedRefused,
  publishTrustUpdated,
  type TrustDescription,
  traceAuthenticate,
  tracingAuthenticate,
} from './diagnostics.js'
import { createEpoch, describeEpoch, FAILED_FORWARDED_TTL_MS, nextEpoch, type TrustEpoch } from './epoch.js'
import { ClientCertError, type ClientCertErrorCode } from './errors.js'
import type { ClientPrincipal } from './identity/principal.js'
import { markOf } from './mark.js'
import type { MaybePromise } from './maybe-promise.js'
import type { ClientCertOptions } from './options.js'
import { type CompiledPolicy, compilePolicy, isCompiledPolicy, isPurePolicy } from './policy/match.js'
import { misdirection, servernameRule } from './servername.js'
import { forwardedCertificates } from './sources/forwarded/certificates.js'
import {
  certificateProxy,
  type ForwardedRead,
  hasForwardedHeader,
  readForwarded,
  remoteAddressOf,
  repeatedRead,
} from './sources/forwarded/index.js'
import { readRequestHeader } from './sources/request-header.js'
import { peerChainOf, readSocket, tlsRejection } from './sources/tls.js'
import { anchoredPublicly, publicRootFix } from './trust/public-roots.js'
import {
  checkVerifiedWindow,
  describe,
  failed,
  isParsed,
  isStable,
  type Outcome,
  parseSent,
  validateAndMap,
} from './validate/verify.js'

/**
 * The authenticator: one judgement per request — read the certificate (socket or allowlisted
 * proxy) → validate and map → authorize → admit — under one trust epoch (epoch.ts, which lists
 * its caches) with one state per connection (connection.ts). Besides those, this file keeps
 * one cache of its own: `#allowed`, principal → its frozen success answer (a WeakMap; it lives
 * as long as the principal, which a new epoch replaces).
 *
 * One short path (`SETTLED`, for the adapter kit's `admitRequest`): a connection whose
 * admission only the clock and a request's own headers could change (`#settle` lists what rules
 * that out) remembers it, and a keep-alive request then costs the window check, the header
 * check and the mark. The header check of a TLS connection is the forwarded-header screen; of
 * an allowlisted proxy's connection, that the request repeats the admitted forwarded headers
 * exactly (`repeatedRead`, the test the full read's connection memo makes), before the cache
 * entry they were admitted from expires. A new option or per-request check must either be
 * re-checked there or rule settling out: `fast-path.test.ts` classifies every option.
 */

const NO_OPTIONS: JudgeOptions = Object.freeze({})

/** Validates `options` (throwing `ClientCertConfigError` on any mistake) and returns the authenticator. */
export function createClientCertAuthenticator<R = unknown>(
  options: ClientCertOptions<R>,
): ClientCertAuthenticator {
  return new Authenticator(createEpoch(options as ClientCertOptions))
}

class Authenticator implements ClientCertAuthenticator {
  #epoch: TrustEpoch
  readonly #connections: ConnectionsType = new Connections()
  readonly #allowed = new WeakMap<ClientPrincipal, AuthResult>()
  #warnedPublicRoot = false
  /** @internal Counters for tests (see STATS). */
  readonly [STATS] = { forwardedMemoHits: 0 }

  /** `settlesUnder(#epoch)`, kept with it. */
  #settles: boolean

  constructor(epoch: TrustEpoch) {
    this.#epoch = epoch
    this.#settles = settlesUnder(epoch)
  }

  authenticate(
    request: RequestLike,
    options?: AuthenticateOptions & { readonly optional?: false },
  ): Promise<AuthResult>
  authenticate(
    request: RequestLike,
    options: AuthenticateOptions & { readonly optional: true },
  ): Promise<OptionalAuthResult>
  async authenticate(request: RequestLike, options: JudgeOptions = NO_OPTIONS): Promise<OptionalAuthResult> {
    return tracingAuthenticate() ? this.#traced(request, options) : this.#judge(request, options)
  }

  [JUDGE](request: RequestLike, options: JudgeOptions = NO_OPTIONS): MaybePromise<OptionalAuthResult> {
    return tracingAuthenticate() ? this.#traced(request, options) : this.#judge(request, options)
  }

  /** The judgement inside `clientcert.authenticate` (diagnostics.ts), for subscribers only. */
  #traced(request: RequestLike, options: JudgeOptions): MaybePromise<OptionalAuthResult> {
    const context: AuthenticateContext = { cached: 'none' }
    const socket = isObject(request) ? request.socket : undefined
    if (socket instanceof TLSSocket)
      context.tls = { protocol: socket.getProtocol() ?? undefined, resumed: socket.isSessionReused() }
    const includeDer = this.#epoch.options.includeCertificate
    return traceAuthenticate(
      context,
      () => this.#judge(request, options, context),
      (answer) => {
        if (answer.ok && answer.principal !== undefined)
          context.certificate = describePrincipal(answer.principal, includeDer)
        context.outcome = answer.ok
          ? {
              ok: true,
              principal:
                answer.principal === undefined
                  ? undefined
                  : { id: answer.principal.id, kind: answer.principal.kind },
            }
          : { ok: false, code: answer.error.code, reason: answer.error.reason, status: answer.error.status }
      },
    )
  }

  async authorize(
    principal: ClientPrincipal,
    policy: CompiledPolicy,
    request?: unknown,
  ): Promise<AuthResult> {
    return this.#authorize(principal, policy, request, this.#epoch)
  }

  [DECIDE](principal: ClientPrincipal, policy: CompiledPolicy, request?: unknown): MaybePromise<AuthResult> {
    return this.#authorize(principal, policy, request, this.#epoch)
  }

  /** The one judgement. Never throws or rejects: a fault is an `ERR_CLIENT_CERT_INTERNAL` answer. */
  #judge(
    request: RequestLike,
    options: JudgeOptions,
    trace?: AuthenticateContext,
  ): MaybePromise<OptionalAuthResult> {
    const epoch = this.#epoch
    try {
      const connection = this.#connections.of(request, epoch)
      // 421 first, whatever the certificate: a coalescing browser must retry on a new
      // connection, not learn that it is unauthorised.
      const misdirected = this.#misdirected(request, connection, epoch)
      if (misdirected !== undefined)
        return { ok: false, error: this.reject('ERR_CLIENT_CERT_MISDIRECTED', misdirected, request) }
      const outcome = this.#readCertificate(request, connection, epoch, trace)
      const answer =
        outcome instanceof Promise
          ? outcome.then((o) => this.#admit(o, request, options, epoch))
          : this.#admit(outcome, request, options, epoch)
      if (
        this.#settles &&
        trace === undefined &&
        !(outcome instanceof Promise) &&
        !(answer instanceof Promise)
      )
        this.#settle(connection, outcome, answer, options, epoch)
      return answer instanceof Promise
        ? answer.then(undefined, (err: unknown) => this.#internal(err, request))
        : answer
    } catch (err) {
      return this.#internal(err, request)
    }
  }

  /**
   * Remembers a connection's admission for the keep-alive fast path (`SETTLED`), where the full
   * judgement of a later request could differ only by the clock (the validity window, still
   * checked) or the request's own headers (still checked): an epoch under which connections can
   * settle (`settlesUnder`), no server-name rule on this connection, an admitted client (not an
   * anonymous request), and no policy of the request's own. Under a forwarded source only a
   * proxy's forwarded certificate settles — the connection memo's read and outcome, with the
   * expiry of the cache entry the outcome came from; otherwise only the socket's certificate.
   */
  #settle(
    connection: ConnectionState,
    outcome: Outcome,
    answer: OptionalAuthResult,
    options: JudgeOptions,
    epoch: TrustEpoch,
  ): void {
    if (
      !outcome.ok ||
      !answer.ok ||
      answer.principal === undefined ||
      options.policy !== undefined ||
      connection.servername !== null
    )
      return
    let forwarded: Settled['forwarded']
    if (epoch.options.forwarded === undefined) {
      if (outcome !== connection.tls) return
    } else {
      const memo = connection.forwardedOutcome
      if (memo === undefined || memo.outcome !== outcome || memo.read !== connection.forwarded.last?.read)
        return
      forwarded = { read: memo.read, expires: memo.expires }
    }
    connection.settled = {
      answer: answer as AuthResult & { ok: true },
      mark: markOf(answer.principal, this),
      verified: outcome.verified,
      forwarded,
    }
  }

  [SETTLED](request: RequestLike): Settled | undefined {
    // Nothing to look up where no connection can settle: no cost there.
    if (!this.#settles || tracingAuthenticate()) return undefined
    const epoch = this.#epoch
    const connection = this.#connections.knownState(request, epoch)
    const settled = connection?.settled
    if (settled === undefined || !isObject(request)) return undefined
    const o = epoch.options
    const now = o.now()
    if (checkVerifiedWindow(settled.verified, now, o.skewMs) !== undefined) return undefined
    const forwarded = settled.forwarded
    if (forwarded === undefined) return hasForwardedHeader(request) ? undefined : settled
    // A proxy's connection: the admitted forwarded headers again, exactly, from the same
    // allowlisted peer, while the cache entry they were admitted from lasts.
    if (now >= forwarded.expires || o.forwarded === undefined) return undefined
    if (repeatedRead(request, o.forwarded, connection!.forwarded) !== forwarded.read) return undefined
    this[STATS].forwardedMemoHits++
    return settled
  }

  /** Why the request names another host than its connection's TLS server name, where trust differs by name. */
  #misdirected(request: RequestLike, connection: ConnectionState, epoch: TrustEpoch): string | undefined {
    if (connection.servername === undefined)
      connection.servername =
        servernameRule(
          isObject(request) ? request.socket : undefined,
          epoch.options.requireServernameMatch,
        ) ?? null
    return connection.servername === null ? undefined : misdirection(request, connection.servername)
  }

  /**
   * Stage 1, read the certificate, and on to stage 2. A forwarded-certificate header from a
   * peer that is not an allowlisted proxy rejects the request (also when only TLS is
   * configured). A connection with its own client certificate never takes its identity from a header.
   */
  #readCertificate(
    request: RequestLike,
    connection: ConnectionState,
    epoch: TrustEpoch,
    trace: AuthenticateContext | undefined,
  ): MaybePromise<Outcome> {
    const o = epoch.options
    const socket = isObject(request) ? request.socket : undefined
    if (o.requestHeader !== undefined) return this.#readRequestHeader(request, connection, epoch, trace)
    const memo = connection.forwarded.last?.read
    const fwd = readForwarded(isObject(request) ? request : {}, o.forwarded, connection.forwarded)
    if (fwd === memo) this[STATS].forwardedMemoHits++
    if (fwd.kind === 'reject' && fwd.code !== 'ERR_CLIENT_CERT_MISSING') {
      if (trace) trace.source = forwardedSource(o, peerName(remoteAddressOf(socket)))
      return failed(fwd.code, fwd.reason)
    }
    // A proxy that proved itself by its certificate: that certificate is the proxy's, never the client's.
    const viaProxyCertificate = certificateProxy(o.forwarded, connection.forwarded)
    if (fwd.kind === 'cert') {
      if (viaProxyCertificate || !this.#ownCertificate(socket, connection)) {
        if (trace) {
          trace.source = forwardedSource(o, fwd.proxy)
          if (fwd === memo) trace.cached = 'connection'
        }
        return this.#readForwarded(fwd, connection, epoch, trace)
      }
      if (trace) trace.source = forwardedSource(o, fwd.proxy)
      if (!o.tlsSource) {
        publishForwardedRefused(() => ({
          peer: fwd.proxy,
          header: o.forwarded?.preset.certHeader.toLowerCase() ?? 'unknown',
          preset: o.forwarded?.preset.name,
          why: 'own-certificate',
        }))
        return failed(
          'ERR_CLIENT_CERT_UNTRUSTED_PROXY',
          'the connection presents its own client certificate; identity is never taken from a header on such a connection',
        )
      }
    }
    if (!o.tlsSource || viaProxyCertificate) {
      // The proxy forwarded no certificate (or nobody sent a header): the client has none.
      const reason = fwd.kind === 'reject' ? fwd.reason : 'no forwarded client certificate'
      return { ok: false, code: 'ERR_CLIENT_CERT_MISSING', reason, absent: true }
    }
    if (trace) trace.source = TLS_SOURCE
    return this.#readTls(socket, connection, epoch, trace)
  }

  /** The request-header source (sources/request-header.ts): the proxy's user, else a direct client's socket. */
  #readRequestHeader(
    request: RequestLike,
    connection: ConnectionState,
    epoch: TrustEpoch,
    trace: AuthenticateContext | undefined,
  ): MaybePromise<Outcome> {
    const socket = isObject(request) ? request.socket : undefined
    const read = readRequestHeader(
      isObject(request) ? request : {},
      epoch.options.requestHeader!,
      connection.forwarded,
    )
    if (trace && read.kind !== 'none')
      trace.source = { type: 'forwarded', preset: 'request-header', proxy: peerName(remoteAddressOf(socket)) }
    if (read.kind === 'user') return { ok: true, verified: read.verified }
    if (read.kind === 'reject') return failed(read.code, read.reason)
    if (read.kind === 'missing' || !epoch.options.tlsSource)
      return {
        ok: false,
        code: 'ERR_CLIENT_CERT_MISSING',
        reason: read.kind === 'missing' ? read.reason : 'no identity headers from an authenticated proxy',
        absent: true,
      }
    if (trace) trace.source = TLS_SOURCE
    return this.#readTls(socket, connection, epoch, trace)
  }

  #ownCertificate(socket: unknown, connection: ConnectionState): boolean {
    if (!isObject(socket) || socket.encrypted !== true) return false
    connection.ownCertificate ??= readSocket(socket).ok
    return connection.ownCertificate
  }

  /**
   * A forwarded certificate: the connection's last outcome for these very headers, the
   * validation cache, the failure cache, or validate and map it.
   */
  #readForwarded(
    fwd: Extract<ForwardedRead, { kind: 'cert' }>,
    connection: ConnectionState,
    epoch: TrustEpoch,
    trace: AuthenticateContext | undefined,
  ): MaybePromise<Outcome> {
    const now = epoch.options.now()
    const last = connection.forwardedOutcome
    if (last !== undefined && last.read === fwd && now < last.expires) return last.outcome
    const key = fwd.cacheKey
    const cached = epoch.validated?.entry(key, now)
    if (cached !== undefined) {
      if (trace && trace.cached === 'none') trace.cached = 'cache'
      const outcome: Outcome = { ok: true, verified: cached.value }
      connection.forwardedOutcome = { read: fwd, outcome, expires: cached.expires }
      return outcome
    }
    const known = epoch.failedForwarded.get(key, now)
    if (known !== undefined) {
      if (trace && trace.cached === 'none') trace.cached = 'cache'
      return failed(known.code, known.reason)
    }
    // The connection's memo only saved re-reading the headers; the certificate is judged now.
    if (trace) trace.cached = 'none'
    const sent = forwardedCertificates(fwd)
    const format = epoch.options.forwarded?.preset.name ?? 'custom'
    const outcome =
      'ok' in sent
        ? sent
        : validateAndMap(
            epoch,
            sent.leaf,
            sent.hints,
            { type: 'forwarded', format, proxy: fwd.proxy },
            key,
            now,
          )
    // Only synchronous, stable failures: what a repeat of the same headers would get again.
    if (!(outcome instanceof Promise) && !outcome.ok && isStable(outcome))
      epoch.failedForwarded.set(key, outcome, now + FAILED_FORWARDED_TTL_MS)
    return outcome
  }

  /**
   * The socket's certificate: the connection's remembered outcome (successes and stable
   * failures; shared while pending), or read, validate and map it.
   */
  #readTls(
    socket: unknown,
    connection: ConnectionState,
    epoch: TrustEpoch,
    trace: AuthenticateContext | undefined,
  ): MaybePromise<Outcome> {
    if (connection.tls !== undefined) {
      if (trace) trace.cached = 'connection'
      return connection.tls
    }
    const outcome = this.#readTlsFresh(socket, epoch, trace)
    if (!(outcome instanceof Promise)) {
      if (isStable(outcome)) connection.tls = outcome
      return outcome
    }
    connection.tls = outcome
    const settle = (o: Outcome | undefined): void => {
      if (connection.tls === outcome) connection.tls = o !== undefined && isStable(o) ? o : undefined
    }
    outcome.then(settle, () => settle(undefined))
    return outcome
  }

  #readTlsFresh(
    socket: unknown,
    epoch: TrustEpoch,
    trace: AuthenticateContext | undefined,
  ): MaybePromise<Outcome> {
    const o = epoch.options
    const read = readSocket(socket)
    if (!read.ok) return read
    const now = o.now()
    if (!o.appTrust && (!read.authorized || read.authorizationError !== ''))
      return tlsRejection(read.der, read.authorizationError, o.eku, now, o.skewMs)
    const fingerprint = createHash('sha256').update(read.der).digest('hex')
    const cached = epoch.validated?.get(fingerprint, now)
    if (cached !== undefined) {
      if (trace) trace.cached = 'cache'
      return { ok: true, verified: cached }
    }
    const leaf = parseSent(read.der, 'the client certificate')
    if (!isParsed(leaf)) return leaf
    return validateAndMap(epoch, leaf, [], { type: 'tls' }, fingerprint, now, !o.appTrust)
  }

  /** Stage 4, admit: optional mode, the validity window at this request, revocation, policy (stage 3), the hook. */
  #admit(
    outcome: Outcome,
    request: RequestLike,
    options: JudgeOptions,
    epoch: TrustEpoch,
  ): MaybePromise<OptionalAuthResult> {
    if (!outcome.ok) {
      if (options.optional === true && outcome.code === 'ERR_CLIENT_CERT_MISSING' && outcome.absent === true)
        return { ok: true, principal: undefined }
      return { ok: false, error: this.reject(outcome.code, outcome.reason, request) }
    }
    const { verified } = outcome
    const o = epoch.options
    const late = checkVerifiedWindow(verified, o.now(), o.skewMs)
    if (late) return { ok: false, error: this.reject(late.code, late.reason, request) }
    const policy = options.policy ?? o.allow
    // Revocation is judged on every request, also for remembered outcomes: the checker keeps
    // its own caches, so a certificate revoked after the connection opened is refused next time.
    if (epoch.revocation === undefined || verified.path.length < 2)
      return this.#decide(verified.principal, policy, request, epoch)
    return epoch.revocation.check(verified.path).then((r) => {
      if (r.ok) return this.#decide(verified.principal, policy, request, epoch)
      const code = r.revoked ? 'ERR_CLIENT_CERT_REVOKED' : 'ERR_CLIENT_CERT_REVOCATION_UNAVAILABLE'
      return { ok: false, error: this.reject(code, r.reason, request) }
    })
  }

  /** The policy, then the hook (a method, not a closure: keep-alive requests allocate nothing). */
  #decide(
    principal: ClientPrincipal,
    policy: CompiledPolicy,
    request: RequestLike,
    epoch: TrustEpoch,
  ): MaybePromise<AuthResult> {
    const decision = this.#authorize(principal, policy, request, epoch)
    return decision instanceof Promise
      ? decision.then((d) => this.#announce(d, request, epoch))
      : this.#announce(decision, request, epoch)
  }

  #announce(decision: AuthResult, request: RequestLike, epoch: TrustEpoch): AuthResult {
    if (decision.ok) epoch.options.onAuthenticated?.(decision.principal, { request })
    return decision
  }

  /** Stage 3, authorize: the principal against a policy. Never throws. */
  #authorize(
    principal: ClientPrincipal,
    policy: CompiledPolicy,
    request: unknown,
    epoch: TrustEpoch,
  ): MaybePromise<AuthResult> {
    let compiled: CompiledPolicy | undefined
    try {
      compiled = isCompiledPolicy(policy) ? policy : compilePolicy(policy)
      if (compiled.admitsAnyone && anchoredPublicly(principal, request, epoch, peerChainOf))
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
    const fix = publicRootFix(compiled.description)
    if (!this.#warnedPublicRoot) {
      this.#warnedPublicRoot = true
      console.warn(`clientcert: ERR_CLIENT_CERT_MISCONFIGURED: ${fix}`)
    }
    return {
      ok: false,
      error: this.reject('ERR_CLIENT_CERT_MISCONFIGURED', `"${principal.id}": ${fix}`, request),
    }
  }

  #policyThrew(err: unknown, compiled: CompiledPolicy | undefined, request: unknown): AuthResult {
    const reason = `policy ${compiled?.description ?? '(invalid)'} threw: ${describe(err)}`
    return { ok: false, error: this.reject('ERR_CLIENT_CERT_INTERNAL', reason, request) }
  }

  #verdict(
    allowed: boolean,
    principal: ClientPrincipal,
    compiled: CompiledPolicy,
    request: unknown,
  ): AuthResult {
    if (!allowed) {
      const reason = `"${principal.id}" (${principal.kind}) is not allowed by ${compiled.description}`
      return { ok: false, error: this.reject('ERR_CLIENT_CERT_NOT_ALLOWED', reason, request) }
    }
    // One frozen answer per principal: keep-alive requests allocate nothing here.
    let ok = this.#allowed.get(principal)
    if (ok === undefined) {
      ok = Object.freeze({ ok: true, principal })
      this.#allowed.set(principal, ok)
    }
    return ok
  }

  #internal(err: unknown, request: RequestLike): OptionalAuthResult {
    return {
      ok: false,
      error: this.reject('ERR_CLIENT_CERT_INTERNAL', `authentication threw: ${describe(err)}`, request),
    }
  }

  updateTrust(update: TrustUpdate): void {
    // The whole new epoch is built (and validated) first; only then swapped, so a bad update
    // leaves the old rules intact.
    const previous = this.#epoch
    const next = nextEpoch(previous, update)
    this.#epoch = next
    this.#settles = settlesUnder(next)
    previous.revocation?.close()
    publishTrustUpdated(() => this[DESCRIBE_TRUST]())
  }

  [DESCRIBE_TRUST](): TrustDescription {
    return describeEpoch(this.#epoch)
  }

  reject(code: ClientCertErrorCode, reason: string, request?: unknown): ClientCertError {
    const o = this.#epoch.options
    const error = new ClientCertError(code, reason)
    const status =
      error.category === 'unauthenticated'
        ? o.statusUnauthenticated
        : error.category === 'forbidden'
          ? o.statusForbidden
          : error.status
    const out = error.withStatus(status)
    try {
      o.onRejected?.(out, { request })
    } catch {
      // An audit hook failing must not turn a rejection into anything else.
    }
    return out
  }
}

/**
 * Whether a connection can settle at all under `epoch` (see `#settle`): nothing per request
 * besides the clock and the request's headers — no revocation checking, no request-header
 * source, a forwarded source only with proxies judged by address alone (not by a proxy
 * certificate, whose window would need checking, nor behind a Web trust boundary, whose views
 * are fresh per request), no `onAuthenticated` hook, no `requireServernameMatch` (server names
 * marked on the listener are still found per connection), and a policy of declarative parts.
 */
function settlesUnder(epoch: TrustEpoch): boolean {
  const o = epoch.options
  return (
    epoch.revocation === undefined &&
    (o.forwarded === undefined ||
      (o.forwarded.proxyCertificate === undefined &&
        o.forwarded.boundary === undefined &&
        o.forwarded.proxies !== undefined)) &&
    o.requestHeader === undefined &&
    o.onAuthenticated === undefined &&
    !o.requireServernameMatch &&
    isPurePolicy(o.allow)
  )
}

const TLS_SOURCE = Object.freeze({ type: 'tls' as const })

function forwardedSource(o: TrustEpoch['options'], proxy: string): DiagnosticsSource {
  return { type: 'forwarded', preset: o.forwarded?.preset.name ?? 'none', proxy }
}

function isObject(v: unknown): v is Record<PropertyKey, unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null
}
