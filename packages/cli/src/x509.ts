import type { webcrypto } from 'node:crypto'
import { createPrivateKey, createPublicKey } from 'node:crypto'

/** The `@peculiar/x509` module namespace. */
export type X509Module = typeof import('@peculiar/x509')

let loading: Promise<X509Module> | undefined

/** Loads `@peculiar/x509` after `reflect-metadata` (its tsyringe dependency needs the polyfill first). */
export function loadX509(): Promise<X509Module> {
  loading ??= import('reflect-metadata').then(() => import('@peculiar/x509'))
  return loading
}

export interface SigningKey {
  readonly privateKey: webcrypto.CryptoKey
  readonly publicKey: webcrypto.CryptoKey
  readonly algorithm: webcrypto.Algorithm | webcrypto.EcdsaParams
}

/**
 * Imports a PEM private key (PKCS#8, SEC1 or PKCS#1) into WebCrypto for signing certificates:
 * ECDSA P-256/P-384 (SHA-256/SHA-384), RSA (PKCS#1 v1.5 with SHA-256) or Ed25519.
 */
export async function importSigningKey(pem: string): Promise<SigningKey> {
  const key = createPrivateKey(pem)
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' })
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' })
  const subtle = globalThis.crypto.subtle
  let importAlg: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams | webcrypto.Algorithm
  let algorithm: webcrypto.Algorithm | webcrypto.EcdsaParams
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve
      const namedCurve = curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : undefined
      if (!namedCurve) throw new Error(`unsupported EC curve ${curve ?? '(unknown)'}`)
      importAlg = { name: 'ECDSA', namedCurve }
      algorithm = {
        name: 'ECDSA',
        hash: namedCurve === 'P-384' ? 'SHA-384' : 'SHA-256',
      } as webcrypto.EcdsaParams
      break
    }
    case 'rsa':
      importAlg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
      algorithm = { name: 'RSASSA-PKCS1-v1_5' }
      break
    case 'ed25519':
      importAlg = { name: 'Ed25519' }
      algorithm = { name: 'Ed25519' }
      break
    default:
      throw new Error(`unsupported key type ${key.asymmetricKeyType ?? '(unknown)'}`)
  }
  const privateKey = await subtle.importKey('pkcs8', pkcs8, importAlg, false, ['sign'])
  const publicKey = await subtle.importKey('spki', spki, importAlg, true, ['verify'])
  return { privateKey, publicKey, algorithm }
}
