import diagnostics_channel from 'node:diagnostics_channel'
import type { OptionalAuthResult } from './api.js'
import type { ClientCertErrorCode } from './errors.js'
import type { ClientPrincipal, PrincipalKind } from './identity/principal.js'
import type { MaybePromise } from './maybe-promise.js'

/**
 * clientcert's `node:diagnostics_channel` events. Channels are global by name, so the ESM and
 * CommonJS copies of the core publish to the same ones, and subscribers (APMs,
 * `@clientcert/otel`) need no dependency on this package. Nothing is built or published while
 * a channel has no subscriber. No message carries certificate bytes unless
 * `diagnostics: { includeCertificate: true }` is set.
 */
export const CLIENTCERT_CHANNELS = Object.freeze({
  /** TracingChannel (`tracing:clientcert.authenticate:start|end|asyncStart|asyncEnd|error`) around each judgement. */
  authenticate: 'clientcert.authenticate',
  /** Plain channel: `updateTrust()` swapped the trust settings. */
  trustUpdated: 'clientcert.trust.updated',
  /** Plain channel: a forwarded-certificate header was refused (an attack signal). */
  forwardedRefused: 'clientcert.forwarded.refused',
  /** TracingChannel around each CRL download and OCSP request. */
  revocationFetch: 'clientcert.revocation.fetch',
} as const)

/** Where the judged certificate came from (or was to come from). */
export type DiagnosticsSource =
  | { readonly type: 'tls' }
  | {
      readonly type: 'forwarded'
      /** The forwarded format (preset name, or 'custom'); 'none' when no forwarded source is configured. */
      readonly preset: string
      /** The peer that sent the header: an allowlisted proxy, or the stranger refused. */
      readonly proxy: string
    }

/** The presented certificate, as far as the judgement read it. Never its bytes unless asked. */
export interface DiagnosticsCertificate {
  /** RFC 4514 subject DN. */
  readonly subject: string
  readonly issuer: string
  /** Lower-case hex SHA-256 of the DER. */
  readonly sha256: string
  readonly serialNumber: string
  /** ISO 8601. */
  readonly notBefore: string
  readonly notAfter: string
  /** The DER, only with `diagnostics: { includeCertificate: true }`. */
  readonly der?: Uint8Array
}

/** How a judgement ended. */
export type DiagnosticsOutcome =
  | {
      readonly ok: true
      /** Undefined for an optional-mode request without a certificate. */
      readonly principal: { readonly id: string; readonly kind: PrincipalKind } | undefined
    }
  | {
      readonly ok: false
      readonly code: ClientCertErrorCode
      readonly reason: string
      readonly status: number
    }

/**
 * The context of `clientcert.authenticate`, one object from `start` to the last event. The
 * judgement is over at `end` when `outcome` is set there (answered synchronously: a connection
 * already judged, synchronous policies); otherwise at `asyncEnd`.
 */
export interface AuthenticateContext {
  /** Unset when the request was refused before a source was read (421 misdirected). */
  source?: DiagnosticsSource
  /** `'connection'`: this connection's remembered outcome; `'cache'`: the validation (or failure) cache; `'none'`: validated now. */
  cached: 'connection' | 'cache' | 'none'
  /** TLS facts of the connection, when it is a TLS socket. */
  tls?: { readonly protocol: string | undefined; readonly resumed: boolean }
  certificate?: DiagnosticsCertificate
  outcome?: DiagnosticsOutcome
  /** Wall time of the judgement in milliseconds (set with `outcome`). */
  durationMs?: number
}

/** A trust anchor or intermediate and its validity. */
export interface TrustCertificateDescription {
  readonly subject: string
  readonly sha256: string
  /** ISO 8601. */
  readonly notBefore: string
  readonly notAfter: string
}

/** A CRL the revocation checker holds. */
export interface CrlDescription {
  readonly issuer: string
  /** `'configured'` (revocation.crls) or `'fetched'` (a distribution point, while cached). */
  readonly origin: 'configured' | 'fetched'
  /** The distribution point, for fetched CRLs. */
  readonly url?: string
  readonly thisUpdate: string
  /** ISO 8601; absent when the CRL names none. */
  readonly nextUpdate?: string
}

/** What `describeTrust()` and `clientcert.trust.updated` report: expiry facts, no key material. */
export interface TrustDescription {
  readonly anchors: readonly TrustCertificateDescription[]
  readonly intermediates: readonly TrustCertificateDescription[]
  /** How many self-signed clients are pinned. */
  readonly pins: number
  readonly crls: readonly CrlDescription[]
  /** The front-proxy CA (`proxyCertificate.anchors`, docs/guide/front-proxy.md); empty without one. */
  readonly proxyAnchors: readonly TrustCertificateDescription[]
  readonly proxyIntermediates: readonly TrustCertificateDescription[]
}

/** The message of `clientcert.trust.updated`. */
export interface TrustUpdatedMessage {
  readonly trust: TrustDescription
}

/** The message of `clientcert.forwarded.refused`. Never the header's value. */
export interface ForwardedRefusedMessage {
  /** The peer's address, or 'unix' / 'unknown'. */
  readonly peer: string
  /** The header name as received (lower case). */
  readonly header: string
  /** The configured forwarded format; undefined when none is configured (TLS-only servers refuse every such header). */
  readonly preset: string | undefined
  /**
   * `'untrusted-peer'`: sent by a peer that is not an allowlisted proxy. `'spelling'`: another
   * spelling of the proxy's header, which the proxy does not strip. `'own-certificate'`: sent on
   * a connection that presents its own client certificate.
   */
  readonly why: 'untrusted-peer' | 'spelling' | 'own-certificate'
}

/** The context of `clientcert.revocation.fetch`. */
export interface RevocationFetchContext {
  readonly kind: 'crl' | 'ocsp'
  readonly url: string
  /** Set before `asyncStart`: `ok` with the bytes received, or the failure. */
  outcome?: { readonly ok: true; readonly bytes: number } | { readonly ok: false; readonly reason: string }
  durationMs?: number
}

const authenticateChannel = diagnostics_channel.tracingChannel<unknown, AuthenticateContext>(
  CLIENTCERT_CHANNELS.authenticate,
)
const trustUpdatedChannel = diagnostics_channel.channel(CLIENTCERT_CHANNELS.trustUpdated)
const forwardedRefusedChannel = diagnostics_channel.channel(CLIENTCERT_CHANNELS.forwardedRefused)
const revocationFetchChannel = diagnostics_channel.tracingChannel<unknown, RevocationFetchContext>(
  CLIENTCERT_CHANNELS.revocationFetch,
)

/** Whether anyone listens to judgements: the one check on the hot path when nobody does. */
export function tracingAuthenticate(): boolean {
  return authenticateChannel.hasSubscribers
}

/**
 * Runs one judgement inside `clientcert.authenticate`. `finish` fills the outcome into the
 * context before the closing event. The judgement never throws, so no `error` event.
 */
export function traceAuthenticate(
  context: AuthenticateContext,
  run: () => MaybePromise<OptionalAuthResult>,
  finish: (answer: OptionalAuthResult) => void,
): MaybePromise<OptionalAuthResult> {
  const started = performance.now()
  const done = (answer: OptionalAuthResult): void => {
    finish(answer)
    context.durationMs = performance.now() - started
  }
  authenticateChannel.start.publish(context)
  const answer = run()
  if (!(answer instanceof Promise)) {
    done(answer)
    authenticateChannel.end.publish(context)
    return answer
  }
  authenticateChannel.end.publish(context)
  return answer.then((a) => {
    done(a)
    authenticateChannel.asyncStart.publish(context)
    authenticateChannel.asyncEnd.publish(context)
    return a
  })
}

/** One frozen summary per principal (shared by a connection's requests and cache hits). */
const summaries = new WeakMap<ClientPrincipal, DiagnosticsCertificate>()
const summariesWithDer = new WeakMap<ClientPrincipal, DiagnosticsCertificate>()

/** The certificate part of a context, from an authenticated principal. */
export function describePrincipal(principal: ClientPrincipal, includeDer: boolean): DiagnosticsCertificate {
  const memo = includeDer ? summariesWithDer : summaries
  let summary = memo.get(principal)
  if (summary === undefined) {
    summary = Object.freeze({
      subject: principal.subject.dn,
      issuer: principal.issuer.dn,
      sha256: principal.fingerprint256,
      serialNumber: principal.serialNumber,
      notBefore: principal.notBefore.toISOString(),
      notAfter: principal.notAfter.toISOString(),
      // A request-header principal has no certificate of its own to include.
      ...(includeDer && principal.kind !== 'request-header'
        ? { der: new Uint8Array(principal.certificate.rawData) }
        : {}),
    })
    memo.set(principal, summary)
  }
  return summary
}

export function publishTrustUpdated(describe: () => TrustDescription): void {
  if (trustUpdatedChannel.hasSubscribers)
    trustUpdatedChannel.publish({ trust: describe() } satisfies TrustUpdatedMessage)
}

export function publishForwardedRefused(make: () => ForwardedRefusedMessage): void {
  if (forwardedRefusedChannel.hasSubscribers) forwardedRefusedChannel.publish(make())
}

/** Runs one CRL or OCSP fetch inside `clientcert.revocation.fetch`. */
export function traceRevocationFetch(
  kind: 'crl' | 'ocsp',
  url: string,
  fetch: () => Promise<Uint8Array>,
): Promise<Uint8Array> {
  if (!revocationFetchChannel.hasSubscribers) return fetch()
  const context: RevocationFetchContext = { kind, url }
  const started = performance.now()
  let body: Uint8Array | undefined
  // The traced function returns nothing, so the context's `result` never holds response bytes.
  const traced = revocationFetchChannel.tracePromise(async (): Promise<void> => {
    try {
      body = await fetch()
      context.outcome = { ok: true, bytes: body.length }
    } catch (err) {
      context.outcome = { ok: false, reason: err instanceof Error ? err.message : String(err) }
      throw err
    } finally {
      context.durationMs = performance.now() - started
    }
  }, context)
  return traced.then(() => body as Uint8Array)
}

/** A peer address for messages: the address, 'unix' for a Unix-socket peer, 'unknown' otherwise. */
export function peerName(remote: unknown): string {
  return typeof remote === 'string' ? remote : remote === undefined ? 'unix' : 'unknown'
}
