import { AsnConvert } from '@peculiar/asn1-schema'
import { AttributeTypeAndValue, AttributeValue, Name, RelativeDistinguishedName } from '@peculiar/asn1-x509'
import type { NameAttribute } from './options.js'
import type { X509Module } from './x509-loader.js'

const ATTRIBUTE_OIDS: Readonly<Record<string, string>> = {
  CN: '2.5.4.3',
  SN: '2.5.4.4',
  SERIALNUMBER: '2.5.4.5',
  C: '2.5.4.6',
  L: '2.5.4.7',
  ST: '2.5.4.8',
  STREET: '2.5.4.9',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  T: '2.5.4.12',
  G: '2.5.4.42',
  UID: '0.9.2342.19200300.100.1.1',
  DC: '0.9.2342.19200300.100.1.25',
  E: '1.2.840.113549.1.9.1',
}

const IA5_TYPES = new Set([ATTRIBUTE_OIDS.E, ATTRIBUTE_OIDS.DC])
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/

function attributeOid(type: string): string {
  if (/^\d+(\.\d+)+$/.test(type)) return type
  const oid = ATTRIBUTE_OIDS[type.toUpperCase()]
  if (!oid) throw new Error(`Unknown name attribute type '${type}'; use a dotted OID instead`)
  return oid
}

function attributeValue(oid: string, value: string): AttributeValue {
  if (IA5_TYPES.has(oid)) return new AttributeValue({ ia5String: value })
  if (PRINTABLE.test(value)) return new AttributeValue({ printableString: value })
  return new AttributeValue({ utf8String: value })
}

function toAttribute({ type, value }: NameAttribute): AttributeTypeAndValue {
  const oid = attributeOid(type)
  return new AttributeTypeAndValue({ type: oid, value: attributeValue(oid, value) })
}

/** Encodes an explicit RDN list to DER, keeping RDNs and attributes exactly in the given order. */
export function encodeRdnList(rdns: NameAttribute[][]): Uint8Array {
  const name = new Name(rdns.map((rdn) => new RelativeDistinguishedName(rdn.map(toAttribute))))
  return new Uint8Array(AsnConvert.serialize(name))
}

/** Encodes a DN given as a string or an RDN list to DER. */
export function encodeName(x509: X509Module, subject: string | NameAttribute[][]): Uint8Array {
  if (Array.isArray(subject)) return encodeRdnList(subject)
  if (subject.trim() === '') return encodeRdnList([])
  return new Uint8Array(new x509.Name(subject).toArrayBuffer())
}
