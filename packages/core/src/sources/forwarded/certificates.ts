import type { ParsedCertificate } from '../../cert/parse.js'
import { type Failed, failed, isParsed, parseSent } from '../../validate/verify.js'
import type { ForwardedRead } from './index.js'

/**
 * Decodes a forwarded read (only on a cache miss: decoding is most of a warm request's cost)
 * and parses its leaf and the chain certificates the proxy sent, which are only hints for
 * path building, never trusted.
 */
export function forwardedCertificates(
  read: Extract<ForwardedRead, { kind: 'cert' }>,
): { readonly leaf: ParsedCertificate; readonly hints: readonly ParsedCertificate[] } | Failed {
  const decoded = read.decode()
  if (!decoded.ok) return failed('ERR_CLIENT_CERT_MALFORMED', decoded.reason)
  const leaf = parseSent(decoded.decoded.leaf, 'the client certificate')
  if (!isParsed(leaf)) return leaf
  const hints: ParsedCertificate[] = []
  for (const der of decoded.decoded.chain) {
    const hint = parseSent(der, 'a forwarded chain certificate')
    if (!isParsed(hint)) return hint
    hints.push(hint)
  }
  return { leaf, hints }
}
