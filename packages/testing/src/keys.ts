import type { webcrypto } from 'node:crypto'
import type { KeyAlgorithm, KeyGenerationOptions, SignatureHash } from './options.js'

const KEY_USAGES: webcrypto.KeyUsage[] = ['sign', 'verify']

const RSA_MODULUS: Readonly<Record<string, number>> = { 'RSA-2048': 2048, 'RSA-3072': 3072, 'RSA-4096': 4096 }

/** The exponent as the big-endian bytes WebCrypto takes. */
function exponentBytes(exponent: number): Uint8Array {
  if (!Number.isSafeInteger(exponent) || exponent < 3 || exponent % 2 === 0 || exponent > 0xffffffff) {
    throw new Error(`publicExponent must be an odd integer from 3 to 2^32-1, got ${exponent}`)
  }
  const bytes: number[] = []
  for (let e = exponent; e > 0; e = Math.floor(e / 256)) bytes.unshift(e % 256)
  return new Uint8Array(bytes)
}

function generationParams(
  algorithm: KeyAlgorithm,
  options: KeyGenerationOptions,
): webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams | webcrypto.Algorithm {
  switch (algorithm) {
    case 'P-256':
    case 'P-384':
      return { name: 'ECDSA', namedCurve: algorithm }
    case 'RSA-2048':
    case 'RSA-3072':
    case 'RSA-4096':
      return {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: RSA_MODULUS[algorithm] ?? 2048,
        publicExponent: exponentBytes(options.publicExponent ?? 65537),
        hash: 'SHA-256',
      }
    case 'Ed25519':
      return { name: 'Ed25519' }
    default:
      throw new Error(`Unsupported key algorithm: ${String(algorithm)}`)
  }
}

/** Generates an extractable signing key pair with WebCrypto. */
export async function generateKeyPair(
  algorithm: KeyAlgorithm = 'P-256',
  options: KeyGenerationOptions = {},
): Promise<webcrypto.CryptoKeyPair> {
  const params = generationParams(algorithm, options)
  const keys = await globalThis.crypto.subtle.generateKey(params, true, KEY_USAGES)
  return keys as webcrypto.CryptoKeyPair
}

const pkcs8Cache = new WeakMap<webcrypto.CryptoKey, Promise<ArrayBuffer>>()

/** Exports a private key as PKCS#8 DER (the key must be extractable). */
export async function exportPkcs8(privateKey: webcrypto.CryptoKey): Promise<Uint8Array> {
  if (!privateKey.extractable) {
    throw new Error(
      'Private key is not extractable; generate it with extractable=true so keyPem can be produced',
    )
  }
  // A reused key pair (`keys`) is exported once; each caller gets its own copy of the bytes.
  let der = pkcs8Cache.get(privateKey)
  if (der === undefined) {
    der = globalThis.crypto.subtle.exportKey('pkcs8', privateKey)
    pkcs8Cache.set(privateKey, der)
  }
  return new Uint8Array((await der).slice(0))
}

interface SigningSetup {
  key: webcrypto.CryptoKey
  algorithm: webcrypto.Algorithm | webcrypto.EcdsaParams
}

function keyHash(key: webcrypto.CryptoKey): string | undefined {
  const hash = (key.algorithm as Partial<webcrypto.RsaHashedKeyAlgorithm>).hash
  return hash?.name
}

const rehashed = new WeakMap<webcrypto.CryptoKey, Map<SignatureHash, Promise<webcrypto.CryptoKey>>>()

/** WebCrypto binds an RSA key to one hash; a CA signing with another gets a re-imported copy, once. */
function rsaKeyWithHash(key: webcrypto.CryptoKey, hash: SignatureHash): Promise<webcrypto.CryptoKey> {
  if (keyHash(key) === hash) return Promise.resolve(key)
  let byHash = rehashed.get(key)
  if (byHash === undefined) {
    byHash = new Map()
    rehashed.set(key, byHash)
  }
  let copy = byHash.get(hash)
  if (copy === undefined) {
    copy = exportPkcs8(key).then((pkcs8) =>
      globalThis.crypto.subtle.importKey('pkcs8', pkcs8, { name: key.algorithm.name, hash }, false, ['sign']),
    )
    byHash.set(hash, copy)
  }
  return copy
}

/**
 * Chooses the signature algorithm for an issuer key: ECDSA with SHA-384 for P-384 and SHA-256
 * otherwise, RSA with the key's hash, Ed25519 pure. `hash` overrides the hash (an RSA key is
 * re-imported with the requested hash).
 */
export async function signingSetup(key: webcrypto.CryptoKey, hash?: SignatureHash): Promise<SigningSetup> {
  const name = key.algorithm.name
  if (name === 'ECDSA') {
    const curve = (key.algorithm as webcrypto.EcKeyAlgorithm).namedCurve
    return { key, algorithm: { name, hash: hash ?? (curve === 'P-384' ? 'SHA-384' : 'SHA-256') } }
  }
  if (name === 'RSASSA-PKCS1-v1_5') {
    const signingKey = hash ? await rsaKeyWithHash(key, hash) : key
    return {
      key: signingKey,
      algorithm: { name, hash: keyHash(signingKey) ?? 'SHA-256' } as webcrypto.EcdsaParams,
    }
  }
  if (name === 'Ed25519') {
    if (hash)
      throw new Error('signatureAlgorithm cannot be set for an Ed25519 issuer (EdDSA has no hash choice)')
    return { key, algorithm: { name } }
  }
  throw new Error(`Unsupported issuer key algorithm: ${name}`)
}
