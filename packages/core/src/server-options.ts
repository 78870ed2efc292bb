import { constants, createHash, randomBytes } from 'node:crypto'
import { createSecureContext, type SecureContext, type SecureContextOptions, type TlsOptions } from 'node:tls'
import { ClientCertConfigError } from './errors.js'
import { markSniCallback } from './servername.js'
import { caIsPrivate, markPrivateSni } from './trust/public-roots.js'

type Pem = string | Buffer

/** One TLS identity and the CAs whose client certificates it accepts. */
export interface MtlsIdentity {
  readonly cert: Pem
  readonly key: Pem
  /** CA bundle for client certificates; its names are sent in the CertificateRequest. */
  readonly clientCa: Pem | readonly Pem[]
  /** CRLs the TLS stack checks (optional; clientcert's own revocation checks are separate). */
  readonly crl?: Pem | readonly Pem[]
}

export interface MtlsServerOptionsInput extends MtlsIdentity {
  /**
   * `'require'` (default): the handshake refuses clients without a valid certificate.
   * `'verify-in-app'`: the handshake accepts any certificate (or none) and clientcert answers
   * with a coded 401/403 — needed for optional certificates and app-level trust.
   */
  readonly mode?: 'require' | 'verify-in-app'
  /** Other server names on the same listener, each with its own certificate and client CAs. */
  readonly sni?: Readonly<Record<string, MtlsIdentity>>
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3'
}

/**
 * TLS options for `https`/`http2`/Fastify/Nest servers doing mTLS: TLS ≥ 1.2, client
 * certificates requested, client CA names sent, and session resumption set up so a session
 * can never carry a client's verification from one trust configuration into another.
 *
 * With `sni`, one listener serves names with different client CAs. OpenSSL does not run
 * `SNICallback` on resumption, so a session made on `a.example` (client CA A) would resume on
 * `b.example` (client CA B) still marked verified. Session tickets are therefore turned off
 * (and Node keeps no session-ID cache unless you add one): every connection does a full
 * handshake against the right CA. Without `sni`, resumption stays on, bound by
 * `sessionIdContext` to this exact set of client CAs.
 *
 * With `sni`, a client vouched for under one name could also ask for another on the same
 * connection (Host / `:authority`). The returned `SNICallback` carries a mark every
 * clientcert authenticator recognises on the connection: such a request is answered 421
 * `ERR_CLIENT_CERT_MISDIRECTED` before its certificate is judged. Keep the `SNICallback` as
 * returned (spreading the options is fine); a wrapped one needs `requireServernameMatch: true`.
 */
export function createMtlsServerOptions(input: MtlsServerOptionsInput): TlsOptions {
  const mode = input.mode ?? 'require'
  if (mode !== 'require' && mode !== 'verify-in-app')
    throw new ClientCertConfigError('mode', 'must be "require" or "verify-in-app"')
  const minVersion = input.minVersion ?? 'TLSv1.2'
  if (minVersion !== 'TLSv1.2' && minVersion !== 'TLSv1.3')
    throw new ClientCertConfigError('minVersion', 'must be "TLSv1.2" or "TLSv1.3"')
  const base = identityOptions(input, 'options')
  const options: TlsOptions = {
    ...base,
    minVersion,
    requestCert: true,
    rejectUnauthorized: mode === 'require',
  }
  if (input.sni === undefined) return options
  const contexts = new Map<string, SecureContext>()
  const cas: unknown[] = [base.ca]
  for (const [name, identity] of Object.entries(input.sni)) {
    const own = identityOptions(identity, `sni.${name}`)
    cas.push(own.ca)
    contexts.set(name.toLowerCase(), createSecureContext({ ...own, minVersion }))
  }
  const SNICallback: NonNullable<TlsOptions['SNICallback']> = (servername, done) =>
    done(null, contexts.get(servername.toLowerCase()))
  // Trust now differs by name: the authenticator finds this mark on the connection and answers
  // 421 to a request whose Host / :authority is not the handshake's server name.
  markSniCallback(SNICallback, [...contexts.keys()])
  // When Node reports a client's chain cut short, a policy naming nobody needs to know that no
  // context could have verified it with a public root (trust/public-roots.ts).
  if (cas.every(caIsPrivate)) markPrivateSni(SNICallback)
  return {
    ...options,
    secureOptions: (options.secureOptions ?? 0) | constants.SSL_OP_NO_TICKET,
    SNICallback,
  }
}

function identityOptions(identity: MtlsIdentity, at: string): SecureContextOptions {
  if (identity.cert === undefined || identity.key === undefined)
    throw new ClientCertConfigError(`${at}.cert`, 'cert and key are required')
  // Without CAs of its own, Node verifies clients against its bundled public roots: anyone
  // holding a publicly trusted clientAuth certificate would pass the handshake.
  const given = (identity as { clientCa?: unknown }).clientCa
  if (given === undefined || given === null) {
    throw new ClientCertConfigError(
      `${at}.clientCa`,
      `is required: without it Node trusts its bundled public roots for client certificates${'ca' in identity ? ' (the CA bundle goes in clientCa, not ca)' : ''}`,
    )
  }
  const ca = toList(given as Pem | readonly Pem[], `${at}.clientCa`)
  if (ca.length === 0 || ca.some((c) => c === undefined || String(c).trim() === '')) {
    throw new ClientCertConfigError(`${at}.clientCa`, 'must be a non-empty CA bundle')
  }
  return {
    cert: identity.cert,
    key: identity.key,
    ca,
    ...(identity.crl === undefined ? {} : { crl: toList(identity.crl, `${at}.crl`) }),
    // OpenSSL refuses to resume a session made under another context id: tie it to the CA set.
    sessionIdContext: createHash('sha256').update(ca.map(String).join('\n')).digest('hex').slice(0, 32),
  }
}

function toList(v: Pem | readonly Pem[], at: string): Pem[] {
  if (typeof v === 'string' || Buffer.isBuffer(v)) return [v]
  if (!Array.isArray(v)) throw new ClientCertConfigError(at, 'must be PEM text, a Buffer or an array of them')
  return [...v]
}

/** A TLS server whose trust can be replaced at run time. */
interface RotatableServer {
  setSecureContext(options: SecureContextOptions): void
  setTicketKeys(keys: Buffer): void
}

/**
 * Applies new client CAs (and CRLs) to a running `https`/`tls` server: new handshakes use
 * them, and the session-ticket keys are replaced so no session made under the old trust can
 * be resumed. Pair it with `authenticator.updateTrust(...)` for app-level trust.
 */
export function applyServerTrust(server: RotatableServer, identity: MtlsIdentity): void {
  server.setSecureContext(identityOptions(identity, 'identity'))
  server.setTicketKeys(randomBytes(48))
}
