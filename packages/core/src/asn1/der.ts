/**
 * A strict, minimal DER reader. Certificates are security input: anything that is not
 * distinguished encoding (indefinite lengths, non-minimal lengths, trailing bytes,
 * BER booleans) is rejected rather than "repaired", so the bytes whose signature we verify
 * are exactly the bytes we interpret (X.690 §10).
 */

export class DerError extends Error {
  override readonly name = 'DerError'
}

/** One tag-length-value element, as offsets into the buffer it was read from. */
export interface Tlv {
  /** Full identifier octet (class + constructed bit + low tag number); high-tag-number form is rejected. */
  readonly tag: number
  readonly start: number
  readonly valueStart: number
  readonly end: number
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  NUMERIC_STRING: 0x12,
  PRINTABLE_STRING: 0x13,
  TELETEX_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  VISIBLE_STRING: 0x1a,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const

/** Reads the element starting at `offset`; it must end at or before `limit`. */
export function readTlv(buf: Uint8Array, offset: number, limit: number = buf.length): Tlv {
  if (offset + 2 > limit) throw new DerError('truncated element')
  const tag = buf[offset]!
  if ((tag & 0x1f) === 0x1f) throw new DerError('high-tag-number form is not used in certificates')
  let pos = offset + 1
  const first = buf[pos++]!
  let length: number
  if (first < 0x80) {
    length = first
  } else {
    const count = first & 0x7f
    if (count === 0) throw new DerError('indefinite length is not DER')
    if (count > 4) throw new DerError('length too large')
    if (pos + count > limit) throw new DerError('truncated length')
    if (buf[pos] === 0) throw new DerError('non-minimal length')
    length = 0
    for (let i = 0; i < count; i++) length = length * 256 + buf[pos++]!
    if (length < 0x80) throw new DerError('non-minimal length')
  }
  const end = pos + length
  if (end > limit) throw new DerError('element overruns its container')
  return { tag, start: offset, valueStart: pos, end }
}

/** Reads exactly one element spanning the whole buffer. */
export function readRoot(buf: Uint8Array): Tlv {
  const tlv = readTlv(buf, 0, buf.length)
  if (tlv.end !== buf.length) throw new DerError('trailing bytes after element')
  return tlv
}

/** The child elements of a constructed element; they must fill it exactly. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  if ((parent.tag & 0x20) === 0) throw new DerError('expected a constructed element')
  const out: Tlv[] = []
  let pos = parent.valueStart
  while (pos < parent.end) {
    const child = readTlv(buf, pos, parent.end)
    out.push(child)
    pos = child.end
  }
  return out
}

export function expectTag(tlv: Tlv | undefined, tag: number, what: string): Tlv {
  if (tlv === undefined || tlv.tag !== tag) throw new DerError(`expected ${what}`)
  return tlv
}

export function value(buf: Uint8Array, tlv: Tlv): Uint8Array {
  return buf.subarray(tlv.valueStart, tlv.end)
}

export function raw(buf: Uint8Array, tlv: Tlv): Uint8Array {
  return buf.subarray(tlv.start, tlv.end)
}

export function readOid(buf: Uint8Array, tlv: Tlv): string {
  expectTag(tlv, TAG.OID, 'OBJECT IDENTIFIER')
  const bytes = value(buf, tlv)
  if (bytes.length === 0) throw new DerError('empty OID')
  const arcs: number[] = []
  let acc = 0
  let started = false
  for (const b of bytes) {
    if (!started && b === 0x80) throw new DerError('non-minimal OID arc')
    started = true
    acc = acc * 128 + (b & 0x7f)
    if (acc > Number.MAX_SAFE_INTEGER / 128) throw new DerError('OID arc too large')
    if ((b & 0x80) === 0) {
      arcs.push(acc)
      acc = 0
      started = false
    }
  }
  if (started) throw new DerError('truncated OID')
  const head = arcs[0]!
  const first = head < 40 ? 0 : head < 80 ? 1 : 2
  return [first, head - first * 40, ...arcs.slice(1)].join('.')
}

export function readBoolean(buf: Uint8Array, tlv: Tlv): boolean {
  expectTag(tlv, TAG.BOOLEAN, 'BOOLEAN')
  const bytes = value(buf, tlv)
  if (bytes.length !== 1 || (bytes[0] !== 0 && bytes[0] !== 0xff)) throw new DerError('BOOLEAN is not DER')
  return bytes[0] === 0xff
}

/** INTEGER content bytes (two's complement, minimal). */
export function readIntegerBytes(buf: Uint8Array, tlv: Tlv): Uint8Array {
  expectTag(tlv, TAG.INTEGER, 'INTEGER')
  const bytes = value(buf, tlv)
  if (bytes.length === 0) throw new DerError('empty INTEGER')
  if (
    bytes.length > 1 &&
    ((bytes[0] === 0 && bytes[1]! < 0x80) || (bytes[0] === 0xff && bytes[1]! >= 0x80))
  ) {
    throw new DerError('non-minimal INTEGER')
  }
  return bytes
}

/** A small non-negative INTEGER (pathLenConstraint, version). */
export function readSmallInteger(buf: Uint8Array, tlv: Tlv): number {
  const bytes = readIntegerBytes(buf, tlv)
  if (bytes[0]! >= 0x80) throw new DerError('negative INTEGER where a count is expected')
  if (bytes.length > 4) throw new DerError('INTEGER too large')
  let n = 0
  for (const b of bytes) n = n * 256 + b
  return n
}

/** BIT STRING content: unused-bit count and the bytes. */
export function readBitString(buf: Uint8Array, tlv: Tlv): { unused: number; bytes: Uint8Array } {
  expectTag(tlv, TAG.BIT_STRING, 'BIT STRING')
  const bytes = value(buf, tlv)
  if (bytes.length === 0) throw new DerError('empty BIT STRING')
  const unused = bytes[0]!
  if (unused > 7 || (bytes.length === 1 && unused !== 0)) throw new DerError('bad BIT STRING padding')
  const content = bytes.subarray(1)
  if (unused > 0 && (content[content.length - 1]! & ((1 << unused) - 1)) !== 0) {
    throw new DerError('BIT STRING padding bits not zero')
  }
  return { unused, bytes: content }
}

const TIME_RE = {
  [TAG.UTC_TIME]: /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/,
  [TAG.GENERALIZED_TIME]: /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/,
} as const

/** UTCTime or GeneralizedTime in the RFC 5280 §4.1.2.5 profile (seconds, 'Z', no fractions). */
export function readTime(buf: Uint8Array, tlv: Tlv): number {
  if (tlv.tag !== TAG.UTC_TIME && tlv.tag !== TAG.GENERALIZED_TIME) throw new DerError('expected a time')
  const text = latin1(value(buf, tlv))
  const m = TIME_RE[tlv.tag].exec(text)
  if (!m) throw new DerError('time is not in the RFC 5280 profile')
  let year = Number(m[1])
  if (tlv.tag === TAG.UTC_TIME) year += year >= 50 ? 1900 : 2000
  const [month, day, hour, minute, second] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ]
  const ms = Date.UTC(year, month - 1, day, hour, minute, second)
  const d = new Date(ms)
  if (d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    throw new DerError('time out of range')
  }
  return ms
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true })

/** Decodes the string types used in names and general names. */
export function readString(buf: Uint8Array, tlv: Tlv): string {
  const bytes = value(buf, tlv)
  switch (tlv.tag) {
    case TAG.UTF8_STRING:
      try {
        return STRICT_UTF8.decode(bytes)
      } catch {
        throw new DerError('invalid UTF-8 in UTF8String')
      }
    case TAG.PRINTABLE_STRING:
    case TAG.IA5_STRING:
    case TAG.NUMERIC_STRING:
    case TAG.VISIBLE_STRING:
      for (const b of bytes) if (b > 0x7f) throw new DerError('non-ASCII byte in an ASCII string type')
      return latin1(bytes)
    case TAG.TELETEX_STRING:
      // T.61 is treated as Latin-1, as OpenSSL and browsers do.
      return latin1(bytes)
    case TAG.BMP_STRING:
      return decodeUcs(bytes, 2)
    case TAG.UNIVERSAL_STRING:
      return decodeUcs(bytes, 4)
    default:
      throw new DerError('unsupported string type')
  }
}

function decodeUcs(bytes: Uint8Array, width: 2 | 4): string {
  if (bytes.length % width !== 0) throw new DerError('bad UCS string length')
  let out = ''
  for (let i = 0; i < bytes.length; i += width) {
    let cp = 0
    for (let j = 0; j < width; j++) cp = cp * 256 + bytes[i + j]!
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw new DerError('bad code point')
    out += String.fromCodePoint(cp)
  }
  return out
}

export function latin1(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += String.fromCharCode(b)
  return s
}
