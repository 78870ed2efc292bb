import { createPublicKey, type KeyObject, verify } from 'node:crypto'
import { children, DerError, expectTag, readOid, readRoot, readSmallInteger, TAG } from '../asn1/der.js'
import { LruCache } from '../cache.js'
import type { AlgorithmIdentifier, ParsedCertificate } from '../cert/parse.js'

/**
 * Signature checks go through `node:crypto.verify`, which (unlike the WebCrypto-based
 * verifiers in @peculiar/x509 and pkijs) rejects non-DER ECDSA signature encodings.
 */

interface SignatureScheme {
  readonly hash: string | null
  readonly keyTypes: readonly string[]
  readonly pss?: { readonly saltLength: number }
}

const HASH_BY_OID: Readonly<Record<string, string>> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
}

/** Accepted signature algorithms. SHA-1 and MD5 based ones are absent on purpose. */
const SCHEMES: Readonly<Record<string, SignatureScheme>> = {
  '1.2.840.10045.4.3.2': { hash: 'sha256', keyTypes: ['ec'] },
  '1.2.840.10045.4.3.3': { hash: 'sha384', keyTypes: ['ec'] },
  '1.2.840.10045.4.3.4': { hash: 'sha512', keyTypes: ['ec'] },
  '1.2.840.113549.1.1.11': { hash: 'sha256', keyTypes: ['rsa'] },
  '1.2.840.113549.1.1.12': { hash: 'sha384', keyTypes: ['rsa'] },
  '1.2.840.113549.1.1.13': { hash: 'sha512', keyTypes: ['rsa'] },
  '1.3.101.112': { hash: null, keyTypes: ['ed25519'] },
  '1.3.101.113': { hash: null, keyTypes: ['ed448'] },
}

const RSA_PSS = '1.2.840.113549.1.1.10'

const keyCache = new WeakMap<ParsedCertificate, KeyObject>()
/**
 * Issuer keys by their exact SubjectPublicKeyInfo bytes. A forwarded chain's intermediates are
 * parsed anew on every cold validation; without this, each one built a KeyObject (an OpenSSL key,
 * ~10 µs) that lived until the next GC. That churn of native allocations interleaved with the
 * validation cache's long-lived entries is what grew RSS after the cache cap (issue 19). Issuers
 * are few, so a small LRU keeps them all; the key is the whole SPKI, never a hash of it.
 */
const keysBySpki = new LruCache<string, KeyObject>(256)

/** The issuer's public key as a `KeyObject`, built once per key. */
export function publicKeyOf(cert: ParsedCertificate): KeyObject {
  let key = keyCache.get(cert)
  if (key === undefined) {
    const spki = Buffer.from(cert.spki.buffer, cert.spki.byteOffset, cert.spki.byteLength)
    const id = spki.toString('latin1')
    key = keysBySpki.get(id, 0)
    if (key === undefined) {
      key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' })
      keysBySpki.set(id, key, Number.POSITIVE_INFINITY)
    }
    keyCache.set(cert, key)
  }
  return key
}

/** Does `issuer`'s key verify `cert`'s signature? Any error (unknown algorithm, bad key) is a no. */
export function verifySignature(cert: ParsedCertificate, issuer: ParsedCertificate): boolean {
  try {
    return verifyData(cert.signatureAlgorithm, publicKeyOf(issuer), cert.tbs, cert.signature)
  } catch {
    return false
  }
}

/**
 * Verifies `signature` over `data` with `key` under the AlgorithmIdentifier `alg`. ECDSA
 * signatures must be DER `Ecdsa-Sig-Value` (RFC 5758 §3.2): BER variants, trailing bytes or
 * out-of-range integers are refused (Wycheproof's malformed-signature class).
 */
export function verifyData(
  alg: AlgorithmIdentifier,
  key: KeyObject,
  data: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    const scheme = schemeOf(alg)
    if (scheme === undefined) return false
    if (!scheme.keyTypes.includes(key.asymmetricKeyType ?? '')) return false
    if (scheme.pss) {
      return verify(
        scheme.hash,
        data,
        { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: scheme.pss.saltLength },
        signature,
      )
    }
    return verify(scheme.hash, data, { key, dsaEncoding: 'der' }, signature)
  } catch {
    return false
  }
}

/** RFC 5280 §4.1.1.2: the outer signatureAlgorithm must equal the signed one. */
export function algorithmsMatch(cert: ParsedCertificate): boolean {
  return Buffer.from(cert.signatureAlgorithm.der).equals(cert.innerSignatureAlgorithm.der)
}

function schemeOf(alg: AlgorithmIdentifier): SignatureScheme | undefined {
  if (alg.oid === RSA_PSS) return pssScheme(alg)
  const scheme = SCHEMES[alg.oid]
  if (scheme === undefined) return undefined
  // ECDSA and EdDSA identifiers carry no parameters (RFC 5758 §3.2, RFC 8410 §3); RSA PKCS#1
  // ones carry NULL (RFC 4055 §5), tolerated absent as many encoders omit it.
  if (scheme.keyTypes[0] === 'rsa') {
    if (
      alg.params !== undefined &&
      !(alg.params.length === 2 && alg.params[0] === TAG.NULL && alg.params[1] === 0)
    ) {
      return undefined
    }
  } else if (alg.params !== undefined) {
    return undefined
  }
  return scheme
}

/** RSASSA-PSS parameters (RFC 4055 §3.1): hash, MGF1 with the same hash, salt length, trailer 1. */
function pssScheme(alg: AlgorithmIdentifier): SignatureScheme | undefined {
  if (alg.params === undefined) return undefined
  try {
    const params = alg.params
    const seq = expectTag(readRoot(params), TAG.SEQUENCE, 'RSASSA-PSS-params')
    let hash = 'sha1'
    let mgfHash = 'sha1'
    let saltLength = 20
    for (const field of children(params, seq)) {
      const [inner] = children(params, field)
      if (inner === undefined) throw new DerError('empty PSS field')
      if (field.tag === 0xa0) {
        const [oid] = children(params, expectTag(inner, TAG.SEQUENCE, 'hashAlgorithm'))
        hash = HASH_BY_OID[readOid(params, oid!)] ?? 'unsupported'
      } else if (field.tag === 0xa1) {
        const [mgfOid, mgfParams] = children(params, expectTag(inner, TAG.SEQUENCE, 'maskGenAlgorithm'))
        if (readOid(params, mgfOid!) !== '1.2.840.113549.1.1.8') return undefined
        const [hOid] = children(params, expectTag(mgfParams, TAG.SEQUENCE, 'MGF1 hash'))
        mgfHash = HASH_BY_OID[readOid(params, hOid!)] ?? 'unsupported'
      } else if (field.tag === 0xa2) {
        saltLength = readSmallInteger(params, inner)
      } else if (field.tag === 0xa3) {
        if (readSmallInteger(params, inner) !== 1) return undefined
      } else {
        return undefined
      }
    }
    if (hash === 'sha1' || hash === 'unsupported' || mgfHash !== hash) return undefined
    return { hash, keyTypes: ['rsa', 'rsa-pss'], pss: { saltLength } }
  } catch {
    return undefined
  }
}
