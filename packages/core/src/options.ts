import type { ParsedCertificate } from './cert/parse.js'
import { OID } from './cert/parse.js'
import { bool, intIn, onlyKeys, optionalFn, plainObject } from './config-check.js'
import { ClientCertConfigError, type ClientCertError } from './errors.js'
import { IDENTITY_NAMES, type IdentityMapping } from './identity/map.js'
import type { ClientPrincipal } from './identity/principal.js'
import { type AllowPolicy, type CompiledPolicy, compilePolicy } from './policy/match.js'
import {
  type ResolvedRevocation,
  type RevocationOptions,
  resolveRevocationOptions,
} from './revocation/index.js'
import { type ForwardedOptions, type ResolvedForwarded, resolveForwarded } from './sources/forwarded/index.js'
import { assertProxyTrustApart, type ProxyJudgeContext } from './sources/proxy-identity.js'
import {
  type RequestHeaderOptions,
  type ResolvedRequestHeader,
  resolveRequestHeader,
} from './sources/request-header.js'
import { type CertificateInput, loadCertificates } from './trust/load.js'
import { type Pin, parsePin } from './trust/pins.js'
import { isBundledCertificate } from './trust/public-roots.js'
import { type ResolvedSpiffeTrust, resolveSpiffeTrust, type SpiffeTrustOptions } from './trust/spiffe.js'
import type { EkuRule } from './validate/leaf.js'
import { checkKeyProfile } from './validate/profile.js'

/** What an audit hook learns about the request. */
export interface HookContext<R = unknown> {
  /**
   * The request object the adapter passed in: Express's `req` with `@clientcert/express` and
   * Passport, Node's request (`request.raw`) with Fastify and NestJS. Typed by the adapter's
   * options; `unknown` for the core alone.
   */
  readonly request: R
}

/**
 * Application-level trust. When set, clientcert validates the certificate path itself (for
 * servers that run `rejectUnauthorized: false`, e.g. optional certificates or self-signed
 * clients). When absent, a socket certificate is accepted only if the TLS stack verified it.
 */
export interface TrustOptions {
  /** CA certificates that end a path (PEM, DER, or X509Certificate). */
  readonly anchors?: CertificateInput | readonly CertificateInput[]
  /** Intermediate CAs to build paths through (never trusted on their own). */
  readonly intermediates?: CertificateInput | readonly CertificateInput[]
  /** Self-signed client certificates, pinned by certificate SHA-256 hex or SPKI `sha256/<base64>`. */
  readonly pins?: readonly string[]
  /**
   * Per-trust-domain SPIFFE bundles: a leaf with a SPIFFE ID is validated only against its trust
   * domain's bundle, a leaf without one only against `anchors`. See docs/guide/spiffe.md.
   */
  readonly spiffe?: SpiffeTrustOptions
}

export interface EkuOptions {
  /** `'clientAuth'` (default), `'serverAuth'`, a dotted OID, or `null` to skip the EKU check. */
  readonly required?: 'clientAuth' | 'serverAuth' | (string & {}) | null
  /** Accept anyExtendedKeyUsage in place of the required EKU. Default false. */
  readonly allowAny?: boolean
  /** Accept a leaf with no EKU extension. Default false (Kubernetes and SPIFFE practice). */
  readonly allowMissing?: boolean
}

export interface CacheOptions {
  /** Most validated certificates remembered. Default 10,000. */
  readonly max?: number
  /** Longest a validation outcome is remembered, in ms (never past the path's notAfter). Default 10 minutes. */
  readonly ttlMs?: number
}

export interface StatusOptions {
  /** Status for authentication failures. Default 401 (some stacks use 403 throughout). */
  readonly unauthenticated?: number
  /** Status for a valid client that a policy does not allow. Default 403. */
  readonly forbidden?: number
}

export type SourceOptions = ForwardedSourceOptions | RequestHeaderSourceOptions

export interface ForwardedSourceOptions {
  readonly forwarded: ForwardedOptions
  /** Also authenticate connections that present their own TLS client certificate. Default false. */
  readonly tls?: boolean
}

/**
 * Kubernetes request-header identity (X-Remote-User, X-Remote-Group, X-Remote-Extra-*) from a
 * front proxy that proves itself with its own certificate. See docs/guide/front-proxy.md.
 */
export interface RequestHeaderSourceOptions {
  readonly requestHeader: RequestHeaderOptions
  /**
   * Also authenticate direct clients by their own TLS client certificate (needs `trust`, apart
   * from the proxy CA). Default false.
   */
  readonly tls?: boolean
}

/** Options of `createClientCertAuthenticator`. Unknown keys are a configuration error. */
export interface ClientCertOptions<R = unknown> {
  /**
   * Where the certificate comes from: `'tls'` (default, the request's TLS socket), or
   * `{ forwarded: {...} }` for a header set by an allowlisted TLS-terminating proxy (add
   * `tls: true` to also accept direct TLS clients; their socket certificate always wins).
   */
  readonly source?: 'tls' | SourceOptions
  readonly trust?: TrustOptions
  /** Which certificate field becomes `principal.id`. Default `'fingerprint'`. */
  readonly identity?: IdentityMapping
  /** Who may pass by default. Required: use `{ authenticated: true }` to admit every valid client. */
  readonly allow: AllowPolicy | CompiledPolicy
  readonly eku?: EkuOptions
  /** Clock skew tolerated on validity dates, in seconds (0–300). Default 0. */
  readonly clockToleranceSec?: number
  /** Most CA certificates in a path (intermediates + anchor), 1–16. Default 8. */
  readonly maxChainDepth?: number
  /** The clock. Default `() => new Date()`. */
  readonly now?: () => Date | number
  readonly status?: StatusOptions
  /** Validation cache; `false` disables it. */
  readonly cache?: CacheOptions | false
  /** Called for every authenticated request (audit log). A throw rejects the request. */
  readonly onAuthenticated?: (principal: ClientPrincipal, context: HookContext<R>) => void
  /** Called for every rejected request with the full reason. A throw is ignored. */
  readonly onRejected?: (error: ClientCertError, context: HookContext<R>) => void
  /** CRL and OCSP checks for app-level trust; fail closed by default. See docs/guide/revocation.md. */
  readonly revocation?: RevocationOptions
  /**
   * `true`: on every TLS connection, a request whose Host / `:authority` is not the TLS server
   * name (SNI) gets 421 `ERR_CLIENT_CERT_MISDIRECTED`. For servers that choose client CAs per
   * name with their own `SNICallback`; servers built with `createMtlsServerOptions({ sni })` are
   * recognised and checked without it. Only `true` is accepted (see docs/guide/tls-server.md).
   */
  readonly requireServernameMatch?: true
  /** What the `node:diagnostics_channel` events may carry (see docs/guide/observability.md). */
  readonly diagnostics?: DiagnosticsOptions
}

export interface DiagnosticsOptions {
  /**
   * Add the presented certificate's DER to `clientcert.authenticate` contexts (`certificate.der`).
   * Default false: a certificate names a person or a host, and subscribers ship what they get.
   */
  readonly includeCertificate?: boolean
}

/** Options after validation, in the shapes the core uses. */
export interface ResolvedOptions {
  readonly anchors: readonly ParsedCertificate[]
  readonly intermediates: readonly ParsedCertificate[]
  readonly pins: readonly Pin[]
  /** Per-trust-domain stores when `trust.spiffe` is set (`anchors` then holds every bundle too). */
  readonly spiffe: ResolvedSpiffeTrust | undefined
  /** True when the app validates paths itself (anchors or pins configured). */
  readonly appTrust: boolean
  /** The forwarded source, when configured. */
  readonly forwarded: ResolvedForwarded | undefined
  /** The request-header source, when configured (never with `forwarded`). */
  readonly requestHeader: ResolvedRequestHeader | undefined
  /** Whether socket certificates are accepted. */
  readonly tlsSource: boolean
  readonly revocation: ResolvedRevocation | undefined
  readonly identity: IdentityMapping
  readonly allow: CompiledPolicy
  readonly eku: EkuRule
  readonly skewMs: number
  readonly maxChainDepth: number
  readonly now: () => number
  readonly statusUnauthenticated: number
  readonly statusForbidden: number
  readonly cache: { readonly max: number; readonly ttlMs: number } | false
  readonly onAuthenticated?: ClientCertOptions['onAuthenticated']
  readonly onRejected?: ClientCertOptions['onRejected']
  readonly requireServernameMatch: boolean
  readonly includeCertificate: boolean
}

/** The top-level option names of `createClientCertAuthenticator()`. */
export const CORE_OPTION_NAMES = [
  'source',
  'trust',
  'identity',
  'allow',
  'eku',
  'clockToleranceSec',
  'maxChainDepth',
  'now',
  'status',
  'cache',
  'onAuthenticated',
  'onRejected',
  'revocation',
  'requireServernameMatch',
  'diagnostics',
] as const

/** Above this many anchors a trust set looks like a public root store. */
const PUBLIC_STORE_SIZE = 20

export function resolveOptions(input: unknown): ResolvedOptions {
  const o = plainObject(input, 'options')
  onlyKeys(o, CORE_OPTION_NAMES, '')
  const skewMs = intIn(o.clockToleranceSec, 'clockToleranceSec', 0, 300, 0) * 1000
  const maxChainDepth = intIn(o.maxChainDepth, 'maxChainDepth', 1, 16, 8)
  const now = resolveNow(o.now)
  const { forwarded, requestHeader, tlsSource } = resolveSource(o.source, { now, skewMs, maxChainDepth })
  const trust = o.trust === undefined ? {} : plainObject(o.trust, 'trust')
  onlyKeys(trust, ['anchors', 'intermediates', 'pins', 'spiffe'], 'trust.')
  const plainAnchors = loadCertificates(trust.anchors, 'trust.anchors')
  if (trust.anchors !== undefined && plainAnchors.length === 0)
    throw new ClientCertConfigError('trust.anchors', 'is empty')
  plainAnchors.forEach((a, i) => {
    if (a.basicConstraints?.ca !== true && a.version === 3) {
      throw new ClientCertConfigError(
        `trust.anchors[${i}]`,
        `"${a.subject.dn}" is not a CA certificate; pin self-signed clients with trust.pins`,
      )
    }
  })
  const intermediates = loadCertificates(trust.intermediates, 'trust.intermediates')
  const spiffe = resolveSpiffeTrust(trust.spiffe, plainAnchors, intermediates)
  // Every anchor in one list for what looks at all of them (public roots, revocation, counts);
  // path building takes its store from storeFor(), per trust domain.
  const anchors = spiffe ? [...plainAnchors, ...[...spiffe.bundles.values()].flat()] : plainAnchors
  // Configured keys verify client chains too: the same key profile as any issuer, at startup.
  for (const [list, name] of [
    [anchors, 'trust.anchors'],
    [intermediates, 'trust.intermediates'],
  ] as const) {
    list.forEach((c, i) => {
      const bad = checkKeyProfile(c)
      if (bad) throw new ClientCertConfigError(`${name}[${i}]`, bad.reason)
    })
  }
  const proxyRules = (forwarded ?? requestHeader)?.proxyCertificate?.rules
  if (proxyRules !== undefined) assertProxyTrustApart(proxyRules, [...anchors, ...intermediates])
  if (trust.intermediates !== undefined && anchors.length === 0) {
    throw new ClientCertConfigError('trust.intermediates', 'needs trust.anchors to build paths to')
  }
  let pins: Pin[] = []
  if (trust.pins !== undefined) {
    if (!Array.isArray(trust.pins) || trust.pins.length === 0)
      throw new ClientCertConfigError('trust.pins', 'must be a non-empty array')
    pins = trust.pins.map((p, i) => parsePin(p, `trust.pins[${i}]`))
  }
  if (o.trust !== undefined && anchors.length === 0 && pins.length === 0 && spiffe === undefined) {
    throw new ClientCertConfigError(
      'trust',
      "set trust.anchors or trust.pins, or leave trust out to rely on the TLS server's verification",
    )
  }

  // A direct client next to a certificate-authenticated proxy: only app-level trust can tell a
  // client certificate from a proxy one (the TLS server's `ca` may well hold both CAs).
  if (
    requestHeader !== undefined &&
    tlsSource &&
    anchors.length === 0 &&
    pins.length === 0 &&
    spiffe === undefined
  )
    throw new ClientCertConfigError(
      'trust',
      'source.requestHeader with tls: true validates direct clients in the application: set trust.anchors (or trust.pins), apart from the proxy CA',
    )
  if (forwarded !== undefined && anchors.length === 0 && pins.length === 0 && spiffe === undefined) {
    throw new ClientCertConfigError(
      'trust',
      'forwarded certificates are always validated by the application: set trust.anchors (or trust.pins)',
    )
  }
  const identity = o.identity ?? 'fingerprint'
  if (typeof identity !== 'function' && !(IDENTITY_NAMES as readonly unknown[]).includes(identity)) {
    throw new ClientCertConfigError('identity', `expected a function or one of ${IDENTITY_NAMES.join(', ')}`)
  }
  if (o.allow === undefined) {
    throw new ClientCertConfigError(
      'allow',
      'is required; use { authenticated: true } to admit every client with a valid certificate',
    )
  }
  const allow = compilePolicy(o.allow as AllowPolicy, 'allow')
  if (anchors.length > PUBLIC_STORE_SIZE && allow.admitsAnyone) {
    throw new ClientCertConfigError(
      'allow',
      `${anchors.length} anchors look like a public root store; a public CA vouches for names, not clients, so name who is allowed`,
    )
  }
  const publicAnchor = allow.admitsAnyone ? anchors.find(isBundledCertificate) : undefined
  if (publicAnchor !== undefined) {
    throw new ClientCertConfigError(
      'allow',
      `trust.anchors holds "${publicAnchor.subject.dn}", one of Node's bundled public roots; a public CA vouches for names, not clients, so name who is allowed`,
    )
  }

  return {
    anchors,
    intermediates,
    pins,
    spiffe,
    appTrust: anchors.length > 0 || pins.length > 0 || spiffe !== undefined,
    forwarded,
    requestHeader,
    tlsSource,
    revocation: resolveRevocation(o.revocation, spiffe ? Math.max(1, anchors.length) : anchors.length),
    identity: identity as IdentityMapping,
    allow,
    eku: resolveEku(o.eku),
    skewMs,
    maxChainDepth,
    now,
    ...resolveStatus(o.status),
    cache: resolveCache(o.cache),
    onAuthenticated: optionalFn(o.onAuthenticated, 'onAuthenticated') as ResolvedOptions['onAuthenticated'],
    onRejected: optionalFn(o.onRejected, 'onRejected') as ResolvedOptions['onRejected'],
    requireServernameMatch: resolveServernameMatch(o.requireServernameMatch),
    includeCertificate: resolveDiagnostics(o.diagnostics),
  }
}

function resolveDiagnostics(v: unknown): boolean {
  if (v === undefined) return false
  const d = plainObject(v, 'diagnostics')
  onlyKeys(d, ['includeCertificate'], 'diagnostics.')
  return bool(d.includeCertificate, 'diagnostics.includeCertificate')
}

function resolveServernameMatch(v: unknown): boolean {
  if (v === undefined) return false
  if (v !== true) {
    // No way to switch the check off: createMtlsServerOptions({ sni }) servers always need it.
    throw new ClientCertConfigError(
      'requireServernameMatch',
      'must be true (or left out); servers from createMtlsServerOptions({ sni }) are always checked',
    )
  }
  return true
}

function resolveRevocation(v: unknown, anchors: number): ResolvedRevocation | undefined {
  if (v === undefined) return undefined
  // Revocation is checked along a validated path; without anchors there is no issuer to ask.
  if (anchors === 0)
    throw new ClientCertConfigError('revocation', 'needs trust.anchors (app-level path validation)')
  return resolveRevocationOptions(v, 'revocation')
}

function resolveSource(
  v: unknown,
  context: ProxyJudgeContext,
): {
  forwarded: ResolvedForwarded | undefined
  requestHeader: ResolvedRequestHeader | undefined
  tlsSource: boolean
} {
  if (v === undefined || v === 'tls')
    return { forwarded: undefined, requestHeader: undefined, tlsSource: true }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ClientCertConfigError(
      'source',
      'expected "tls", { forwarded: { format, trustedProxies }, tls?: boolean } or { requestHeader: { proxyCertificate }, tls?: boolean }',
    )
  }
  const s = v as Record<string, unknown>
  onlyKeys(s, ['forwarded', 'requestHeader', 'tls'], 'source.')
  if (s.forwarded !== undefined && s.requestHeader !== undefined)
    throw new ClientCertConfigError(
      'source',
      'forwarded and requestHeader are two sources; an authenticator reads one (build one per proxy kind)',
    )
  const tlsSource = bool(s.tls, 'source.tls')
  if (s.requestHeader !== undefined)
    return { forwarded: undefined, requestHeader: resolveRequestHeader(s.requestHeader, context), tlsSource }
  if (s.forwarded === undefined)
    throw new ClientCertConfigError('source.forwarded', 'is required in an object source')
  return { forwarded: resolveForwarded(s.forwarded, context), requestHeader: undefined, tlsSource }
}

const EKU_NAMES: Readonly<Record<string, string>> = {
  clientAuth: OID.ekuClientAuth,
  serverAuth: OID.ekuServerAuth,
}

function resolveEku(v: unknown): EkuRule {
  const e = v === undefined ? {} : plainObject(v, 'eku')
  onlyKeys(e, ['required', 'allowAny', 'allowMissing'], 'eku.')
  let required: string | null = OID.ekuClientAuth
  if (e.required === null) required = null
  else if (e.required !== undefined) {
    if (typeof e.required !== 'string')
      throw new ClientCertConfigError('eku.required', 'expected "clientAuth", "serverAuth", an OID or null')
    required =
      (Object.hasOwn(EKU_NAMES, e.required) ? EKU_NAMES[e.required] : undefined) ??
      (/^[0-2](\.(0|[1-9]\d*))+$/.test(e.required) ? e.required : '')
    if (required === '')
      throw new ClientCertConfigError(
        'eku.required',
        `"${e.required}" is neither a known EKU name nor a dotted OID`,
      )
  }
  return {
    required,
    allowAny: bool(e.allowAny, 'eku.allowAny'),
    allowMissing: bool(e.allowMissing, 'eku.allowMissing'),
  }
}

function resolveNow(v: unknown): () => number {
  if (v === undefined) return Date.now
  if (typeof v !== 'function')
    throw new ClientCertConfigError('now', 'must be a function returning a Date or epoch milliseconds')
  const fn = v as () => unknown
  return () => {
    const t = fn()
    const ms = t instanceof Date ? t.getTime() : t
    // A broken clock must not make certificates look valid.
    if (typeof ms !== 'number' || !Number.isFinite(ms))
      throw new TypeError('options.now() returned no valid time')
    return ms
  }
}

function resolveStatus(v: unknown): { statusUnauthenticated: number; statusForbidden: number } {
  const s = v === undefined ? {} : plainObject(v, 'status')
  onlyKeys(s, ['unauthenticated', 'forbidden'], 'status.')
  return {
    statusUnauthenticated: intIn(s.unauthenticated, 'status.unauthenticated', 400, 499, 401),
    statusForbidden: intIn(s.forbidden, 'status.forbidden', 400, 499, 403),
  }
}

function resolveCache(v: unknown): ResolvedOptions['cache'] {
  if (v === false) return false
  const c = v === undefined ? {} : plainObject(v, 'cache')
  onlyKeys(c, ['max', 'ttlMs'], 'cache.')
  return {
    max: intIn(c.max, 'cache.max', 1, 10_000_000, 10_000),
    ttlMs: intIn(c.ttlMs, 'cache.ttlMs', 1, 86_400_000, 600_000),
  }
}
