import { createHash } from 'node:crypto'
import {
  children,
  DerError,
  expectTag,
  raw,
  readBitString,
  readBoolean,
  readIntegerBytes,
  readOid,
  readRoot,
  readSmallInteger,
  readString,
  readTime,
  readTlv,
  TAG,
  type Tlv,
  value,
} from '../asn1/der.js'
import { hex, type ParsedName, parseName } from '../asn1/name.js'
import { formatIp } from './ip.js'

export const OID = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  nameConstraints: '2.5.29.30',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
  certificatePolicies: '2.5.29.32',
  policyMappings: '2.5.29.33',
  policyConstraints: '2.5.29.36',
  inhibitAnyPolicy: '2.5.29.54',
  issuerAltName: '2.5.29.18',
  crlDistributionPoints: '2.5.29.31',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  ekuClientAuth: '1.3.6.1.5.5.7.3.2',
  ekuServerAuth: '1.3.6.1.5.5.7.3.1',
  ekuAny: '2.5.29.37.0',
} as const

/**
 * Extensions this library understands well enough that their being critical is not a reason
 * to reject (RFC 5280 §4.2). Policy extensions are recognised but policy processing is not
 * performed: the validator behaves as with initial-policy-set = anyPolicy and no explicit
 * policy required, as Go and webpki do.
 */
const RECOGNISED: ReadonlySet<string> = new Set([
  OID.basicConstraints,
  OID.keyUsage,
  OID.extKeyUsage,
  OID.subjectAltName,
  OID.nameConstraints,
  OID.subjectKeyId,
  OID.authorityKeyId,
  OID.certificatePolicies,
  OID.policyMappings,
  OID.policyConstraints,
  OID.inhibitAnyPolicy,
  OID.issuerAltName,
  OID.crlDistributionPoints,
  OID.authorityInfoAccess,
])

/** keyUsage bits, RFC 5280 §4.2.1.3 (bit 0 is the most significant bit of the first byte). */
export const KU = {
  digitalSignature: 1 << 0,
  nonRepudiation: 1 << 1,
  keyEncipherment: 1 << 2,
  dataEncipherment: 1 << 3,
  keyAgreement: 1 << 4,
  keyCertSign: 1 << 5,
  cRLSign: 1 << 6,
  encipherOnly: 1 << 7,
  decipherOnly: 1 << 8,
} as const

export interface SubjectAltNames {
  readonly dns: readonly string[]
  readonly uri: readonly string[]
  readonly email: readonly string[]
  readonly ip: readonly string[]
}

/** A general name as name constraints need it. */
export type GeneralName =
  | { readonly kind: 'dns' | 'uri' | 'email'; readonly value: string }
  | { readonly kind: 'ip'; readonly bytes: Uint8Array }
  | { readonly kind: 'dn'; readonly name: ParsedName }
  | { readonly kind: 'other'; readonly tag: number }

export interface GeneralSubtree {
  readonly base: GeneralName
}

export interface NameConstraints {
  readonly permitted?: readonly GeneralSubtree[] | undefined
  readonly excluded?: readonly GeneralSubtree[] | undefined
}

export interface AlgorithmIdentifier {
  readonly oid: string
  /** DER of the whole AlgorithmIdentifier, for the §4.1.1.2 equality check. */
  readonly der: Uint8Array
  /** DER of the parameters, when present. */
  readonly params?: Uint8Array | undefined
}

/** The parts of an X.509 certificate the validator and identity mapping use. */
export interface ParsedCertificate {
  readonly der: Uint8Array
  readonly tbs: Uint8Array
  readonly version: number
  readonly serialNumber: string
  readonly innerSignatureAlgorithm: AlgorithmIdentifier
  readonly signatureAlgorithm: AlgorithmIdentifier
  readonly signature: Uint8Array
  readonly issuer: ParsedName
  readonly subject: ParsedName
  readonly issuerDer: Uint8Array
  readonly subjectDer: Uint8Array
  readonly notBefore: number
  readonly notAfter: number
  readonly spki: Uint8Array
  readonly spkiAlgorithm: string
  /** DER of the SubjectPublicKeyInfo algorithm parameters (an EC key's curve), when present. */
  readonly spkiParameters?: Uint8Array | undefined
  readonly basicConstraints?: { readonly ca: boolean; readonly pathLen?: number | undefined } | undefined
  readonly keyUsage?: number | undefined
  readonly extKeyUsage?: readonly string[] | undefined
  readonly san: SubjectAltNames
  /** Every SAN entry, including kinds the principal does not expose (for name constraints). */
  readonly sanNames: readonly GeneralName[]
  readonly nameConstraints?: NameConstraints | undefined
  readonly subjectKeyId?: string | undefined
  readonly authorityKeyId?: string | undefined
  readonly unknownCriticalExtensions: readonly string[]
  /** OIDs of every extension marked critical, for the profile rules of validate/profile.ts. */
  readonly criticalExtensions: readonly string[]
  /** Lower-case hex SHA-256 of the DER. */
  readonly fingerprint256: string
  /** base64url SHA-256 of the DER (RFC 8705 `x5t#S256`). */
  readonly x5tS256: string
  /** Lower-case hex SHA-256 of the SubjectPublicKeyInfo DER. */
  readonly spkiSha256: string
  readonly selfIssued: boolean
}

/** Parses DER strictly; throws `DerError` on anything malformed. */
export function parseCertificate(input: Uint8Array): ParsedCertificate {
  const der = Uint8Array.from(input)
  const root = expectTag(readRoot(der), TAG.SEQUENCE, 'Certificate')
  const [tbsTlv, sigAlgTlv, sigTlv, extra] = children(der, root)
  if (tbsTlv === undefined || sigAlgTlv === undefined || sigTlv === undefined || extra !== undefined) {
    throw new DerError('Certificate must have exactly three fields')
  }
  expectTag(tbsTlv, TAG.SEQUENCE, 'TBSCertificate')
  const fields = children(der, tbsTlv)
  let i = 0
  let version = 1
  if (fields[0]?.tag === 0xa0) {
    const [v, more] = children(der, fields[0])
    if (v === undefined || more !== undefined) throw new DerError('bad version')
    version = readSmallInteger(der, v) + 1
    if (version < 2 || version > 3) throw new DerError('unsupported version')
    i = 1
  }
  const serialBytes = readIntegerBytes(der, fields[i++]!)
  const innerSignatureAlgorithm = readAlgorithm(der, fields[i++])
  const issuerTlv = expectTag(fields[i++], TAG.SEQUENCE, 'issuer')
  const validity = children(der, expectTag(fields[i++], TAG.SEQUENCE, 'validity'))
  if (validity.length !== 2) throw new DerError('bad validity')
  const subjectTlv = expectTag(fields[i++], TAG.SEQUENCE, 'subject')
  const spkiTlv = expectTag(fields[i++], TAG.SEQUENCE, 'subjectPublicKeyInfo')
  const [spkiAlgTlv, spkiKeyTlv] = children(der, spkiTlv)
  const { oid: spkiAlgorithm, params: spkiParameters } = readAlgorithm(der, spkiAlgTlv)
  readBitString(der, expectTag(spkiKeyTlv, TAG.BIT_STRING, 'subjectPublicKey'))
  // issuerUniqueID [1] and subjectUniqueID [2] are allowed and ignored.
  while (fields[i] !== undefined && (fields[i]!.tag === 0x81 || fields[i]!.tag === 0xa1)) i++
  while (fields[i] !== undefined && (fields[i]!.tag === 0x82 || fields[i]!.tag === 0xa2)) i++
  let extensions: Tlv[] = []
  if (fields[i]?.tag === 0xa3) {
    if (version !== 3) throw new DerError('extensions in a non-v3 certificate')
    const [seq, more] = children(der, fields[i]!)
    if (more !== undefined) throw new DerError('bad extensions wrapper')
    extensions = children(der, expectTag(seq, TAG.SEQUENCE, 'Extensions'))
    if (extensions.length === 0) throw new DerError('empty Extensions')
    i++
  }
  if (fields[i] !== undefined) throw new DerError('unexpected field in TBSCertificate')

  const signatureAlgorithm = readAlgorithm(der, sigAlgTlv)
  const sig = readBitString(der, sigTlv)
  if (sig.unused !== 0) throw new DerError('signature has unused bits')

  const issuer = parseName(der, issuerTlv)
  const subject = parseName(der, subjectTlv)
  const spki = raw(der, spkiTlv)
  const digest = createHash('sha256').update(der).digest()
  const ext = parseExtensions(der, extensions)
  return {
    der,
    tbs: raw(der, tbsTlv),
    version,
    serialNumber: hex(serialBytes[0] === 0 && serialBytes.length > 1 ? serialBytes.subarray(1) : serialBytes),
    innerSignatureAlgorithm,
    signatureAlgorithm,
    signature: sig.bytes,
    issuer,
    subject,
    issuerDer: raw(der, issuerTlv),
    subjectDer: raw(der, subjectTlv),
    notBefore: readTime(der, validity[0]!),
    notAfter: readTime(der, validity[1]!),
    spki,
    spkiAlgorithm,
    spkiParameters,
    ...ext,
    fingerprint256: digest.toString('hex'),
    x5tS256: digest.toString('base64url'),
    spkiSha256: createHash('sha256').update(spki).digest('hex'),
    selfIssued: issuer.matchKey === subject.matchKey,
  }
}

function readAlgorithm(der: Uint8Array, tlv: Tlv | undefined): AlgorithmIdentifier {
  const seq = expectTag(tlv, TAG.SEQUENCE, 'AlgorithmIdentifier')
  const [oidTlv, params, extra] = children(der, seq)
  if (oidTlv === undefined || extra !== undefined) throw new DerError('bad AlgorithmIdentifier')
  return { oid: readOid(der, oidTlv), der: raw(der, seq), params: params ? raw(der, params) : undefined }
}

type ExtensionFields = Pick<
  ParsedCertificate,
  | 'basicConstraints'
  | 'keyUsage'
  | 'extKeyUsage'
  | 'san'
  | 'sanNames'
  | 'nameConstraints'
  | 'subjectKeyId'
  | 'authorityKeyId'
  | 'unknownCriticalExtensions'
  | 'criticalExtensions'
>

function parseExtensions(der: Uint8Array, extensions: Tlv[]): ExtensionFields {
  const seen = new Set<string>()
  const unknownCritical: string[] = []
  const criticalExtensions: string[] = []
  const out: {
    -readonly [K in keyof ExtensionFields]: ExtensionFields[K]
  } = {
    san: { dns: [], uri: [], email: [], ip: [] },
    sanNames: [],
    unknownCriticalExtensions: unknownCritical,
    criticalExtensions,
  }
  for (const ext of extensions) {
    const parts = children(der, expectTag(ext, TAG.SEQUENCE, 'Extension'))
    const oid = readOid(der, parts[0]!)
    let critical = false
    let k = 1
    if (parts[k]?.tag === TAG.BOOLEAN) critical = readBoolean(der, parts[k++]!)
    const octets = expectTag(parts[k++], TAG.OCTET_STRING, 'extnValue')
    if (parts[k] !== undefined) throw new DerError('bad Extension')
    // RFC 5280 §4.2: a certificate MUST NOT include more than one instance of an extension.
    if (seen.has(oid)) throw new DerError(`duplicate extension ${oid}`)
    seen.add(oid)
    if (critical) criticalExtensions.push(oid)
    const body = value(der, octets)
    const inner = () => {
      const t = readTlv(body, 0)
      if (t.end !== body.length) throw new DerError(`trailing bytes in extension ${oid}`)
      return t
    }
    switch (oid) {
      case OID.basicConstraints:
        out.basicConstraints = parseBasicConstraints(body, inner())
        break
      case OID.keyUsage:
        out.keyUsage = parseKeyUsage(body, inner())
        break
      case OID.extKeyUsage:
        out.extKeyUsage = parseEku(body, inner())
        break
      case OID.subjectAltName: {
        const names = parseGeneralNames(body, inner())
        out.sanNames = names
        out.san = summariseSan(names)
        break
      }
      case OID.nameConstraints:
        out.nameConstraints = parseNameConstraints(body, inner())
        break
      case OID.subjectKeyId:
        out.subjectKeyId = hex(value(body, expectTag(inner(), TAG.OCTET_STRING, 'SubjectKeyIdentifier')))
        break
      case OID.authorityKeyId:
        out.authorityKeyId = parseAki(body, inner())
        break
      case OID.authorityInfoAccess:
        checkAia(body, inner())
        break
      default:
        if (critical && !RECOGNISED.has(oid)) unknownCritical.push(oid)
    }
  }
  return out
}

function parseBasicConstraints(buf: Uint8Array, tlv: Tlv): { ca: boolean; pathLen?: number } {
  const parts = children(buf, expectTag(tlv, TAG.SEQUENCE, 'BasicConstraints'))
  let k = 0
  let ca = false
  if (parts[k]?.tag === TAG.BOOLEAN) ca = readBoolean(buf, parts[k++]!)
  let pathLen: number | undefined
  if (parts[k] !== undefined) pathLen = readSmallInteger(buf, parts[k++]!)
  if (parts[k] !== undefined) throw new DerError('bad BasicConstraints')
  return pathLen === undefined ? { ca } : { ca, pathLen }
}

function parseKeyUsage(buf: Uint8Array, tlv: Tlv): number {
  const { bytes } = readBitString(buf, tlv)
  let bits = 0
  for (let bit = 0; bit < 9; bit++) {
    const byte = bytes[bit >> 3] ?? 0
    if (byte & (0x80 >> (bit & 7))) bits |= 1 << bit
  }
  return bits
}

function parseEku(buf: Uint8Array, tlv: Tlv): string[] {
  const oids = children(buf, expectTag(tlv, TAG.SEQUENCE, 'ExtKeyUsageSyntax')).map((t) => readOid(buf, t))
  if (oids.length === 0) throw new DerError('empty ExtKeyUsageSyntax')
  return oids
}

function parseAki(buf: Uint8Array, tlv: Tlv): string | undefined {
  for (const part of children(buf, expectTag(tlv, TAG.SEQUENCE, 'AuthorityKeyIdentifier'))) {
    if (part.tag === 0x80) return hex(value(buf, part))
  }
  return undefined
}

/** RFC 5280 §4.2.2.1: SEQUENCE SIZE (1..MAX) OF AccessDescription { accessMethod, accessLocation }. */
function checkAia(buf: Uint8Array, tlv: Tlv): void {
  const descriptions = children(buf, expectTag(tlv, TAG.SEQUENCE, 'AuthorityInfoAccessSyntax'))
  if (descriptions.length === 0) throw new DerError('empty AuthorityInfoAccessSyntax')
  for (const d of descriptions) {
    const [method, location, extra] = children(buf, expectTag(d, TAG.SEQUENCE, 'AccessDescription'))
    if (method === undefined || location === undefined || extra !== undefined)
      throw new DerError('bad AccessDescription')
    readOid(buf, method)
    parseGeneralName(buf, location)
  }
}

function ia5(buf: Uint8Array, tlv: Tlv): string {
  return readString(buf, { ...tlv, tag: TAG.IA5_STRING })
}

export function parseGeneralName(buf: Uint8Array, tlv: Tlv): GeneralName {
  switch (tlv.tag) {
    case 0x81:
      return { kind: 'email', value: ia5(buf, tlv) }
    case 0x82:
      return { kind: 'dns', value: ia5(buf, tlv) }
    case 0x86:
      return { kind: 'uri', value: ia5(buf, tlv) }
    case 0x87:
      return { kind: 'ip', bytes: value(buf, tlv) }
    case 0xa4: {
      const [name, extra] = children(buf, tlv)
      if (name === undefined || extra !== undefined) throw new DerError('bad directoryName')
      return { kind: 'dn', name: parseName(buf, name) }
    }
    case 0xa0:
    case 0xa3:
    case 0xa5:
    case 0x88:
      return { kind: 'other', tag: tlv.tag }
    default:
      throw new DerError('unknown GeneralName choice')
  }
}

function parseGeneralNames(buf: Uint8Array, tlv: Tlv): GeneralName[] {
  const names = children(buf, expectTag(tlv, TAG.SEQUENCE, 'GeneralNames')).map((t) =>
    parseGeneralName(buf, t),
  )
  if (names.length === 0) throw new DerError('empty GeneralNames')
  return names
}

function summariseSan(names: readonly GeneralName[]): SubjectAltNames {
  const san = { dns: [] as string[], uri: [] as string[], email: [] as string[], ip: [] as string[] }
  for (const n of names) {
    if (n.kind === 'ip') {
      if (n.bytes.length !== 4 && n.bytes.length !== 16) throw new DerError('bad iPAddress length in SAN')
      san.ip.push(formatIp(n.bytes))
    } else if (n.kind === 'dns' || n.kind === 'uri' || n.kind === 'email') {
      san[n.kind].push(n.value)
    }
  }
  return san
}

function parseSubtrees(buf: Uint8Array, tlv: Tlv): GeneralSubtree[] {
  const out: GeneralSubtree[] = []
  for (const st of children(buf, tlv)) {
    const [base, ...rest] = children(buf, expectTag(st, TAG.SEQUENCE, 'GeneralSubtree'))
    if (base === undefined) throw new DerError('empty GeneralSubtree')
    // RFC 5280 §4.2.1.10: minimum MUST be zero and maximum MUST be absent.
    if (rest.length > 0) throw new DerError('GeneralSubtree minimum/maximum are not allowed')
    const name = parseGeneralName(buf, base)
    if (name.kind === 'ip' && name.bytes.length !== 8 && name.bytes.length !== 32) {
      throw new DerError('bad iPAddress length in name constraints')
    }
    out.push({ base: name })
  }
  if (out.length === 0) throw new DerError('empty GeneralSubtrees')
  return out
}

function parseNameConstraints(buf: Uint8Array, tlv: Tlv): NameConstraints {
  const parts = children(buf, expectTag(tlv, TAG.SEQUENCE, 'NameConstraints'))
  let permitted: GeneralSubtree[] | undefined
  let excluded: GeneralSubtree[] | undefined
  for (const p of parts) {
    if (p.tag === 0xa0 && permitted === undefined && excluded === undefined) permitted = parseSubtrees(buf, p)
    else if (p.tag === 0xa1 && excluded === undefined) excluded = parseSubtrees(buf, p)
    else throw new DerError('bad NameConstraints')
  }
  if (permitted === undefined && excluded === undefined) throw new DerError('empty NameConstraints')
  return { permitted, excluded }
}
