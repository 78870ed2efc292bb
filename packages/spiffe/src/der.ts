/**
 * Splits concatenated ASN.1 DER certificates (the Workload API's `x509_svid` and `bundle`
 * fields) strictly: every element must be one complete SEQUENCE with a minimal definite
 * length, and nothing may trail. A truncated or padded field is refused as a whole.
 */
export function splitDer(bytes: Uint8Array, field: string): Uint8Array[] {
  const out: Uint8Array[] = []
  let at = 0
  while (at < bytes.length) {
    if (bytes[at] !== 0x30) throw new Error(`${field}: element at byte ${at} is not a DER SEQUENCE`)
    const first = bytes[at + 1]
    if (first === undefined) throw new Error(`${field}: truncated at byte ${at}`)
    let length: number
    let header: number
    if (first < 0x80) {
      length = first
      header = 2
    } else {
      const n = first & 0x7f
      // Certificates are far below 16 MiB; 0x80 (indefinite) is not DER.
      if (n === 0 || n > 3) throw new Error(`${field}: unsupported length encoding at byte ${at}`)
      if (at + 2 + n > bytes.length) throw new Error(`${field}: truncated at byte ${at}`)
      length = 0
      for (let i = 0; i < n; i++) length = length * 256 + bytes[at + 2 + i]!
      if (bytes[at + 2] === 0 || length < 0x80) throw new Error(`${field}: non-minimal length at byte ${at}`)
      header = 2 + n
    }
    const end = at + header + length
    if (end > bytes.length) throw new Error(`${field}: truncated at byte ${at}`)
    out.push(bytes.subarray(at, end))
    at = end
  }
  if (out.length === 0) throw new Error(`${field}: empty`)
  return out
}

export function derToPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = Buffer.from(der).toString('base64')
  return `-----BEGIN ${label}-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`
}
