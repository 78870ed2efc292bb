import { timingSafeEqual } from 'node:crypto'
import type { ClientPrincipal } from './identity/principal.js'

/**
 * RFC 8705 §3: an access token bound to a client certificate carries `cnf["x5t#S256"]`, the
 * base64url SHA-256 of the certificate DER. True only when `claims.cnf["x5t#S256"]` is a
 * string equal to the presented certificate's thumbprint (compared in constant time); any
 * other shape — no `cnf`, another confirmation method, a non-string — is false.
 *
 * Verify the token's signature, issuer, audience and expiry with your JWT library first;
 * this only checks the binding.
 */
export function isCertificateBound(
  claims: unknown,
  certificate: Pick<ClientPrincipal, 'x5tS256'> | string,
): boolean {
  const expected = typeof certificate === 'string' ? certificate : certificate?.x5tS256
  if (typeof expected !== 'string' || expected === '') return false
  if (typeof claims !== 'object' || claims === null) return false
  const cnf = (claims as { cnf?: unknown }).cnf
  if (typeof cnf !== 'object' || cnf === null || !Object.hasOwn(cnf, 'x5t#S256')) return false
  const thumbprint = (cnf as Record<string, unknown>)['x5t#S256']
  if (typeof thumbprint !== 'string') return false
  const a = Buffer.from(thumbprint, 'utf8')
  const b = Buffer.from(expected, 'utf8')
  return a.length === b.length && timingSafeEqual(a, b)
}
