import { DerError } from '../asn1/der.js'
import { type ParsedCertificate, parseCertificate } from '../cert/parse.js'
import { ClientCertConfigError } from '../errors.js'

/**
 * A certificate given in configuration: PEM text (one or several; also as a Buffer read from a
 * file), DER bytes, an @peculiar/x509 `X509Certificate` (`rawData`) or a node:crypto one (`raw`).
 */
export type CertificateInput =
  | string
  | Uint8Array
  | { readonly rawData: ArrayBuffer }
  | { readonly raw: Uint8Array }

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END CERTIFICATE-----/g

/**
 * Parses a PEM bundle strictly: only certificate blocks and white space. Anything else
 * (a private key, a typo, junk) is a configuration error rather than silently skipped.
 */
export function pemToDer(pem: string, option: string): Uint8Array[] {
  const out: Uint8Array[] = []
  let last = 0
  for (const m of pem.matchAll(PEM_BLOCK)) {
    if (pem.slice(last, m.index).trim() !== '')
      throw new ClientCertConfigError(option, 'unexpected text between PEM blocks')
    const b64 = m[1]!.replace(/\r?\n/g, '')
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0)
      throw new ClientCertConfigError(option, 'bad base64 in PEM block')
    out.push(new Uint8Array(Buffer.from(b64, 'base64')))
    last = m.index + m[0].length
  }
  if (pem.slice(last).trim() !== '')
    throw new ClientCertConfigError(option, 'unexpected text after the last PEM certificate block')
  if (out.length === 0) throw new ClientCertConfigError(option, 'no PEM certificate found')
  return out
}

/** Parses a list of certificate inputs; `option` names the setting in errors. */
export function loadCertificates(inputs: unknown, option: string): ParsedCertificate[] {
  if (inputs === undefined) return []
  const list = Array.isArray(inputs) ? inputs : [inputs]
  const out: ParsedCertificate[] = []
  list.forEach((input, i) => {
    const at = Array.isArray(inputs) ? `${option}[${i}]` : option
    for (const der of toDerList(input, at)) {
      try {
        out.push(parseCertificate(der))
      } catch (err) {
        if (err instanceof DerError)
          throw new ClientCertConfigError(at, `not a parseable X.509 certificate (${err.message})`, {
            cause: err,
          })
        throw err
      }
    }
  })
  return out
}

const PEM_PREFIX = Buffer.from('-----BEGIN')

/**
 * A string that is no PEM but a file name (`'./ca.pem'`, `'/etc/pki/ca.crt'`, `'C:\\ca.pem'`):
 * one short line, no PEM armour, a path separator or a certificate file extension. Never
 * treated as a path (the core reads no files): it only gets a message that says what happened.
 */
function looksLikePath(input: string): boolean {
  const s = input.trim()
  if (s === '' || s.length > 4096 || s.includes('-----BEGIN') || /[\r\n]/.test(s)) return false
  return /[/\\]/.test(s) || /\.(pem|crt|cer|der|ca-bundle|p7b)$/i.test(s)
}

function toDerList(input: unknown, at: string): Uint8Array[] {
  if (typeof input === 'string') {
    // Not read as a path: the application owns its files (which one, its permissions, when it
    // is reloaded through updateTrust), and a PEM typo must never turn into a file lookup.
    if (looksLikePath(input))
      throw new ClientCertConfigError(
        at,
        `"${input.trim()}" looks like a file path; certificates are given as PEM text or DER bytes, not paths: pass readFileSync(${JSON.stringify(input.trim())})`,
      )
    return pemToDer(input, at)
  }
  if (input instanceof Uint8Array) {
    // readFileSync('ca.pem') gives PEM text in a Buffer; DER starts with a SEQUENCE tag instead.
    const head = Buffer.from(input.buffer, input.byteOffset, Math.min(input.byteLength, 64))
      .toString('latin1')
      .trimStart()
    return head.startsWith(PEM_PREFIX.toString())
      ? pemToDer(Buffer.from(input).toString('utf8'), at)
      : [input]
  }
  if (typeof input === 'object' && input !== null && (input as { raw?: unknown }).raw instanceof Uint8Array) {
    return [(input as { raw: Uint8Array }).raw]
  }
  if (
    typeof input === 'object' &&
    input !== null &&
    (input as { rawData?: unknown }).rawData instanceof ArrayBuffer
  ) {
    return [new Uint8Array((input as { rawData: ArrayBuffer }).rawData)]
  }
  throw new ClientCertConfigError(
    at,
    'expected PEM text, DER bytes (Uint8Array/Buffer) or an X509Certificate',
  )
}
