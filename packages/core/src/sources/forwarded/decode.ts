/**
 * Decoders for certificate header encodings. Each one is strict: the value must be exactly
 * the encoding and nothing else, because "junk around a PEM" is how a second certificate, or a
 * different one than the proxy verified, gets smuggled past a lenient parser.
 */

export class DecodeError extends Error {}

const B64 = /^[A-Za-z0-9+/]+={0,2}$/

/** Standard base64 of one DER certificate (HAProxy, Caddy, Azure, Cloudflare, Traefik). */
export function base64Der(value: string): Uint8Array {
  const v = value.trim()
  if (!B64.test(v) || v.length % 4 !== 0) throw new DecodeError('value is not canonical base64')
  const bytes = Buffer.from(v, 'base64')
  if (bytes.toString('base64') !== v) throw new DecodeError('value is not canonical base64')
  return new Uint8Array(bytes)
}

/** Percent-decoding that fails on a malformed escape instead of guessing. `+` stays `+` (ALB leaves it unescaped). */
export function percentDecode(value: string): string {
  try {
    return decodeURIComponent(value)
  } catch {
    throw new DecodeError('bad URL escape')
  }
}

const PEM_RE = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/g

/**
 * One or more PEM certificate blocks and white space only (line breaks may arrive as spaces,
 * or TAB-folded as nginx's legacy `$ssl_client_cert` does). `max` bounds the count.
 */
export function pemCertificates(text: string, max: number): Uint8Array[] {
  const out: Uint8Array[] = []
  let last = 0
  for (const m of text.matchAll(PEM_RE)) {
    if (text.slice(last, m.index).trim() !== '') throw new DecodeError('unexpected text around PEM')
    if (out.length === max) throw new DecodeError(`more than ${max} certificates`)
    out.push(base64Der(m[1]!.replace(/\s+/g, '')))
    last = m.index + m[0].length
  }
  if (text.slice(last).trim() !== '') throw new DecodeError('unexpected text around PEM')
  if (out.length === 0) throw new DecodeError('no PEM certificate')
  return out
}

/** Exactly one PEM certificate. */
export function singlePem(text: string): Uint8Array {
  const certs = pemCertificates(text, 2)
  if (certs.length !== 1) throw new DecodeError('several certificates where one is expected')
  return certs[0]!
}
