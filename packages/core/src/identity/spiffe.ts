/**
 * SPIFFE ID syntax (SPIFFE-ID §2, X509-SVID §2): `spiffe://<trust-domain><path>`, trust domain
 * of `[a-z0-9.-_]`, path segments of `[A-Za-z0-9.-_]`, no empty, `.` or `..` segment, no
 * trailing slash, no percent-encoding, port, userinfo, query or fragment.
 */

export interface SpiffeId {
  readonly id: string
  readonly trustDomain: string
  /** The path with its leading slash, or '' for the trust domain's own ID. */
  readonly path: string
}

const TRUST_DOMAIN_RE = /^[a-z0-9._-]+$/
const SEGMENT_RE = /^[A-Za-z0-9._-]+$/
const MAX_ID_BYTES = 2048
const MAX_TRUST_DOMAIN = 255

/** Parses a SPIFFE ID; returns a reason string when it breaks the syntax. */
export function parseSpiffeId(uri: string): SpiffeId | string {
  if (uri.length > MAX_ID_BYTES || Buffer.byteLength(uri) > MAX_ID_BYTES)
    return 'SPIFFE ID is longer than 2048 bytes'
  if (!uri.startsWith('spiffe://')) return 'scheme is not "spiffe" (lower case)'
  const rest = uri.slice('spiffe://'.length)
  const slash = rest.indexOf('/')
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash)
  const path = slash === -1 ? '' : rest.slice(slash)
  if (trustDomain === '') return 'trust domain is empty'
  if (trustDomain.length > MAX_TRUST_DOMAIN) return 'trust domain is longer than 255 characters'
  if (!TRUST_DOMAIN_RE.test(trustDomain))
    return 'trust domain has characters outside [a-z0-9.-_] (port, userinfo or upper case)'
  if (path !== '') {
    const segments = path.slice(1).split('/')
    for (const seg of segments) {
      if (seg === '') return 'path has an empty segment or a trailing slash'
      if (seg === '.' || seg === '..') return 'path has a "." or ".." segment'
      if (!SEGMENT_RE.test(seg))
        return 'path segment has characters outside [A-Za-z0-9.-_] (percent-encoding, query or fragment)'
    }
  }
  return { id: uri, trustDomain, path }
}
