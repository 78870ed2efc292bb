import { type Rejection, rejection } from '../errors.js'

/**
 * The one validity-window rule (RFC 5280 §4.1.2.5): validity is inclusive and encoded to the
 * second, so `at` is compared at second granularity (a notAfter of 00:00:00Z still holds at
 * 00:00:00.5Z), with `skewMs` of tolerance either way. `what` names the certificate in the
 * reason. Used for a leaf, for every certificate of a path, and for a remembered path's window.
 */
export function checkWindow(
  notBefore: number,
  notAfter: number,
  at: number,
  skewMs: number,
  what: string,
): Rejection | undefined {
  const now = Math.floor(at / 1000) * 1000
  if (now + skewMs < notBefore)
    return rejection(
      'ERR_CLIENT_CERT_NOT_YET_VALID',
      `${what} is not valid before ${new Date(notBefore).toISOString()}`,
    )
  if (now - skewMs > notAfter)
    return rejection('ERR_CLIENT_CERT_EXPIRED', `${what} expired at ${new Date(notAfter).toISOString()}`)
  return undefined
}
