import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto'

/**
 * Certificates an attacker could send, for tests of what a verifier refuses and what it costs:
 * a certificate carrying an arbitrary public key, an RSA key with a very large public
 * exponent, and the second valid ECDSA signature (s → n − s) of a certificate. The outputs
 * are DER; signatures over a replaced key are left as they were (so they no longer verify).
 */

interface Tlv {
  readonly tag: number
  readonly start: number
  readonly body: number
  readonly end: number
}

function read(der: Uint8Array, at: number): Tlv {
  const tag = der[at]!
  let len = der[at + 1]!
  let body = at + 2
  if (len >= 0x80) {
    const n = len & 0x7f
    len = 0
    for (let i = 0; i < n; i++) len = len * 256 + der[at + 2 + i]!
    body += n
  }
  return { tag, start: at, body, end: body + len }
}

function kids(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = []
  for (let at = parent.body; at < parent.end; ) {
    const k = read(der, at)
    out.push(k)
    at = k.end
  }
  return out
}

function tlv(tag: number, ...parts: readonly Uint8Array[]): Uint8Array {
  const body = Buffer.concat(parts)
  const n = body.length
  const len: number[] = []
  if (n < 0x80) len.push(n)
  else {
    for (let v = n; v > 0; v = Math.floor(v / 256)) len.unshift(v & 0xff)
    len.unshift(0x80 | len.length)
  }
  return new Uint8Array(Buffer.concat([Uint8Array.of(tag, ...len), body]))
}

function integer(value: bigint): Uint8Array {
  let hex = value.toString(16)
  if (hex.length % 2) hex = `0${hex}`
  const bytes = Buffer.from(hex, 'hex')
  return tlv(0x02, bytes[0]! & 0x80 ? Buffer.concat([Uint8Array.of(0), bytes]) : bytes)
}

const toBig = (bytes: Uint8Array): bigint => BigInt(`0x${Buffer.from(bytes).toString('hex') || '0'}`)

/** An RSA SubjectPublicKeyInfo (rsaEncryption) for modulus `n` and exponent `e`, whatever they are. */
export function rsaSpki(n: bigint, e: bigint): Uint8Array {
  const alg = tlv(0x30, tlv(0x06, Buffer.from('2a864886f70d010101', 'hex')), Uint8Array.of(0x05, 0))
  const key = tlv(0x30, integer(n), integer(e))
  return tlv(0x30, alg, tlv(0x03, Uint8Array.of(0), key))
}

/**
 * The SPKI of an RSA key with a real `modulusBits` modulus and a random odd public exponent of
 * `exponentBits` bits (kept below the modulus, or OpenSSL refuses it cheaply). With a 2,048-bit
 * modulus and a 2,040-bit exponent, one verification costs milliseconds.
 */
export function largeExponentRsaSpki(exponentBits: number, modulusBits = 2048): Uint8Array {
  const jwk = createPublicKey({ key: rsaPublicDer(modulusBits), format: 'der', type: 'spki' }).export({
    format: 'jwk',
  })
  const n = toBig(Buffer.from(jwk.n ?? '', 'base64url'))
  const bits = Math.min(exponentBits, modulusBits - 1)
  let e = toBig(randomBytes(Math.ceil(bits / 8))) & ((1n << BigInt(bits)) - 1n)
  e |= (1n << BigInt(bits - 1)) | 1n
  return rsaSpki(n, e)
}

/**
 * The SPKI (DER) of a new RSA key, encoded by the key generation itself. Exporting from the
 * `KeyObject` that `generateKeyPairSync` returns can deadlock on Node 20: a garbage collection
 * during the export may run the finished generation job's destructor, which takes the lock of
 * the same key data the export holds (seen as a benchmark that hung with every thread waiting).
 * A key parsed from these bytes has data and a lock of its own.
 */
function rsaPublicDer(modulusBits: number): Buffer {
  return generateKeyPairSync('rsa', {
    modulusLength: modulusBits,
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'der' },
  }).publicKey
}

/** `certDer` with its SubjectPublicKeyInfo replaced by `spkiDer` (the signature is left unchanged). */
export function withPublicKey(certDer: Uint8Array, spkiDer: Uint8Array): Uint8Array {
  const root = read(certDer, 0)
  const [tbs, alg, sig] = kids(certDer, root)
  if (!tbs || !alg || !sig) throw new Error('not a certificate')
  const fields = kids(certDer, tbs)
  const at = fields[0]?.tag === 0xa0 ? 6 : 5
  const parts = fields.map((f, i) => (i === at ? spkiDer : certDer.subarray(f.start, f.end)))
  return tlv(
    0x30,
    tlv(0x30, ...parts),
    certDer.subarray(alg.start, alg.end),
    certDer.subarray(sig.start, sig.end),
  )
}

const CURVE_ORDERS: Readonly<Record<number, bigint>> = {
  // Orders of P-256, P-384 and P-521 (FIPS 186-4 D.1.2), told apart by the length of r and s.
  256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  384: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  521: 0x01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
}

/**
 * The same certificate with its ECDSA signature (r, s) replaced by (r, n − s), which verifies
 * just as well: ECDSA signatures are malleable, so one certificate has two valid encodings and
 * two SHA-256 fingerprints. `curveBits` is 256, 384 or 521.
 */
export function malleateEcdsaSignature(certDer: Uint8Array, curveBits: 256 | 384 | 521 = 256): Uint8Array {
  const order = CURVE_ORDERS[curveBits]
  if (order === undefined) throw new Error(`unsupported curve size ${curveBits}`)
  const root = read(certDer, 0)
  const [tbs, alg, sig] = kids(certDer, root)
  if (!tbs || !alg || !sig || sig.tag !== 0x03) throw new Error('not a certificate')
  const inner = certDer.subarray(sig.body + 1, sig.end)
  const [r, s] = kids(inner, read(inner, 0))
  if (!r || !s) throw new Error('not an ECDSA signature')
  const flipped = order - toBig(inner.subarray(s.body, s.end))
  const newSig = tlv(0x30, inner.subarray(r.start, r.end), integer(flipped))
  return tlv(
    0x30,
    certDer.subarray(tbs.start, tbs.end),
    certDer.subarray(alg.start, alg.end),
    tlv(0x03, Uint8Array.of(0), newSig),
  )
}
