import type { CertificateOptions, KeyAlgorithm } from './options.js'
import { type CertificateAuthority, createRootCA, type IssuedCertificate } from './pki.js'
import { withDefaults } from './profiles.js'

/** Options of {@link createTestPki}. */
export interface TestPkiOptions {
  /** Key algorithm of every certificate in the PKI (default `'P-256'`). */
  keyAlgorithm?: KeyAlgorithm
  /** Clock the validity of every certificate is relative to (default `new Date()`). */
  now?: Date
}

/** A ready-made PKI: a client root + intermediate, and a separate server CA + server certificate. */
export interface TestPki {
  /** Root of the client-certificate hierarchy (`CN=Test Client Root CA`). */
  readonly root: CertificateAuthority
  /** Intermediate under `root` that issues client certificates (`CN=Test Client Intermediate CA`). */
  readonly intermediate: CertificateAuthority
  /** Separate root that issued `server` (`CN=Test Server CA`); clients trust `serverCa.pem`. */
  readonly serverCa: CertificateAuthority
  /** Server certificate for `localhost`, `127.0.0.1` and `::1`, issued by `serverCa`. */
  readonly server: IssuedCertificate
  /** PEM of `root`: the client CA a server should trust. */
  readonly clientCaPem: string
  /**
   * Issues a client certificate through `intermediate` (so its `chainPem` includes the
   * intermediate). The PKI's `keyAlgorithm` and `now` apply unless overridden.
   */
  issueClient(opts?: CertificateOptions): Promise<IssuedCertificate>
}

/**
 * Creates a complete test PKI in one call.
 *
 * @example
 * ```ts
 * const pki = await createTestPki()
 * const alice = await pki.issueClient({ subject: 'CN=alice' })
 * const server = await startMtlsServer(handler, { pki })
 * const res = await requestWithHttps(server.url, { client: alice, ca: pki.serverCa.pem })
 * ```
 */
export async function createTestPki(opts: TestPkiOptions = {}): Promise<TestPki> {
  const base = withDefaults({}, { keyAlgorithm: opts.keyAlgorithm, now: opts.now })
  const [root, serverCa] = await Promise.all([
    createRootCA({ ...base, subject: 'CN=Test Client Root CA' }),
    createRootCA({ ...base, subject: 'CN=Test Server CA' }),
  ])
  const [intermediate, server] = await Promise.all([
    root.issueIntermediate({ ...base, subject: 'CN=Test Client Intermediate CA' }),
    serverCa.issueServer(base),
  ])
  return {
    root,
    intermediate,
    serverCa,
    server,
    clientCaPem: root.pem,
    issueClient: (clientOpts) => intermediate.issueClient(withDefaults(base, clientOpts)),
  }
}
