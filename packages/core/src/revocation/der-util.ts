import {
  children,
  DerError,
  expectTag,
  raw,
  readBoolean,
  readOid,
  readRoot,
  TAG,
  type Tlv,
  value,
} from '../asn1/der.js'
import type { AlgorithmIdentifier } from '../cert/parse.js'

/** One extension as found in a certificate, CRL or CRL entry. */
export interface RawExtension {
  readonly oid: string
  readonly critical: boolean
  /** Contents of `extnValue` (the bytes inside the OCTET STRING). */
  readonly value: Uint8Array
}

/** Reads `Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension`; duplicates are rejected (RFC 5280 §4.2, §5.2). */
export function readExtensions(buf: Uint8Array, seq: Tlv): RawExtension[] {
  const out: RawExtension[] = []
  const seen = new Set<string>()
  const items = children(buf, expectTag(seq, TAG.SEQUENCE, 'Extensions'))
  if (items.length === 0) throw new DerError('empty Extensions')
  for (const ext of items) {
    const parts = children(buf, expectTag(ext, TAG.SEQUENCE, 'Extension'))
    const oid = readOid(buf, parts[0]!)
    let k = 1
    let critical = false
    if (parts[k]?.tag === TAG.BOOLEAN) critical = readBoolean(buf, parts[k++]!)
    const octets = expectTag(parts[k++], TAG.OCTET_STRING, 'extnValue')
    if (parts[k] !== undefined) throw new DerError('bad Extension')
    if (seen.has(oid)) throw new DerError(`duplicate extension ${oid}`)
    seen.add(oid)
    out.push({ oid, critical, value: value(buf, octets) })
  }
  return out
}

/** The extension's content as one element filling `extnValue` exactly. */
export function innerRoot(ext: RawExtension): Tlv {
  return readRoot(ext.value)
}

export function readAlgorithm(buf: Uint8Array, tlv: Tlv | undefined): AlgorithmIdentifier {
  const seq = expectTag(tlv, TAG.SEQUENCE, 'AlgorithmIdentifier')
  const [oidTlv, params, extra] = children(buf, seq)
  if (oidTlv === undefined || extra !== undefined) throw new DerError('bad AlgorithmIdentifier')
  return { oid: readOid(buf, oidTlv), der: raw(buf, seq), params: params ? raw(buf, params) : undefined }
}

/** The extensions of an (already validated) certificate, read from its DER. */
export function certificateExtensions(der: Uint8Array): RawExtension[] {
  const root = readRoot(der)
  const [tbs] = children(der, root)
  const fields = children(der, expectTag(tbs, TAG.SEQUENCE, 'TBSCertificate'))
  const wrapper = fields.find((f) => f.tag === 0xa3)
  if (wrapper === undefined) return []
  const [seq] = children(der, wrapper)
  return readExtensions(der, expectTag(seq, TAG.SEQUENCE, 'Extensions'))
}

const OID_CDP = '2.5.29.31'
const OID_AIA = '1.3.6.1.5.5.7.1.1'
const OID_AD_OCSP = '1.3.6.1.5.5.7.48.1'

/** An `http:` URI GeneralName, else undefined. */
function uriOf(buf: Uint8Array, tlv: Tlv): string | undefined {
  if (tlv.tag !== 0x86) return undefined
  const bytes = value(buf, tlv)
  for (const b of bytes) if (b < 0x21 || b > 0x7e) return undefined
  const uri = Buffer.from(bytes).toString('latin1')
  return uri.toLowerCase().startsWith('http://') ? uri : undefined
}

/**
 * `http:` URIs of the certificate's CRL distribution points (RFC 5280 §4.2.1.13). Only
 * distribution points naming a full CRL are used: entries with `reasons` (partitioned) or
 * `cRLIssuer` (indirect) are skipped, as are relative names and other URI schemes.
 */
export function crlDistributionPointUrls(der: Uint8Array): string[] {
  const ext = certificateExtensions(der).find((e) => e.oid === OID_CDP)
  if (ext === undefined) return []
  const buf = ext.value
  const out: string[] = []
  for (const dp of children(buf, expectTag(innerRoot(ext), TAG.SEQUENCE, 'CRLDistributionPoints'))) {
    const parts = children(buf, expectTag(dp, TAG.SEQUENCE, 'DistributionPoint'))
    if (parts.some((p) => p.tag !== 0xa0)) continue
    const dpName = parts[0]
    if (dpName === undefined) continue
    const [choice] = children(buf, dpName)
    if (choice === undefined || choice.tag !== 0xa0) continue
    for (const gn of children(buf, choice)) {
      const uri = uriOf(buf, gn)
      if (uri !== undefined) out.push(uri)
    }
  }
  return out
}

/** `http:` URIs of the certificate's OCSP responders (AIA id-ad-ocsp, RFC 5280 §4.2.2.1). */
export function ocspUrls(der: Uint8Array): string[] {
  const ext = certificateExtensions(der).find((e) => e.oid === OID_AIA)
  if (ext === undefined) return []
  const buf = ext.value
  const out: string[] = []
  for (const ad of children(buf, expectTag(innerRoot(ext), TAG.SEQUENCE, 'AuthorityInfoAccessSyntax'))) {
    const [method, location] = children(buf, expectTag(ad, TAG.SEQUENCE, 'AccessDescription'))
    if (method === undefined || location === undefined) continue
    if (readOid(buf, method) !== OID_AD_OCSP) continue
    const uri = uriOf(buf, location)
    if (uri !== undefined) out.push(uri)
  }
  return out
}

/** The `subjectPublicKey` BIT STRING contents (without the unused-bits octet), for OCSP key hashes. */
export function subjectPublicKeyBits(spki: Uint8Array): Uint8Array {
  const root = readRoot(spki)
  const [, key] = children(spki, root)
  const bits = expectTag(key, TAG.BIT_STRING, 'subjectPublicKey')
  return value(spki, bits).subarray(1)
}
