// Fast certificate factory: one template certificate (issued by @clientcert/testing, so it has
// realistic extensions), re-signed by node:crypto with a new serial and CN for every copy.
// Generating 100k certificates this way takes seconds; WebCrypto key generation is not involved.
import { createHash, createPrivateKey, sign } from 'node:crypto'

/** Reads one DER TLV at `off`: { tag, hdr (header length), len, end }. */
export function tlv(buf, off) {
  const tag = buf[off]
  let len = buf[off + 1]
  let hdr = 2
  if (len & 0x80) {
    const n = len & 0x7f
    len = 0
    for (let i = 0; i < n; i++) len = len * 256 + buf[off + 2 + i]
    hdr = 2 + n
  }
  return { tag, hdr, len, start: off, end: off + hdr + len }
}

function encLen(n) {
  if (n < 0x80) return Buffer.from([n])
  const bytes = []
  while (n > 0) {
    bytes.unshift(n & 0xff)
    n = Math.floor(n / 256)
  }
  return Buffer.from([0x80 | bytes.length, ...bytes])
}

export function seq(...parts) {
  const body = Buffer.concat(parts)
  return Buffer.concat([Buffer.from([0x30]), encLen(body.length), body])
}

/** Splits a certificate DER into tbs, signatureAlgorithm and signature value (without the unused-bits byte). */
export function splitCert(der) {
  const buf = Buffer.from(der)
  const outer = tlv(buf, 0)
  const t = tlv(buf, outer.hdr)
  const a = tlv(buf, t.end)
  const s = tlv(buf, a.end)
  return {
    tbs: buf.subarray(t.start, t.end),
    alg: buf.subarray(a.start, a.end),
    sig: buf.subarray(s.start + s.hdr + 1, s.end),
  }
}

/** The node:crypto verify arguments for a signature algorithm DER (ECDSA-SHA256 or RSA-SHA256 only). */
export function verifyParams(algDer) {
  const hex = Buffer.from(algDer).toString('hex')
  if (hex.includes('2a8648ce3d040302')) return { hash: 'sha256', dsaEncoding: 'der' }
  if (hex.includes('2a864886f70d01010b')) return { hash: 'sha256' }
  throw new Error(`unsupported signature algorithm ${hex}`)
}

/**
 * A factory of fresh certificates cloned from `template` (an IssuedCertificate whose CN contains
 * `marker`, e.g. `bench-0000000`: its trailing zeros are overwritten by the index), signed with `issuerKeyPem`.
 */
export function certFactory(template, issuerKeyPem, marker) {
  const { tbs, alg } = splitCert(template.der)
  const key = createPrivateKey(issuerKeyPem)
  const params = verifyParams(alg)
  const tbsBuf = Buffer.from(tbs)
  // Serial: first INTEGER inside tbs after the [0] version.
  const inner = tlv(tbsBuf, 0)
  let off = inner.hdr
  let f = tlv(tbsBuf, off)
  if (f.tag === 0xa0) {
    off = f.end
    f = tlv(tbsBuf, off)
  }
  const serialStart = f.start + f.hdr
  const serialLen = f.len
  const markerBuf = Buffer.from(marker, 'ascii')
  const markerAt = tbsBuf.indexOf(markerBuf, serialStart + serialLen)
  if (markerAt < 0) throw new Error('marker not found in the template subject')
  const digits = /0+$/.exec(marker)?.[0].length ?? 0
  if (digits < 6) throw new Error('the marker must end in at least six zeros')
  return function make(i) {
    const t = Buffer.from(tbsBuf)
    // Serial: keep the first byte (positive, non-zero), write i + a random salt below it.
    const salt = createHash('sha256').update(`${process.pid}:${i}:${Math.random()}`).digest()
    salt.copy(t, serialStart + 1, 0, serialLen - 1)
    t[serialStart] = 0x11
    const id = String(i).padStart(digits, '0').slice(-digits)
    t.write(id, markerAt + markerBuf.length - digits, 'ascii')
    const sigValue = sign(params.hash, t, { key, dsaEncoding: params.dsaEncoding })
    const bits = Buffer.concat([Buffer.from([0x03]), encLen(sigValue.length + 1), Buffer.from([0]), sigValue])
    return new Uint8Array(seq(t, alg, bits))
  }
}

export const toPem = (der) =>
  `-----BEGIN CERTIFICATE-----\n${Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`
