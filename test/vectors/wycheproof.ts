import { createPublicKey, type KeyObject, webcrypto } from 'node:crypto'
import * as pkijs from 'pkijs'
import { verifyData } from '../../packages/core/src/validate/signature.js'
import { type Curve, loadWycheproof, type WycheproofTest } from './load.js'
import { x509 } from './others.js'

/**
 * Wycheproof ECDSA vectors through three verification paths: the core's `verifyData`
 * (signature.ts, node:crypto with dsaEncoding 'der'), and the certificate-signature paths of
 * @peculiar/x509 (ASN.1 → WebCrypto signature formatter) and pkijs (CryptoEngine
 * verifyWithPublicKey), which decode the signature leniently before WebCrypto.
 */

const SIG_OID: Readonly<Record<Curve, string>> = {
  'P-256': '1.2.840.10045.4.3.2',
  'P-384': '1.2.840.10045.4.3.3',
}
const HASH: Readonly<Record<Curve, string>> = { 'P-256': 'SHA-256', 'P-384': 'SHA-384' }

export type Verifier = 'ours' | 'pkijs' | '@peculiar/x509'

export interface WycheproofTally {
  readonly curve: Curve
  readonly verifier: Verifier
  /** "invalid" vectors accepted (must be 0 for ours). */
  readonly invalidAccepted: readonly number[]
  /** "valid" vectors rejected (must be 0 for ours). */
  readonly validRejected: readonly number[]
  readonly acceptableAccepted: number
  readonly acceptableRejected: number
  readonly counts: { readonly valid: number; readonly invalid: number; readonly acceptable: number }
}

interface Key {
  readonly node: KeyObject
  readonly spki: Uint8Array
}

function keyOf(curve: Curve, uncompressed: string): Key {
  const point = Buffer.from(uncompressed, 'hex')
  const size = (point.length - 1) / 2
  const node = createPublicKey({
    format: 'jwk',
    key: {
      kty: 'EC',
      crv: curve,
      x: point.subarray(1, 1 + size).toString('base64url'),
      y: point.subarray(1 + size).toString('base64url'),
    },
  })
  return { node, spki: new Uint8Array(node.export({ type: 'spki', format: 'der' })) }
}

type Verify = (curve: Curve, key: Key, msg: Uint8Array, sig: Uint8Array) => Promise<boolean>

const VERIFIERS: Readonly<Record<Verifier, Verify>> = {
  ours: async (curve, key, msg, sig) =>
    verifyData({ oid: SIG_OID[curve], der: new Uint8Array(), params: undefined }, key.node, msg, sig),
  '@peculiar/x509': async (curve, key, msg, sig) => {
    try {
      const algorithm = { name: 'ECDSA', namedCurve: curve, hash: HASH[curve] }
      const raw = new x509.AsnEcSignatureFormatter().toWebSignature(algorithm, sig)
      if (raw === null) return false
      const cryptoKey = await webcrypto.subtle.importKey('spki', key.spki, algorithm, false, ['verify'])
      return await webcrypto.subtle.verify(algorithm, cryptoKey, raw, msg)
    } catch {
      return false
    }
  },
  pkijs: async (curve, key, msg, sig) => {
    try {
      const engine = pkijs.getEngine().crypto
      if (engine === null) throw new Error('pkijs has no crypto engine')
      const info = pkijs.PublicKeyInfo.fromBER(key.spki)
      const alg = new pkijs.AlgorithmIdentifier({ algorithmId: SIG_OID[curve] })
      // verifyWithPublicKey reads only signature.valueBlock.valueHexView (a BIT STRING's bytes).
      const bits = { valueBlock: { valueHexView: sig } } as unknown as Parameters<
        typeof engine.verifyWithPublicKey
      >[1]
      return await engine.verifyWithPublicKey(msg, bits, info, alg)
    } catch {
      return false
    }
  },
}

export async function tallyWycheproof(curve: Curve, verifier: Verifier): Promise<WycheproofTally> {
  const invalidAccepted: number[] = []
  const validRejected: number[] = []
  let acceptableAccepted = 0
  let acceptableRejected = 0
  const counts = { valid: 0, invalid: 0, acceptable: 0 }
  for (const group of loadWycheproof(curve)) {
    if (group.sha !== HASH[curve]) throw new Error(`unexpected hash ${group.sha} in the ${curve} file`)
    const key = keyOf(curve, group.publicKey.uncompressed)
    for (const t of group.tests) {
      counts[t.result]++
      const ok = await VERIFIERS[verifier](curve, key, bytes(t.msg), bytes(t.sig))
      record(t, ok)
    }
  }
  return { curve, verifier, invalidAccepted, validRejected, acceptableAccepted, acceptableRejected, counts }

  function record(t: WycheproofTest, ok: boolean): void {
    if (t.result === 'invalid' && ok) invalidAccepted.push(t.tcId)
    if (t.result === 'valid' && !ok) validRejected.push(t.tcId)
    if (t.result === 'acceptable') {
      if (ok) acceptableAccepted++
      else acceptableRejected++
    }
  }
}

function bytes(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

export function formatTally(t: WycheproofTally): string {
  return `${t.verifier} ${t.curve}: invalid accepted ${t.invalidAccepted.length}/${t.counts.invalid}, valid rejected ${t.validRejected.length}/${t.counts.valid}, acceptable accepted ${t.acceptableAccepted}/${t.counts.acceptable}${t.invalidAccepted.length > 0 ? ` (tcIds ${t.invalidAccepted.join(',')})` : ''}`
}
