import { createHash } from 'node:crypto'
import { rootCertificates } from 'node:tls'

/**
 * Node's bundled Mozilla root store. A server without `ca` verifies client certificates against
 * it, and a public CA vouches for names, not for clients: a chain that ends there proves only
 * that someone bought a certificate. The fingerprints are computed on first use (about 150 PEM
 * decodes), never at import.
 */
let fingerprints: ReadonlySet<string> | undefined

function sha256(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex')
}

function bundled(): ReadonlySet<string> {
  if (fingerprints === undefined) {
    const set = new Set<string>()
    for (const pem of rootCertificates) {
      const body = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '')
      set.add(sha256(Buffer.from(body, 'base64')))
    }
    fingerprints = set
  }
  return fingerprints
}

/** True when the DER certificate is one of Node's bundled public roots. */
export function isBundledRoot(der: Uint8Array): boolean {
  return bundled().has(sha256(der))
}
