import type { ClientCertErrorCode } from '../errors.js'
import { checkLeaf, checkTime, type EkuRule } from '../validate/leaf.js'
import { type Failed, failed, isParsed, parseSent } from '../validate/verify.js'

/**
 * Reading the client certificate from the request's TLS socket. The socket is `unknown`: a
 * fake, destroyed or plain-TCP socket must lead to a rejection, never to a crash or a pass.
 */

export type SocketRead =
  | {
      readonly ok: true
      readonly der: Uint8Array
      readonly authorized: boolean
      readonly authorizationError: string
    }
  | {
      readonly ok: false
      readonly code: ClientCertErrorCode
      readonly reason: string
      /**
       * True only when a healthy connection simply carries no client certificate (plain HTTP,
       * or TLS without one): the one case optional mode lets through. A missing, fake,
       * destroyed or throwing socket is never anonymous.
       */
      readonly absent?: boolean
    }

interface PeerCertificateLike {
  readonly raw?: unknown
  readonly issuerCertificate?: unknown
}

interface TlsSocketLike {
  readonly encrypted?: unknown
  readonly authorized?: unknown
  readonly authorizationError?: unknown
  readonly destroyed?: unknown
  getPeerX509Certificate?: () => { raw?: unknown } | undefined
  getPeerCertificate?: (detailed?: boolean) => PeerCertificateLike | null | undefined
}

/** OpenSSL verification codes (as Node reports them) that have a more precise error code than UNTRUSTED. */
const OPENSSL_CODES: Readonly<Record<string, ClientCertErrorCode>> = {
  CERT_HAS_EXPIRED: 'ERR_CLIENT_CERT_EXPIRED',
  CERT_NOT_YET_VALID: 'ERR_CLIENT_CERT_NOT_YET_VALID',
  INVALID_CA: 'ERR_CLIENT_CERT_BASIC_CONSTRAINTS',
  PATH_LENGTH_EXCEEDED: 'ERR_CLIENT_CERT_BASIC_CONSTRAINTS',
  KEYUSAGE_NO_CERTSIGN: 'ERR_CLIENT_CERT_KEY_USAGE',
  PERMITTED_VIOLATION: 'ERR_CLIENT_CERT_NAME_CONSTRAINTS',
  EXCLUDED_VIOLATION: 'ERR_CLIENT_CERT_NAME_CONSTRAINTS',
  UNHANDLED_CRITICAL_EXTENSION: 'ERR_CLIENT_CERT_CRITICAL_EXTENSION',
}

/** Maps Node's `authorizationError` to a code; anything unknown is UNTRUSTED. */
export function codeForAuthorizationError(err: string): ClientCertErrorCode {
  return Object.hasOwn(OPENSSL_CODES, err) ? OPENSSL_CODES[err]! : 'ERR_CLIENT_CERT_UNTRUSTED'
}

/** The reason when the TLS server never asked for a client certificate. */
export const SERVER_DID_NOT_REQUEST =
  'the server did not request a client certificate: create the HTTPS server with requestCert: true'

/** True when the socket's TLS server was created without `requestCert` (Node keeps the option on it). */
export function serverDidNotRequest(socket: unknown): boolean {
  try {
    const server = (socket as { server?: unknown }).server
    return (
      typeof server === 'object' &&
      server !== null &&
      (server as { requestCert?: unknown }).requestCert === false
    )
  } catch {
    return false
  }
}

/** Reads the peer certificate's DER and the TLS stack's verdict from a socket-like value. */
export function readSocket(socket: unknown): SocketRead {
  if (typeof socket !== 'object' || socket === null) return missing('the request has no socket', false)
  const s = socket as TlsSocketLike
  try {
    if (s.destroyed === true) return missing('the socket is destroyed', false)
    if (s.encrypted !== true) return missing('the connection is not TLS', true)
    const der = peerDer(s)
    if (der === undefined) {
      // The most common deployment mistake: without requestCert the client is never asked, so
      // curl with a certificate ready still arrives "without one".
      if (serverDidNotRequest(socket)) return missing(SERVER_DID_NOT_REQUEST, true)
      return missing('the client presented no certificate on this connection', true)
    }
    const authError = s.authorizationError
    return {
      ok: true,
      der,
      authorized: s.authorized === true,
      authorizationError: authError === undefined || authError === null ? '' : String(authError),
    }
  } catch (err) {
    return missing(
      `reading the peer certificate failed: ${err instanceof Error ? err.message : String(err)}`,
      false,
    )
  }
}

/**
 * The peer certificate's DER. `getPeerCertificate(false).raw` first: on a new connection it
 * costs about half of `getPeerX509Certificate()` (≈75 µs against ≈150 µs measured on Node 20,
 * most of it creating the native X509Certificate object), and the DER is all the core needs.
 */
function peerDer(s: TlsSocketLike): Uint8Array | undefined {
  if (typeof s.getPeerCertificate === 'function') {
    const c = s.getPeerCertificate(false)
    return c && c.raw instanceof Uint8Array && c.raw.length > 0 ? c.raw : undefined
  }
  if (typeof s.getPeerX509Certificate === 'function') {
    const x = s.getPeerX509Certificate()
    return x && x.raw instanceof Uint8Array && x.raw.length > 0 ? x.raw : undefined
  }
  return undefined
}

/** Longest issuer walk: Node's detailed certificate links each issuer, and a root links itself. */
const MAX_CHAIN_WALK = 16

/** The chain the TLS stack reports for the peer, leaf first, and whether it reaches a root. */
export interface PeerChain {
  readonly ders: Uint8Array[]
  /**
   * True when the walk ended at a self-linked certificate (Node links a root to itself). False
   * when the issuer links stop early: Node reports only the leaf on a resumed session, with an
   * SNI context (nodejs/node#46163), and on a server in Node 24.21 / 26.8+ (nodejs/node#65579).
   */
  readonly complete: boolean
}

/**
 * The DER of every certificate in the chain the TLS stack verified, leaf first (Node completes
 * the client's chain from the server's trust store, so the anchor is included when Node reports
 * a chain at all). Throws on a socket that cannot say: callers treat that as "cannot prove it is
 * not public".
 */
export function peerChainOf(socket: unknown): PeerChain {
  const s = socket as TlsSocketLike
  let c: unknown
  if (typeof s?.getPeerCertificate === 'function') c = s.getPeerCertificate(true)
  else if (typeof s?.getPeerX509Certificate === 'function') c = s.getPeerX509Certificate()
  else throw new TypeError('the socket cannot report its peer certificate chain')
  const ders: Uint8Array[] = []
  const seen = new Set<unknown>()
  while (typeof c === 'object' && c !== null && !seen.has(c) && ders.length < MAX_CHAIN_WALK) {
    seen.add(c)
    const raw = (c as PeerCertificateLike).raw
    if (!(raw instanceof Uint8Array) || raw.length === 0)
      throw new TypeError('a chain certificate has no DER')
    ders.push(raw)
    c = (c as PeerCertificateLike).issuerCertificate
  }
  if (ders.length === 0) throw new TypeError('the socket reports no peer certificate chain')
  return { ders, complete: seen.has(c) }
}

/** The DER of the chain the TLS stack reports, leaf first (see `peerChainOf`). */
export function peerChainDer(socket: unknown): Uint8Array[] {
  return peerChainOf(socket).ders
}

function missing(reason: string, absent: boolean): SocketRead {
  return { ok: false, code: 'ERR_CLIENT_CERT_MISSING', reason, absent }
}

/**
 * The TLS stack refused the certificate. The rejection is final; the code is refined by our
 * own leaf checks first, because Node reports some OpenSSL failures only as "UNSPECIFIED".
 */
export function tlsRejection(
  der: Uint8Array,
  authorizationError: string,
  eku: EkuRule,
  now: number,
  skewMs: number,
): Failed {
  const err = authorizationError || 'not authorized'
  const why = `the TLS stack did not verify the client certificate (${err})`
  const leaf = parseSent(der, 'the client certificate')
  if (isParsed(leaf)) {
    const own = checkLeaf(leaf, eku) ?? checkTime(leaf, now, skewMs)
    if (own) return failed(own.code, `${own.reason}; ${why}`)
  }
  return failed(codeForAuthorizationError(err), why)
}
