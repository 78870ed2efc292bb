import { createHash, timingSafeEqual } from 'node:crypto'
import { resolveAuthenticator } from '../adapter/options.js'
import type { NodeRequestView } from '../adapter/view.js'
import type { ClientCertAuthenticator } from '../api.js'
import { ClientCertConfigError, ClientCertError } from '../errors.js'
import type { ClientCertOptions, HookContext } from '../options.js'
import { BOUNDARY, boundarySocket, type ForwardedOptions } from './forwarded/index.js'

/**
 * Who vouches that a forwarded-certificate header came from the proxy, where the proxy cannot
 * be told by its address (Bun, Deno, Cloudflare Workers: a `Request` has no socket):
 *
 * - `'cloudflare'`: the app is reachable only through Cloudflare (a Worker, or an origin behind
 *   Cloudflare Tunnel), and a Transform Rule sets the header on every request, so a client's
 *   copy is always replaced.
 * - `{ sharedSecretHeader, secret }`: the proxy adds this header with this secret to every
 *   request; without it (compared in constant time) no forwarded header is believed.
 */
export type TrustedBoundary = 'cloudflare' | { readonly sharedSecretHeader: string; readonly secret: string }

/** The forwarded source on a Web runtime: as on Node, but the trust boundary replaces the address allowlist. */
export type WebForwardedOptions = Omit<
  ForwardedOptions,
  'trustedProxies' | 'allowUnixSocket' | 'proxyCertificate'
>

/** Options of `createWebRequestAuthenticator()`: the core options, a forwarded source and its boundary. */
export type WebClientCertOptions = Omit<ClientCertOptions, 'source'> & {
  readonly forwarded: WebForwardedOptions
  /** Required: the explicit trust boundary (see {@link TrustedBoundary}). */
  readonly trustedBoundary: TrustedBoundary
}

/** What the Web source reads from a `Request` (or anything with Web `Headers`). */
export interface WebRequestLike {
  readonly headers: { forEach(callback: (value: string, name: string) => void): void }
}

/** An authenticator for Web `Request`s, and the view of a request it judges. */
export interface WebRequestAuthenticator {
  /** The core authenticator (forwarded source only); hand it views from {@link viewOf}. */
  readonly authenticator: ClientCertAuthenticator
  /** The boundary's label, as in `principal.source.proxy` (`boundary:<label>`). */
  readonly boundary: string
  /**
   * The request as the core reads it: its headers (lower-case names; repeated lines arrive
   * joined with ", ") and, in place of a socket, the boundary's verdict for this request.
   */
  viewOf(request: WebRequestLike): NodeRequestView & object
}

/** A shared secret shorter than this is refused: it must be a random value, not a password. */
const MIN_SECRET_LENGTH = 32

/**
 * Forwarded-certificate authentication for runtimes without a Node socket. Throws
 * `ClientCertConfigError` without an explicit `trustedBoundary`: on a Web runtime nothing else
 * tells the proxy's header from a client's.
 */
export function createWebRequestAuthenticator(options: WebClientCertOptions): WebRequestAuthenticator {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new ClientCertConfigError('options', 'must be an object')
  const { trustedBoundary, forwarded, ...core } = options as WebClientCertOptions & { source?: unknown }
  if ('source' in core)
    throw new ClientCertConfigError(
      'source',
      'is not used on a Web runtime; set forwarded and trustedBoundary',
    )
  const boundary = resolveBoundary(trustedBoundary)
  if (typeof forwarded !== 'object' || forwarded === null || Array.isArray(forwarded))
    throw new ClientCertConfigError(
      'forwarded',
      'is required: { format, ... } of the proxy that sets the header',
    )
  for (const key of ['trustedProxies', 'allowUnixSocket']) {
    if (key in forwarded)
      throw new ClientCertConfigError(
        `forwarded.${key}`,
        'has no meaning on a Web runtime (there is no peer address); trustedBoundary replaces it',
      )
  }
  const authenticator = resolveAuthenticator({
    ...core,
    source: { forwarded: { ...forwarded, [BOUNDARY]: boundary.label } },
  })
  return {
    authenticator,
    boundary: boundary.label,
    viewOf(request) {
      // No prototype: a header named __proto__ or constructor is just a header.
      const headers = Object.create(null) as Record<string, string>
      request.headers.forEach((value, name) => {
        headers[name.toLowerCase()] = value
      })
      return { headers, socket: boundarySocket(boundary.label, boundary.holds(headers)) }
    },
  }
}

function resolveBoundary(v: unknown): {
  readonly label: string
  holds(headers: Readonly<Record<string, string>>): boolean
} {
  if (v === 'cloudflare') return { label: 'cloudflare', holds: () => true }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new ClientCertConfigError(
      'trustedBoundary',
      'is required on a Web runtime: "cloudflare" or { sharedSecretHeader, secret } (nothing else tells the proxy from a client)',
    )
  const { sharedSecretHeader, secret, ...extra } = v as Record<string, unknown>
  const unknown = Object.keys(extra)[0]
  if (unknown !== undefined)
    throw new ClientCertConfigError(
      `trustedBoundary.${unknown}`,
      'unknown key; expected sharedSecretHeader, secret',
    )
  if (typeof sharedSecretHeader !== 'string' || !/^[a-z0-9][a-z0-9-]*$/i.test(sharedSecretHeader))
    throw new ClientCertConfigError('trustedBoundary.sharedSecretHeader', 'must be a header name')
  if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH)
    throw new ClientCertConfigError(
      'trustedBoundary.secret',
      `must be a random string of at least ${MIN_SECRET_LENGTH} characters`,
    )
  const name = sharedSecretHeader.toLowerCase()
  const expected = digest(secret)
  return {
    label: `shared-secret:${name}`,
    holds(headers) {
      const presented = headers[name]
      // Digests of equal length, so the comparison takes the same time whatever was sent.
      return typeof presented === 'string' && timingSafeEqual(digest(presented), expected)
    },
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest()
}

/** Cloudflare's `request.cf.tlsClientAuth`, as the Workers runtime sets it (strings). */
export interface CloudflareTlsClientAuth {
  readonly certPresented?: string
  readonly certVerified?: string
  readonly certRevoked?: string
  readonly certSubjectDN?: string
  readonly certSubjectDNRFC2253?: string
  readonly certIssuerDN?: string
  readonly certIssuerDNRFC2253?: string
  readonly certSerial?: string
  readonly certFingerprintSHA256?: string
  readonly certNotBefore?: string
  readonly certNotAfter?: string
}

/**
 * The client as Cloudflare describes it: no certificate, no SANs. A weaker source than a
 * forwarded certificate: the chain, revocation and validity are Cloudflare's verdict, not
 * re-checked here.
 */
export interface CloudflareClient {
  /** The identity per `identity`: the subject DN (RFC 2253), the SHA-256 fingerprint or the serial. */
  readonly id: string
  readonly kind: 'subject' | 'fingerprint' | 'serial'
  readonly subjectDn: string
  readonly issuerDn: string
  /** Lower-case hex. */
  readonly serialNumber: string
  /** Lower-case hex SHA-256 of the certificate. */
  readonly fingerprint256: string
  readonly source: { readonly type: 'cloudflare-tls-client-auth' }
}

/** Options of `readCloudflareTlsClientAuth()`. */
export interface CloudflareTlsClientAuthOptions {
  /** Which field is the client's `id`. */
  readonly identity: 'subject' | 'fingerprint' | 'serial'
  /** The clients allowed, by `id` (required: Cloudflare's mTLS CA may serve other apps too). */
  readonly allow: { readonly ids: readonly string[] }
  /** When set, the issuer DN (RFC 2253) the certificate must have. */
  readonly issuerDn?: string
  /** Called for every rejected request with the full reason, as on every other path. A throw is ignored. */
  readonly onRejected?: (error: ClientCertError, context: HookContext<unknown>) => void
}

/** The answer of `readCloudflareTlsClientAuth()`. */
export type CloudflareAuthResult =
  | { readonly ok: true; readonly client: CloudflareClient }
  | { readonly ok: false; readonly error: ClientCertError }

/**
 * Checks the options of {@link readCloudflareTlsClientAuth} once (throws `ClientCertConfigError`)
 * and returns the reader for requests: `request.cf.tlsClientAuth` on Cloudflare Workers.
 * Anything but `certVerified: "SUCCESS"` and `certRevoked: "0"` rejects.
 */
export function readCloudflareTlsClientAuth(
  options: CloudflareTlsClientAuthOptions,
): (request: unknown) => CloudflareAuthResult {
  if (typeof options !== 'object' || options === null)
    throw new ClientCertConfigError('options', 'must be an object')
  const { identity, allow, issuerDn, onRejected } = options
  if (identity !== 'subject' && identity !== 'fingerprint' && identity !== 'serial')
    throw new ClientCertConfigError('identity', 'must be "subject", "fingerprint" or "serial"')
  const ids = allow?.ids
  if (!Array.isArray(ids) || ids.length === 0 || ids.some((id) => typeof id !== 'string' || id === ''))
    throw new ClientCertConfigError('allow.ids', 'must be a non-empty array of identities')
  if (issuerDn !== undefined && (typeof issuerDn !== 'string' || issuerDn === ''))
    throw new ClientCertConfigError('issuerDn', 'must be a non-empty string')
  if (onRejected !== undefined && typeof onRejected !== 'function')
    throw new ClientCertConfigError('onRejected', 'must be a function')
  const allowed = new Set(identity === 'subject' ? ids : ids.map((id) => id.toLowerCase()))
  return (request) => {
    const reject = (
      code: ConstructorParameters<typeof ClientCertError>[0],
      reason: string,
    ): CloudflareAuthResult => {
      const error = new ClientCertError(code, reason)
      try {
        onRejected?.(error, { request })
      } catch {
        // An audit hook failing must not turn a rejection into anything else.
      }
      return { ok: false, error }
    }
    const cf = (request as { cf?: { tlsClientAuth?: unknown } } | null)?.cf?.tlsClientAuth
    if (typeof cf !== 'object' || cf === null)
      return reject(
        'ERR_CLIENT_CERT_MISCONFIGURED',
        'request.cf.tlsClientAuth is absent: not on Cloudflare, or mTLS is off for this host',
      )
    const a = cf as Record<string, unknown>
    if (a.certPresented !== '1')
      return reject('ERR_CLIENT_CERT_MISSING', 'Cloudflare saw no client certificate')
    if (a.certVerified !== 'SUCCESS')
      return reject(
        'ERR_CLIENT_CERT_UNTRUSTED',
        `Cloudflare did not verify the certificate (${String(a.certVerified).slice(0, 64)})`,
      )
    if (a.certRevoked !== '0')
      return reject(
        'ERR_CLIENT_CERT_REVOKED',
        `Cloudflare reports the certificate revoked (certRevoked ${String(a.certRevoked).slice(0, 8)})`,
      )
    const subjectDn = a.certSubjectDNRFC2253
    const issuer = a.certIssuerDNRFC2253
    const serial = a.certSerial
    const fingerprint = a.certFingerprintSHA256
    if (
      typeof subjectDn !== 'string' ||
      typeof issuer !== 'string' ||
      typeof serial !== 'string' ||
      !/^[0-9a-f]+$/i.test(serial) ||
      typeof fingerprint !== 'string' ||
      !/^[0-9a-f]{64}$/i.test(fingerprint)
    )
      return reject(
        'ERR_CLIENT_CERT_MALFORMED',
        'request.cf.tlsClientAuth lacks a subject, issuer, serial or fingerprint',
      )
    if (issuerDn !== undefined && issuer !== issuerDn)
      return reject('ERR_CLIENT_CERT_UNTRUSTED', 'the certificate is not from the configured issuer')
    const serialNumber = serial.toLowerCase().replace(/^0+(?=.)/, '')
    const fingerprint256 = fingerprint.toLowerCase()
    const id = identity === 'subject' ? subjectDn : identity === 'fingerprint' ? fingerprint256 : serialNumber
    if (!allowed.has(id))
      return reject('ERR_CLIENT_CERT_NOT_ALLOWED', `"${id.slice(0, 128)}" is not in allow.ids`)
    return {
      ok: true,
      client: Object.freeze({
        id,
        kind: identity,
        subjectDn,
        issuerDn: issuer,
        serialNumber,
        fingerprint256,
        source: Object.freeze({ type: 'cloudflare-tls-client-auth' as const }),
      }),
    }
  }
}
