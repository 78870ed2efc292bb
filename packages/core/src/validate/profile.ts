import { children, readBitString, readIntegerBytes, readOid, readRoot, TAG } from '../asn1/der.js'
import { KU, OID, type ParsedCertificate } from '../cert/parse.js'
import type { ClientCertErrorCode } from '../errors.js'

/**
 * Rules that hold for a certificate wherever it sits in a path (leaf, intermediate or anchor):
 * the RFC 5280 profile constraints a validator can check on one certificate, and the key types
 * and sizes this library accepts.
 */

export type ProfileFailure = { readonly code: ClientCertErrorCode; readonly reason: string }

const EC_PUBLIC_KEY = '1.2.840.10045.2.1'

/** Curves accepted for EC keys: the NIST prime curves of RFC 5480 §2.1.1.1 minus P-192/P-224. */
const EC_CURVES: ReadonlySet<string> = new Set(['prime256v1', 'secp384r1', 'secp521r1'])

/** Extensions a conforming CA MUST mark non-critical. */
const MUST_BE_NON_CRITICAL: Readonly<Record<string, string>> = {
  [OID.authorityKeyId]: 'authorityKeyIdentifier (RFC 5280 §4.2.1.1)',
  [OID.subjectKeyId]: 'subjectKeyIdentifier (RFC 5280 §4.2.1.2)',
  [OID.authorityInfoAccess]: 'authorityInfoAccess (RFC 5280 §4.2.2.1)',
}

export function checkProfile(cert: ParsedCertificate): ProfileFailure | undefined {
  return checkExtensions(cert) ?? checkKey(cert)
}

function checkExtensions(cert: ParsedCertificate): ProfileFailure | undefined {
  const who = `"${cert.subject.dn}"`
  for (const oid of cert.criticalExtensions) {
    const name = MUST_BE_NON_CRITICAL[oid]
    if (name) return malformed(`${who} marks ${name} critical`)
  }
  // RFC 5280 §4.1.2.6 / §4.2.1.6: with an empty subject, the identity lives in a critical SAN.
  if (cert.subject.rdns.length === 0 && !cert.criticalExtensions.includes(OID.subjectAltName)) {
    return malformed('a certificate with an empty subject needs a critical subjectAltName')
  }
  const ca = cert.basicConstraints?.ca === true
  // RFC 5280 §4.2.1.10: name constraints MUST be used only in a CA certificate.
  if (!ca && cert.nameConstraints !== undefined) {
    return {
      code: 'ERR_CLIENT_CERT_NAME_CONSTRAINTS',
      reason: `${who} is not a CA but carries name constraints`,
    }
  }
  // RFC 5280 §4.2.1.9: if cA is not asserted, keyCertSign MUST NOT be asserted.
  if (!ca && cert.keyUsage !== undefined && (cert.keyUsage & KU.keyCertSign) !== 0) {
    return { code: 'ERR_CLIENT_CERT_KEY_USAGE', reason: `${who} asserts keyCertSign without cA` }
  }
  return undefined
}

/**
 * Key types and sizes. EC keys must name their curve (RFC 5480 §2.1.1: specifiedCurve MUST NOT
 * be used; explicit parameters are how CVE-2020-0601 "CurveBall" spoofed a CA key). RSA keys
 * below 2048 bits are factorable in practice (NIST SP 800-131A) and odd sizes are refused as
 * CA/B BR §6.1.5 does; P-192/P-224 and DSA are not accepted.
 */
function checkKey(cert: ParsedCertificate): ProfileFailure | undefined {
  const who = `"${cert.subject.dn}"`
  if (cert.spkiAlgorithm === EC_PUBLIC_KEY && cert.spkiParameters?.[0] !== TAG.OID) {
    return malformed(`${who} has an EC key without a named curve`)
  }
  let details: KeyDetails
  try {
    details = keyDetails(cert)
  } catch {
    return untrusted(`${who} has a public key that cannot be read`)
  }
  switch (details.type) {
    case 'rsa':
    case 'rsa-pss': {
      const bits = details.bits ?? 0
      if (bits < 2048 || bits % 8 !== 0) return untrusted(`${who} has a ${bits}-bit RSA key`)
      return undefined
    }
    case 'ec':
      if (!EC_CURVES.has(details.curve ?? '')) return untrusted(`${who} has an EC key on ${details.curve}`)
      return undefined
    case 'ed25519':
    case 'ed448':
      return undefined
    default:
      return untrusted(`${who} has an unsupported ${details.type || 'unknown'} key`)
  }
}

interface KeyDetails {
  readonly type: string
  readonly bits?: number | undefined
  readonly curve?: string | undefined
}

const CURVE_NAMES: Readonly<Record<string, string>> = {
  '1.2.840.10045.3.1.7': 'prime256v1',
  '1.3.132.0.34': 'secp384r1',
  '1.3.132.0.35': 'secp521r1',
}

const KEY_TYPES: Readonly<Record<string, string>> = {
  [EC_PUBLIC_KEY]: 'ec',
  '1.2.840.113549.1.1.1': 'rsa',
  '1.2.840.113549.1.1.10': 'rsa-pss',
  '1.3.101.112': 'ed25519',
  '1.3.101.113': 'ed448',
  '1.2.840.10040.4.1': 'dsa',
}

/**
 * Key type, curve and RSA size read from the SubjectPublicKeyInfo DER. Creating a KeyObject
 * costs about twice an ECDSA verification, and a leaf's key is never used to verify anything
 * here (the TLS stack or the proxy checked possession), so only issuers get a KeyObject.
 */
function keyDetails(cert: ParsedCertificate): KeyDetails {
  const type = KEY_TYPES[cert.spkiAlgorithm] ?? cert.spkiAlgorithm
  if (type === 'ec') {
    const params = cert.spkiParameters!
    return { type, curve: CURVE_NAMES[readOid(params, readRoot(params))] ?? 'an unsupported curve' }
  }
  if (type !== 'rsa' && type !== 'rsa-pss') return { type }
  const spki = cert.spki
  const [, keyTlv] = children(spki, readRoot(spki))
  const { bytes } = readBitString(spki, keyTlv!)
  const [modulus] = children(bytes, readRoot(bytes))
  const n = readIntegerBytes(bytes, modulus!)
  let i = 0
  while (i < n.length - 1 && n[i] === 0) i++
  const bits = (n.length - i) * 8 - Math.clz32(n[i]!) + 24
  return { type, bits }
}

function malformed(reason: string): ProfileFailure {
  return { code: 'ERR_CLIENT_CERT_MALFORMED', reason }
}

function untrusted(reason: string): ProfileFailure {
  return { code: 'ERR_CLIENT_CERT_UNTRUSTED', reason }
}
