import { createHash, X509Certificate } from 'node:crypto'
import {
  type CertificateAuthority,
  createRootCA,
  type IssuedCertificate,
  type KeyAlgorithm,
  type NameAttribute,
} from '@clientcert/testing'
import { beforeAll, describe, expect, it } from 'vitest'
import { DerError } from '../src/asn1/der.js'
import { escapeDnValue, parseNameDer } from '../src/asn1/name.js'
import { formatIp, parseIp } from '../src/cert/ip.js'
import { KU, parseCertificate } from '../src/cert/parse.js'
import {
  at,
  concat,
  DAY,
  element,
  elementsIn,
  extensionValuePath,
  NOW,
  OIDS,
  oid,
  replaceAt,
  tlv,
} from './helpers.js'

const t = { now: NOW }

let root: CertificateAuthority
let intermediate: CertificateAuthority

beforeAll(async () => {
  root = await createRootCA({ ...t, subject: 'CN=Parse Root CA' })
  intermediate = await root.issueIntermediate({
    ...t,
    subject: 'CN=Parse Intermediate CA',
    basicConstraints: { ca: true, pathLen: 2 },
  })
})

function derError(bytes: Uint8Array): DerError {
  try {
    parseCertificate(bytes)
  } catch (err) {
    expect(err).toBeInstanceOf(DerError)
    return err as DerError
  }
  throw new Error('expected a DerError, but the certificate parsed')
}

/** node:crypto's text for a SAN list, split into [type, value] pairs. */
function nodeSans(x: X509Certificate): Array<[string, string]> {
  return (x.subjectAltName ?? '').split(', ').map((entry) => {
    const colon = entry.indexOf(':')
    return [entry.slice(0, colon), entry.slice(colon + 1)]
  })
}

/** RFC 5952 text of an IPv6 address, computed independently (WHATWG URL host serialisation). */
function canonicalIpv6(text: string): string {
  return new URL(`http://[${text}]/`).hostname.slice(1, -1)
}

describe('parseCertificate agrees with node:crypto', () => {
  const algorithms: KeyAlgorithm[] = ['P-256', 'P-384', 'RSA-2048', 'Ed25519']

  it.each(algorithms)('%s leaf: fingerprints, serial, dates, names and SANs', async (keyAlgorithm) => {
    const notBefore = at(-2 * DAY)
    const notAfter = at(5 * DAY)
    const issued = await intermediate.issueClient({
      ...t,
      keyAlgorithm,
      subject: 'CN=alice, O=acme, OU=eng',
      serialNumber: '80ab01',
      notBefore,
      notAfter,
      san: {
        dns: ['alice.example.com', 'api.example.com'],
        uri: ['spiffe://example.org/ns/prod/sa/alice'],
        email: ['alice@example.com'],
        ip: ['10.1.2.3', '2001:db8:0:0:1:0:0:1', '::1', 'fe80::', '2001:db8:85a3::8a2e:370:7334'],
      },
    })
    const cert = parseCertificate(issued.der)
    const x = new X509Certificate(Buffer.from(issued.der))

    expect(cert.fingerprint256).toBe(x.fingerprint256.replaceAll(':', '').toLowerCase())
    expect(cert.fingerprint256).toBe(issued.fingerprint256)
    expect(cert.x5tS256).toBe(Buffer.from(cert.fingerprint256, 'hex').toString('base64url'))
    expect(cert.x5tS256).not.toMatch(/[=+/]/)
    // The INTEGER is 00 80 ab 01 in DER (positive); the serial is reported without the sign byte.
    expect(cert.serialNumber).toBe('80ab01')
    expect(cert.serialNumber.toUpperCase()).toBe(x.serialNumber)
    expect(cert.notBefore).toBe(new Date(x.validFrom).getTime())
    expect(cert.notAfter).toBe(new Date(x.validTo).getTime())
    expect([cert.notBefore, cert.notAfter]).toEqual([notBefore.getTime(), notAfter.getTime()])
    expect(cert.spkiSha256).toBe(
      createHash('sha256')
        .update(x.publicKey.export({ type: 'spki', format: 'der' }))
        .digest('hex'),
    )

    // node:crypto prints RDNs in DER order, one per line.
    expect(cert.subject.rdns.map((rdn) => rdn.map((a) => `${a.type}=${a.value}`).join('+'))).toEqual(
      x.subject.split('\n'),
    )
    expect(cert.issuer.rdns.flat().map((a) => `${a.type}=${a.value}`)).toEqual(x.issuer.split('\n'))
    expect(cert.subject.dn).toBe('OU=eng,O=acme,CN=alice')

    const sans = nodeSans(x)
    const of = (type: string) => sans.filter(([k]) => k === type).map(([, v]) => v)
    expect(cert.san.dns).toEqual(of('DNS'))
    expect(cert.san.uri).toEqual(of('URI'))
    expect(cert.san.email).toEqual(of('email'))
    expect(cert.san.ip).toEqual(of('IP Address').map((ip) => (ip.includes(':') ? canonicalIpv6(ip) : ip)))
    expect(cert.san).toEqual({
      dns: ['alice.example.com', 'api.example.com'],
      uri: ['spiffe://example.org/ns/prod/sa/alice'],
      email: ['alice@example.com'],
      ip: ['10.1.2.3', '2001:db8::1:0:0:1', '::1', 'fe80::', '2001:db8:85a3::8a2e:370:7334'],
    })
  })

  it('reads extensions: basicConstraints, keyUsage, EKU and the key identifier link', async () => {
    const leaf = await intermediate.issueClient({ ...t, keyUsage: ['digitalSignature', 'keyAgreement'] })
    const i = parseCertificate(intermediate.der)
    const l = parseCertificate(leaf.der)
    const r = parseCertificate(root.der)
    expect(i.basicConstraints).toEqual({ ca: true, pathLen: 2 })
    expect(r.basicConstraints).toEqual({ ca: true })
    expect(l.basicConstraints).toEqual({ ca: false })
    expect(i.keyUsage).toBe(KU.keyCertSign | KU.cRLSign)
    expect(l.keyUsage).toBe(KU.digitalSignature | KU.keyAgreement)
    expect(l.extKeyUsage).toEqual([OIDS.clientAuth])
    expect(i.extKeyUsage).toBeUndefined()
    expect(l.authorityKeyId).toBe(i.subjectKeyId)
    expect(i.authorityKeyId).toBe(r.subjectKeyId)
    expect([r.selfIssued, i.selfIssued, l.selfIssued]).toEqual([true, false, false])
    expect(l.version).toBe(3)
    expect(l.unknownCriticalExtensions).toEqual([])
  })

  it('records unknown critical extensions and ignores unknown non-critical ones', async () => {
    const leaf = await intermediate.issueClient({
      ...t,
      extensions: [
        { oid: '1.3.6.1.4.1.55555.1', critical: true, value: Uint8Array.of(0x05, 0x00) },
        { oid: '1.3.6.1.4.1.55555.2', critical: false, value: Uint8Array.of(0x05, 0x00) },
      ],
    })
    expect(parseCertificate(leaf.der).unknownCriticalExtensions).toEqual(['1.3.6.1.4.1.55555.1'])
  })
})

describe('DER strictness', () => {
  let der: Uint8Array

  beforeAll(() => {
    der = intermediate.der // a CA certificate: its basicConstraints holds a BOOLEAN TRUE
    expect(parseCertificate(der).basicConstraints?.ca).toBe(true)
  })

  it('rejects a byte appended after the certificate', () => {
    expect(derError(concat(der, [0x00])).message).toBe('trailing bytes after element')
    expect(derError(concat(der, [0x05, 0x00])).message).toBe('trailing bytes after element')
  })

  it('rejects a truncated certificate and an outer length that overruns the input', () => {
    expect(derError(der.subarray(0, der.length - 1)).message).toBe('element overruns its container')
    expect(derError(Uint8Array.of(0x30)).message).toBe('truncated element')
  })

  it('rejects indefinite lengths, outside and inside', () => {
    const body = der.subarray(element(der, 0).valueStart)
    expect(derError(concat([0x30, 0x80], body, [0x00, 0x00])).message).toBe('indefinite length is not DER')
    // validity is the fifth TBSCertificate field (after version, serial, signature, issuer).
    const inner = replaceAt(der, [0, 4], (value) => concat([0x30, 0x80], value, [0x00, 0x00]))
    expect(derError(inner).message).toBe('indefinite length is not DER')
  })

  it('rejects non-minimal lengths: a leading zero octet, or long form for a short length', () => {
    const root = element(der, 0)
    const length = root.end - root.valueStart
    const body = der.subarray(root.valueStart)
    const leadingZero = concat([0x30, 0x83, 0x00, length >> 8, length & 0xff], body)
    expect(derError(leadingZero).message).toBe('non-minimal length')
    // The outer signatureAlgorithm is short (< 128 bytes): write its length in long form.
    const longForm = replaceAt(der, [1], (value) => concat([0x30, 0x81, value.length], value))
    expect(elementsIn(der, root)[1]!.end - elementsIn(der, root)[1]!.valueStart).toBeLessThan(0x80)
    expect(derError(longForm).message).toBe('non-minimal length')
    expect(derError(concat([0x30, 0x85, 0, 0, 0, 0, 1, 0])).message).toBe('length too large')
  })

  it('rejects a BOOLEAN encoded 0x01 instead of 0xff in basicConstraints', () => {
    const path = extensionValuePath(der, OIDS.basicConstraints)
    const mutated = replaceAt(der, path, (value) => {
      // extnValue = SEQUENCE { BOOLEAN TRUE, INTEGER pathLen }
      expect(Array.from(value.subarray(0, 5))).toEqual([0x30, value.length - 2, 0x01, 0x01, 0xff])
      return tlv(0x04, value.subarray(0, 4), [0x01], value.subarray(5))
    })
    expect(derError(mutated).message).toBe('BOOLEAN is not DER')
  })

  it('rejects a BOOLEAN encoded 0x01 in an extension criticality flag', () => {
    const path = extensionValuePath(der, OIDS.basicConstraints)
    const criticalPath = [...path.slice(0, -1), path.at(-1)! - 1]
    const mutated = replaceAt(der, criticalPath, (value) => {
      expect(Array.from(value)).toEqual([0xff])
      return tlv(0x01, [0x01])
    })
    expect(derError(mutated).message).toBe('BOOLEAN is not DER')
  })

  it('rejects trailing bytes inside an extension value', () => {
    const path = extensionValuePath(der, OIDS.basicConstraints)
    const mutated = replaceAt(der, path, (value) => tlv(0x04, value, [0x05, 0x00]))
    expect(derError(mutated).message).toBe(`trailing bytes in extension ${OIDS.basicConstraints}`)
  })

  it('rejects a non-minimal INTEGER serial number', () => {
    const mutated = replaceAt(der, [0, 1], (value) => {
      expect(value[0]).toBeLessThan(0x80)
      return tlv(0x02, [0x00], value)
    })
    expect(derError(mutated).message).toBe('non-minimal INTEGER')
  })

  it('rejects a duplicate extension', async () => {
    // The client profile already adds basicConstraints; add a second one.
    const dup = await intermediate.issueClient({
      ...t,
      extensions: [{ oid: OIDS.basicConstraints, critical: true, value: Uint8Array.of(0x30, 0x00) }],
    })
    expect(derError(dup.der).message).toBe(`duplicate extension ${OIDS.basicConstraints}`)
  })

  // BUG (RFC 3629 / X.690 §8.23.10 via RFC 5280 §4.1.2.4): a UTF8String holding invalid UTF-8 is
  // malformed, and parseCertificate promises a DerError for malformed input. The strict
  // TextDecoder throws a TypeError instead, which the authenticator turns into a 500
  // (ERR_CLIENT_CERT_INTERNAL) instead of ERR_CLIENT_CERT_MALFORMED.
  it('rejects invalid UTF-8 in a UTF8String with a DerError', async () => {
    const value = 'Zoë Ünïcode'
    const leaf = await intermediate.issueClient({ ...t, subject: `CN=${value}` })
    const bytes = Uint8Array.from(leaf.der)
    const offset = Buffer.from(bytes).indexOf(Buffer.from(value, 'utf8'))
    expect(offset).toBeGreaterThan(0)
    bytes[offset + 2] = 0xff // inside "ë": not a valid UTF-8 byte anywhere
    expect(derError(bytes).message).toMatch(/UTF-8/)
  })
})

describe('RFC 4514 distinguished names', () => {
  async function dnOf(subject: NameAttribute[][]): Promise<string> {
    const leaf: IssuedCertificate = await intermediate.issueClient({ ...t, subject })
    return parseCertificate(leaf.der).subject.dn
  }
  const cn = (value: string): NameAttribute[][] => [[{ type: 'CN', value }]]

  it('escapes the special characters , + " \\ < > ;', async () => {
    expect(await dnOf(cn('a,b+c"d\\e<f>g;h'))).toBe('CN=a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h')
    expect(await dnOf(cn('x=y'))).toBe('CN=x=y')
  })

  it('escapes a leading # or space and a trailing space, and nothing else about them', async () => {
    expect(await dnOf(cn('#hash'))).toBe('CN=\\#hash')
    expect(await dnOf(cn('a#b'))).toBe('CN=a#b')
    expect(await dnOf(cn(' lead'))).toBe('CN=\\ lead')
    expect(await dnOf(cn('trail '))).toBe('CN=trail\\ ')
    expect(await dnOf(cn('in side'))).toBe('CN=in side')
  })

  it('hex-escapes control characters so a value cannot smuggle a line break or NUL', async () => {
    expect(await dnOf(cn('a\nb\u0000c\u007fd\u001b'))).toBe('CN=a\\0ab\\00c\\7fd\\1b')
    expect(await dnOf(cn('Zoë'))).toBe('CN=Zoë')
  })

  it('reverses RDN order and joins a multi-valued RDN with +', async () => {
    const dn = await dnOf([
      [{ type: 'DC', value: 'com' }],
      [{ type: 'DC', value: 'example' }],
      [
        { type: 'CN', value: 'a' },
        { type: 'O', value: 'b' },
      ],
      [{ type: 'UID', value: 'u1' }],
    ])
    expect(dn).toBe('UID=u1,CN=a+O=b,DC=example,DC=com')
  })

  it('writes types without an RFC 4514 short name as dotted OIDs', async () => {
    expect(
      await dnOf([
        [{ type: 'CN', value: 'x' }],
        [{ type: '2.5.4.5', value: '1234' }],
        [{ type: 'E', value: 'x@example.com' }],
      ]),
    ).toBe('1.2.840.113549.1.9.1=x@example.com,2.5.4.5=1234,CN=x')
  })

  it('a CN holding separators cannot pose as another DN', async () => {
    const injected = await dnOf(cn('alice,O=admin'))
    const real = await dnOf([[{ type: 'O', value: 'admin' }], [{ type: 'CN', value: 'alice' }]])
    expect(injected).toBe('CN=alice\\,O=admin')
    expect(real).toBe('CN=alice,O=admin')
    expect(injected).not.toBe(real)
  })

  it('writes a non-string value as # and the hex of its DER; decodes BMPString and UniversalString', () => {
    const cnOid = oid('2.5.4.3')
    const name = (value: Uint8Array) => tlv(0x30, tlv(0x31, tlv(0x30, cnOid, value)))
    const parsedInt = parseNameDer(name(tlv(0x02, [0x05])))
    expect(parsedInt.dn).toBe('CN=#020105')
    expect(parsedInt.rdns[0]![0]).toEqual({ type: 'CN', oid: '2.5.4.3', value: '#020105', isString: false })
    // A string that looks like the hex form is escaped, so the two never compare equal.
    expect(escapeDnValue('#020105')).toBe('\\#020105')
    expect(parseNameDer(name(tlv(0x1e, [0x00, 0x5a, 0x00, 0x6f, 0x00, 0xeb]))).dn).toBe('CN=Zoë')
    expect(parseNameDer(name(tlv(0x1c, [0, 0, 0, 0x5a, 0, 0x01, 0xf6, 0x00]))).dn).toBe('CN=Z\u{1f600}')
    expect(() => parseNameDer(name(tlv(0x16, [0x61, 0xe9])))).toThrowError(
      new DerError('non-ASCII byte in an ASCII string type'),
    )
    expect(() => parseNameDer(concat(name(tlv(0x0c, [0x61])), [0]))).toThrowError(
      new DerError('trailing bytes after Name'),
    )
  })
})

describe('formatIp and parseIp', () => {
  const v6 = (text: string) => formatIp(parseIp(text)!)

  it('formats IPv4 as a dotted quad', () => {
    expect(formatIp(Uint8Array.of(10, 0, 0, 1))).toBe('10.0.0.1')
    expect(formatIp(Uint8Array.of(0, 0, 0, 0))).toBe('0.0.0.0')
    expect(formatIp(Uint8Array.of(255, 255, 255, 255))).toBe('255.255.255.255')
  })

  it('formats IPv6 in RFC 5952 canonical form', () => {
    expect(formatIp(new Uint8Array(16))).toBe('::')
    expect(v6('0:0:0:0:0:0:0:1')).toBe('::1')
    expect(v6('1:0:0:0:0:0:0:0')).toBe('1::')
    expect(v6('2001:0DB8:0000:0000:0000:0000:0000:0001')).toBe('2001:db8::1')
    // The longest run of zero groups collapses; on a tie, the first.
    expect(v6('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1')
    expect(v6('2001:0:0:1:0:0:0:1')).toBe('2001:0:0:1::1')
    // A single zero group is never collapsed.
    expect(v6('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1')
    expect(v6('::ffff:10.0.0.1')).toBe('::ffff:a00:1')
  })

  it('matches an independent RFC 5952 serialisation on many pseudo-random addresses', () => {
    let seed = 0x2545f491
    const next = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return seed >>> 16
    }
    for (let n = 0; n < 500; n++) {
      // Mostly zero groups, so runs of every length and position occur.
      const groups = Array.from({ length: 8 }, () => (next() % 3 === 0 ? next() % 0x10000 : 0))
      const bytes = Uint8Array.from(groups.flatMap((g) => [g >> 8, g & 0xff]))
      const full = groups.map((g) => g.toString(16)).join(':')
      expect(formatIp(bytes), full).toBe(canonicalIpv6(full))
      expect(parseIp(formatIp(bytes)), full).toEqual(bytes)
    }
  })

  it('parses literal addresses', () => {
    expect(parseIp('192.168.0.1')).toEqual(Uint8Array.of(192, 168, 0, 1))
    expect(parseIp('::')).toEqual(new Uint8Array(16))
    expect(parseIp('::ffff:10.0.0.1')).toEqual(
      Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1),
    )
    expect(parseIp('1:2:3:4:5:6:7:8')).toEqual(Uint8Array.of(0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8))
    expect(parseIp('ABCD::')).toEqual(Uint8Array.of(0xab, 0xcd, ...new Uint8Array(14)))
  })

  it.each([
    '',
    'localhost',
    '256.0.0.1',
    '01.2.3.4',
    '1.2.3',
    '1.2.3.4.5',
    ' 1.2.3.4',
    ':::',
    '1::2::3',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7::8',
    ':1:2:3:4:5:6:7',
    '12345::',
    'g::1',
    '::ffff:1.2.3.256',
    '::1.2.3',
    '1.2.3.4::',
    '::1%eth0',
    '[::1]',
  ])('rejects %j', (text) => {
    expect(parseIp(text)).toBeUndefined()
  })
})
