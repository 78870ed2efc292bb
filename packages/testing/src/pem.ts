import { createHash } from 'node:crypto'

/**
 * Wraps DER bytes in PEM armor with 64-character lines and a trailing newline.
 *
 * @param der - DER bytes.
 * @param label - PEM label (default `'CERTIFICATE'`), e.g. `'PRIVATE KEY'`.
 */
export function toPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const base64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64')
  const lines = base64.match(/.{1,64}/g) ?? []
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`
}

/** Lowercase hex SHA-256 of DER bytes, without colons. */
export function sha256Hex(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex')
}
