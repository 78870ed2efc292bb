import {
  children,
  DerError,
  expectTag,
  raw,
  readBitString,
  readIntegerBytes,
  readRoot,
  readSmallInteger,
  readTime,
  TAG,
  type Tlv,
} from '../asn1/der.js'
import { hex, type ParsedName, parseName } from '../asn1/name.js'
import { type AlgorithmIdentifier, KU, type ParsedCertificate } from '../cert/parse.js'
import { publicKeyOf, verifyData } from '../validate/signature.js'
import { readAlgorithm, readExtensions } from './der-util.js'

/** A CRL parsed strictly (RFC 5280 §5). Signature and freshness are checked separately. */
export interface ParsedCrl {
  readonly der: Uint8Array
  readonly tbs: Uint8Array
  readonly issuer: ParsedName
  readonly thisUpdate: number
  readonly nextUpdate?: number | undefined
  /** Revoked serial numbers, lower-case hex as in `ParsedCertificate.serialNumber`. */
  readonly revoked: ReadonlySet<string>
  readonly signatureAlgorithm: AlgorithmIdentifier
  readonly innerSignatureAlgorithm: AlgorithmIdentifier
  readonly signature: Uint8Array
  /** Why the CRL cannot be used at all (a critical extension it does not understand), if so. */
  readonly unusable?: string | undefined
}

const CRL_NUMBER = '2.5.29.20'
const AKI = '2.5.29.35'
const ISSUER_ALT_NAME = '2.5.29.18'
const REASON_CODE = '2.5.29.21'
const INVALIDITY_DATE = '2.5.29.24'

/** CRL extensions that are understood (none of them changes the CRL's scope). */
const CRL_EXTENSIONS: ReadonlySet<string> = new Set([CRL_NUMBER, AKI, ISSUER_ALT_NAME])
/** CRL entry extensions that are understood. `certificateIssuer` (indirect CRLs) is not. */
const ENTRY_EXTENSIONS: ReadonlySet<string> = new Set([REASON_CODE, INVALIDITY_DATE])

function serialHex(bytes: Uint8Array): string {
  return hex(bytes[0] === 0 && bytes.length > 1 ? bytes.subarray(1) : bytes)
}

/**
 * Parses a DER CRL; throws `DerError` when malformed. A CRL with a critical extension this
 * module does not understand (delta CRL indicator, issuing distribution point, ...) or an entry
 * with one (certificate issuer) is returned with `unusable` set: it must not be relied on.
 */
export function parseCrl(input: Uint8Array): ParsedCrl {
  const der = Uint8Array.from(input)
  const root = expectTag(readRoot(der), TAG.SEQUENCE, 'CertificateList')
  const [tbsTlv, sigAlgTlv, sigTlv, extra] = children(der, root)
  if (tbsTlv === undefined || sigAlgTlv === undefined || sigTlv === undefined || extra !== undefined)
    throw new DerError('CertificateList must have exactly three fields')
  const fields = children(der, expectTag(tbsTlv, TAG.SEQUENCE, 'TBSCertList'))
  let i = 0
  let version = 1
  if (fields[0]?.tag === TAG.INTEGER) {
    version = readSmallInteger(der, fields[0]) + 1
    if (version !== 2) throw new DerError('unsupported CRL version')
    i = 1
  }
  const innerSignatureAlgorithm = readAlgorithm(der, fields[i++])
  const issuer = parseName(der, expectTag(fields[i++], TAG.SEQUENCE, 'issuer'))
  const thisUpdate = readTime(der, fields[i++]!)
  let nextUpdate: number | undefined
  if (fields[i]?.tag === TAG.UTC_TIME || fields[i]?.tag === TAG.GENERALIZED_TIME)
    nextUpdate = readTime(der, fields[i++]!)
  let unusable: string | undefined
  const revoked = new Set<string>()
  if (fields[i]?.tag === TAG.SEQUENCE) {
    const entries = children(der, fields[i++]!)
    if (entries.length === 0) throw new DerError('empty revokedCertificates')
    for (const entry of entries) {
      const parts = children(der, expectTag(entry, TAG.SEQUENCE, 'revoked certificate'))
      const serial = readIntegerBytes(der, parts[0]!)
      readTime(der, parts[1]!)
      const entryExt: Tlv | undefined = parts[2]
      if (parts[3] !== undefined) throw new DerError('bad revoked certificate entry')
      if (entryExt !== undefined) {
        if (version !== 2) throw new DerError('entry extensions in a v1 CRL')
        for (const ext of readExtensions(der, entryExt)) {
          if (ext.critical && !ENTRY_EXTENSIONS.has(ext.oid))
            unusable ??= `unsupported critical CRL entry extension ${ext.oid}`
        }
      }
      revoked.add(serialHex(serial))
    }
  }
  if (fields[i]?.tag === 0xa0) {
    if (version !== 2) throw new DerError('extensions in a v1 CRL')
    const [seq, more] = children(der, fields[i++]!)
    if (seq === undefined || more !== undefined) throw new DerError('bad crlExtensions wrapper')
    for (const ext of readExtensions(der, seq)) {
      if (ext.critical && !CRL_EXTENSIONS.has(ext.oid))
        unusable ??= `unsupported critical CRL extension ${ext.oid}`
    }
  }
  if (fields[i] !== undefined) throw new DerError('unexpected field in TBSCertList')
  const signatureAlgorithm = readAlgorithm(der, sigAlgTlv)
  const sig = readBitString(der, sigTlv)
  if (sig.unused !== 0) throw new DerError('CRL signature has unused bits')
  return {
    der,
    tbs: raw(der, tbsTlv),
    issuer,
    thisUpdate,
    nextUpdate,
    revoked,
    signatureAlgorithm,
    innerSignatureAlgorithm,
    signature: sig.bytes,
    unusable,
  }
}

/** Parses PEM (`X509 CRL` blocks only) or DER. */
export function decodeCrls(input: Uint8Array | string): ParsedCrl[] {
  const text =
    typeof input === 'string' ? input : looksLikePem(input) ? Buffer.from(input).toString('latin1') : null
  if (text === null) return [parseCrl(input as Uint8Array)]
  const re = /-----BEGIN X509 CRL-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END X509 CRL-----/g
  const out: ParsedCrl[] = []
  let last = 0
  for (const m of text.matchAll(re)) {
    if (text.slice(last, m.index).trim() !== '') throw new DerError('unexpected text between PEM blocks')
    const b64 = m[1]!.replace(/\r?\n/g, '')
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0)
      throw new DerError('bad base64 in PEM block')
    out.push(parseCrl(new Uint8Array(Buffer.from(b64, 'base64'))))
    last = m.index + m[0].length
  }
  if (text.slice(last).trim() !== '') throw new DerError('unexpected text after the last PEM CRL block')
  if (out.length === 0) throw new DerError('no PEM X509 CRL block found')
  return out
}

function looksLikePem(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] !== TAG.SEQUENCE
}

/**
 * Why `crl` is not an authentic, understood CRL of `issuer` (name, key usage, signature,
 * critical extensions), or `undefined` when it is. Freshness is checked by `crlFreshnessProblem`.
 */
export function crlTrustProblem(crl: ParsedCrl, issuer: ParsedCertificate): string | undefined {
  if (crl.issuer.matchKey !== issuer.subject.matchKey) return 'CRL issuer name does not match'
  if (issuer.keyUsage !== undefined && (issuer.keyUsage & KU.cRLSign) === 0)
    return 'issuer key usage does not allow CRL signing'
  if (!Buffer.from(crl.signatureAlgorithm.der).equals(crl.innerSignatureAlgorithm.der))
    return 'CRL signature algorithms differ'
  let ok = false
  try {
    ok = verifyData(crl.signatureAlgorithm, publicKeyOf(issuer), crl.tbs, crl.signature)
  } catch {
    ok = false
  }
  if (!ok) return 'CRL signature does not verify with the issuer key'
  if (crl.unusable !== undefined) return crl.unusable
  return undefined
}

/** Why `crl` is not current at `now`: thisUpdate in the future, no nextUpdate, or nextUpdate passed. */
export function crlFreshnessProblem(crl: ParsedCrl, now: number): string | undefined {
  if (crl.thisUpdate > now) return 'CRL thisUpdate is in the future'
  if (crl.nextUpdate === undefined) return 'CRL has no nextUpdate'
  if (crl.nextUpdate < now) return `CRL is stale (nextUpdate ${new Date(crl.nextUpdate).toISOString()})`
  return undefined
}
