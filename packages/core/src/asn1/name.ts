import { children, DerError, expectTag, readOid, readString, readTlv, TAG, type Tlv } from './der.js'

/** One attribute of a distinguished name, e.g. `{ type: 'CN', oid: '2.5.4.3', value: 'alice' }`. */
export interface NameAttribute {
  /** RFC 4514 short name where one exists (`CN`, `O`, `OU`, `C`, `L`, `ST`, `STREET`, `DC`, `UID`), else the dotted OID. */
  readonly type: string
  readonly oid: string
  /** The decoded string value; for a non-string value, `#` followed by the hex of its DER. */
  readonly value: string
  /** False when the value was not a string type and `value` is the `#hex` form. */
  readonly isString: boolean
}

/** A parsed distinguished name. */
export interface DistinguishedName {
  /** RFC 4514 string form (most specific RDN first, `+` joins multi-valued RDNs). */
  readonly dn: string
  /** RDNs in certificate (encoding) order; each RDN holds one or more attributes. */
  readonly rdns: ReadonlyArray<ReadonlyArray<NameAttribute>>
}

/** RFC 4514 §3 short names; anything else is written as its dotted OID. */
const SHORT_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.6': 'C',
  '2.5.4.9': 'STREET',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
}

const STRING_TAGS: ReadonlySet<number> = new Set([
  TAG.UTF8_STRING,
  TAG.PRINTABLE_STRING,
  TAG.IA5_STRING,
  TAG.TELETEX_STRING,
  TAG.BMP_STRING,
  TAG.UNIVERSAL_STRING,
  TAG.NUMERIC_STRING,
  TAG.VISIBLE_STRING,
])

export interface ParsedName extends DistinguishedName {
  /** Comparison key per RFC 5280 §7.1 (case-folded, whitespace-collapsed), used to find issuers by name. */
  readonly matchKey: string
}

export function parseName(buf: Uint8Array, tlv: Tlv): ParsedName {
  expectTag(tlv, TAG.SEQUENCE, 'Name')
  const rdns: NameAttribute[][] = []
  const keyParts: string[][] = []
  for (const set of children(buf, tlv)) {
    expectTag(set, TAG.SET, 'RelativeDistinguishedName')
    const attrs = children(buf, set)
    if (attrs.length === 0) throw new DerError('empty RelativeDistinguishedName')
    const rdn: NameAttribute[] = []
    const keys: string[] = []
    for (const atv of attrs) {
      const [typeTlv, valueTlv, extra] = children(buf, expectTag(atv, TAG.SEQUENCE, 'AttributeTypeAndValue'))
      if (typeTlv === undefined || valueTlv === undefined || extra !== undefined) {
        throw new DerError('bad AttributeTypeAndValue')
      }
      const oid = readOid(buf, typeTlv)
      const isString = STRING_TAGS.has(valueTlv.tag)
      const value = isString
        ? readString(buf, valueTlv)
        : `#${hex(buf.subarray(valueTlv.start, valueTlv.end))}`
      rdn.push({ type: SHORT_NAMES[oid] ?? oid, oid, value, isString })
      keys.push(`${oid}=${isString ? foldForMatch(value) : value}`)
    }
    rdns.push(rdn)
    keyParts.push(keys.sort())
  }
  return { dn: formatDn(rdns), rdns, matchKey: JSON.stringify(keyParts) }
}

/** Parses a standalone DER Name. */
export function parseNameDer(der: Uint8Array): ParsedName {
  const tlv = readTlv(der, 0)
  if (tlv.end !== der.length) throw new DerError('trailing bytes after Name')
  return parseName(der, tlv)
}

/** RFC 4518-style folding, enough for issuer/subject chaining: case, width and runs of spaces. */
function foldForMatch(v: string): string {
  return v.normalize('NFKC').toLowerCase().trim().replace(/\s+/g, ' ')
}

/** RFC 4514 §2: reverse RDN order, `+` inside an RDN, escaped values. */
export function formatDn(rdns: ReadonlyArray<ReadonlyArray<NameAttribute>>): string {
  return rdns
    .slice()
    .reverse()
    .map((rdn) => rdn.map((a) => `${a.type}=${a.isString ? escapeDnValue(a.value) : a.value}`).join('+'))
    .join(',')
}

/**
 * RFC 4514 §2.4 escaping. Control characters are hex-escaped too, so a value can never
 * smuggle a separator or a line break into the string another component compares.
 */
/** C0/C1 controls, DEL, line/paragraph separators and bidi controls: never written raw. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069]/

export function escapeDnValue(v: string): string {
  let out = ''
  for (let i = 0; i < v.length; i++) {
    const ch = v[i]!
    if (INVISIBLE.test(ch)) {
      // RFC 4514 hexpair form, one per UTF-8 byte.
      for (const b of Buffer.from(ch, 'utf8')) out += `\\${b.toString(16).padStart(2, '0')}`
    } else if (
      '"+,;<>\\'.includes(ch) ||
      (ch === '#' && i === 0) ||
      (ch === ' ' && (i === 0 || i === v.length - 1))
    ) {
      out += `\\${ch}`
    } else {
      out += ch
    }
  }
  return out
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}
