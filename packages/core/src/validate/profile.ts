import { children, readBitString, readIntegerBytes, readOid, readRoot, TAG } from '../asn1/der.js'
import { KU, OID, type ParsedCertificate } from '../cert/parse.js'
import type { Rejection } from '../errors.js'

/**
 * Rules that hold for a certificate wherever it sits in a path (leaf, intermediate or anchor):
 * the RFC 5280 profile constraints a validator can check on one certificate, and the key types
 * and sizes this library accepts.
 */

export type ProfileFailure = Rejection

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
  return checkExtensions(cert) ?? checkKeyProfile(cert)
}

/**
 * RSA moduli above 8,192 bits are refused as Go's crypto/tls does since CVE-2023-29409: the
 * cost of a verification grows with the square of the modulus, and a verifier should not let
 * whoever sends a certificate choose it.
 */
const RSA_MAX_BITS = 8192

/**
 * The public exponent is bounded as Go's crypto/rsa bounds it (2 ≤ e ≤ 2^31 − 1), and must be
 * odd (an even e has no inverse modulo φ(n), so it is never a real key). Verification cost
 * grows with the exponent's length: a 2,040-bit e makes one RSA-2048 verification cost ~5 ms.
 */
const RSA_MAX_EXPONENT = 2 ** 31 - 1

/**
 * What one verification with a key costs, in units of one P-256 verification (rounded up,
 * measured with node:crypto.verify on OpenSSL 3). The path search charges verifications with
 * keys from client-sent chain hints against a per-request budget in these units, so the worst
 * hint set costs a bounded amount of CPU whatever key types it uses.
 */
const VERIFY_COST: Readonly<Record<string, number>> = {
  prime256v1: 1,
  // Node's OpenSSL has assembly for P-256 only: P-384 costs ~8 and P-521 15–21 P-256
  // verifications (measured); above the hint budget, so a P-521 hint key verifies nothing.
  secp384r1: 8,
  secp521r1: 20,
  ed25519: 1,
  ed448: 3,
}

interface KeyVerdict {
  readonly failure: ProfileFailure | undefined
  /** Cost of one verification with this key, in P-256 verifications (see VERIFY_COST). */
  readonly cost: number
}

const verdicts = new WeakMap<ParsedCertificate, KeyVerdict>()

/**
 * The key rules alone, memoised per parsed certificate: the path search checks a candidate
 * issuer's key with this before the key verifies anything.
 */
export function checkKeyProfile(cert: ParsedCertificate): ProfileFailure | undefined {
  return keyVerdict(cert).failure
}

/** Cost of one verification with `cert`'s key in P-256 verifications; only meaningful for a key that passed the profile. */
export function verifyCost(cert: ParsedCertificate): number {
  return keyVerdict(cert).cost
}

function keyVerdict(cert: ParsedCertificate): KeyVerdict {
  let v = verdicts.get(cert)
  if (v === undefined) {
    v = checkKey(cert)
    verdicts.set(cert, v)
  }
  return v
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
 * CA/B BR §6.1.5 does; RSA size and exponent have upper bounds too (see RSA_MAX_BITS and
 * RSA_MAX_EXPONENT); P-192/P-224 and DSA are not accepted.
 */
function checkKey(cert: ParsedCertificate): KeyVerdict {
  const who = `"${cert.subject.dn}"`
  const refuse = (failure: ProfileFailure): KeyVerdict => ({ failure, cost: Number.POSITIVE_INFINITY })
  if (cert.spkiAlgorithm === EC_PUBLIC_KEY && cert.spkiParameters?.[0] !== TAG.OID) {
    return refuse(malformed(`${who} has an EC key without a named curve`))
  }
  let details: KeyDetails
  try {
    details = keyDetails(cert)
  } catch {
    return refuse(untrusted(`${who} has a public key that cannot be read`))
  }
  switch (details.type) {
    case 'rsa':
    case 'rsa-pss': {
      const bits = details.bits ?? 0
      if (bits < 2048 || bits > RSA_MAX_BITS || bits % 8 !== 0)
        return refuse(untrusted(`${who} has a ${bits}-bit RSA key`))
      const e = details.exponent ?? 0
      if (e < 3 || e > RSA_MAX_EXPONENT || e % 2 === 0)
        return refuse(
          untrusted(
            `${who} has an RSA public exponent that is even or outside 3..2^31-1 (${e > RSA_MAX_EXPONENT ? 'too large' : e})`,
          ),
        )
      return { failure: undefined, cost: rsaCost(bits, e) }
    }
    case 'ec': {
      const cost = VERIFY_COST[details.curve ?? '']
      if (!EC_CURVES.has(details.curve ?? '') || cost === undefined)
        return refuse(untrusted(`${who} has an EC key on ${details.curve}`))
      return { failure: undefined, cost }
    }
    case 'ed25519':
    case 'ed448':
      return { failure: undefined, cost: VERIFY_COST[details.type] ?? Number.POSITIVE_INFINITY }
    default:
      return refuse(untrusted(`${who} has an unsupported ${details.type || 'unknown'} key`))
  }
}

/**
 * An RSA verification is one modular exponentiation: a multiplication per exponent bit and
 * per set bit, each about quadratic in the modulus. RSA-2048 with e = 65537 costs less than
 * one P-256 verification (charged 1); RSA-4096 2, RSA-8192 8, and RSA-8192 with e = 2^31 − 1 27.
 */
function rsaCost(bits: number, e: number): number {
  const exponentBits = Math.floor(Math.log2(e)) + 1
  let ones = 0
  for (let v = e; v > 0; v = Math.floor(v / 2)) ones += v % 2
  return Math.ceil(((bits / 2048) ** 2 * (exponentBits + ones)) / 38)
}

interface KeyDetails {
  readonly type: string
  readonly bits?: number | undefined
  /** RSA public exponent; -1 when negative, Infinity when longer than 32 bits (refused either way). */
  readonly exponent?: number | undefined
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
  const [modulus, exponentTlv] = children(bytes, readRoot(bytes))
  const n = readIntegerBytes(bytes, modulus!)
  let i = 0
  while (i < n.length - 1 && n[i] === 0) i++
  const bits = (n.length - i) * 8 - Math.clz32(n[i]!) + 24
  // Negative or longer than 4 content bytes: out of bounds whatever its value.
  const eBytes = readIntegerBytes(bytes, exponentTlv!)
  let exponent = eBytes[0]! >= 0x80 ? -1 : eBytes.length > 5 ? Number.POSITIVE_INFINITY : 0
  if (exponent === 0) for (const b of eBytes) exponent = exponent * 256 + b
  return { type, bits, exponent }
}

function malformed(reason: string): ProfileFailure {
  return { code: 'ERR_CLIENT_CERT_MALFORMED', reason }
}

function untrusted(reason: string): ProfileFailure {
  return { code: 'ERR_CLIENT_CERT_UNTRUSTED', reason }
}
