import { createPrivateKey, type webcrypto, X509Certificate } from 'node:crypto'
import { AsnConvert } from '@peculiar/asn1-schema'
import { Name, NameConstraints } from '@peculiar/asn1-x509'
import type {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsageExtension,
  Extension,
  KeyUsagesExtension,
  SubjectKeyIdentifierExtension,
} from '@peculiar/x509'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  type CertificateAuthority,
  createRootCA,
  createSelfSigned,
  createTestPki,
  generateKeyPair,
  type IssuedCertificate,
  NAME_CONSTRAINTS_OID,
  type TestPki,
  toPem,
} from '../src/index.js'

const OID = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  eku: '2.5.29.37',
  san: '2.5.29.17',
  ski: '2.5.29.14',
  aki: '2.5.29.35',
}
const HOUR = 3_600_000
const DAY = 24 * HOUR

function nodeCert(issued: IssuedCertificate): X509Certificate {
  return new X509Certificate(Buffer.from(issued.der))
}

function ext<T extends Extension>(issued: IssuedCertificate, oid: string): T {
  const found = issued.certificate.getExtension<T>(oid)
  if (!found) throw new Error(`extension ${oid} missing`)
  return found
}

function hasExt(issued: IssuedCertificate, oid: string): boolean {
  return issued.certificate.getExtension(oid) !== null
}

function subjectRdns(issued: IssuedCertificate): Array<Array<{ type: string; value: string }>> {
  const tbs = issued.certificate.subjectName.toArrayBuffer()
  const name = AsnConvert.parse(tbs, Name)
  return name.map((rdn) => rdn.map((atv) => ({ type: atv.type, value: atv.value.toString() })))
}

describe('createTestPki', () => {
  let pki: TestPki
  let client: IssuedCertificate
  const now = new Date('2030-06-01T12:00:00Z')

  beforeAll(async () => {
    pki = await createTestPki({ now })
    client = await pki.issueClient({ subject: 'CN=alice' })
  })

  it('builds root -> intermediate -> client and a separate server CA', () => {
    expect(pki.clientCaPem).toBe(pki.root.pem)
    expect(pki.intermediate.issuer).toBe(pki.root)
    expect(client.issuer).toBe(pki.intermediate)
    expect(client.chain).toEqual([pki.intermediate])
    expect(pki.intermediate.chain).toEqual([])
    expect(pki.root.chain).toEqual([])
    expect(client.chainPem).toBe(client.pem + pki.intermediate.pem)
    expect(client.tlsOptions()).toEqual({ cert: client.chainPem, key: client.keyPem })
    expect(pki.server.issuer).toBe(pki.serverCa)
    expect(nodeCert(pki.serverCa).subject).toBe('CN=Test Server CA')
    expect(nodeCert(pki.root).subject).not.toBe(nodeCert(pki.serverCa).subject)
  })

  it('signs every certificate with its parent key', () => {
    const root = nodeCert(pki.root)
    const intermediate = nodeCert(pki.intermediate)
    const leaf = nodeCert(client)
    expect(root.verify(root.publicKey)).toBe(true)
    expect(intermediate.verify(root.publicKey)).toBe(true)
    expect(leaf.verify(intermediate.publicKey)).toBe(true)
    expect(leaf.verify(root.publicKey)).toBe(false)
    expect(leaf.checkIssued(intermediate)).toBe(true)
    expect(nodeCert(pki.server).verify(nodeCert(pki.serverCa).publicKey)).toBe(true)
  })

  it('exposes fingerprint, PEM and a PKCS#8 key matching the certificate', () => {
    const leaf = nodeCert(client)
    expect(client.fingerprint256).toBe(leaf.fingerprint256.replaceAll(':', '').toLowerCase())
    expect(client.fingerprint256).toMatch(/^[0-9a-f]{64}$/)
    expect(new X509Certificate(client.pem).raw.equals(leaf.raw)).toBe(true)
    expect(client.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/)
    expect(leaf.checkPrivateKey(createPrivateKey(client.keyPem))).toBe(true)
    expect(createPrivateKey({ key: Buffer.from(client.keyDer), format: 'der', type: 'pkcs8' }).type).toBe(
      'private',
    )
  })

  it('applies client defaults relative to `now`', () => {
    const leaf = nodeCert(client)
    expect(leaf.subject).toBe('CN=alice')
    expect(leaf.ca).toBe(false)
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2'])
    expect(new Date(leaf.validFrom).getTime()).toBe(now.getTime() - HOUR)
    expect(new Date(leaf.validTo).getTime()).toBe(now.getTime() - HOUR + DAY)
    const bc = ext<BasicConstraintsExtension>(client, OID.basicConstraints)
    expect([bc.ca, bc.critical]).toEqual([false, true])
    const ku = ext<KeyUsagesExtension>(client, OID.keyUsage)
    expect([ku.usages, ku.critical]).toEqual([1, true])
  })

  it('applies CA and server defaults', () => {
    for (const ca of [pki.root, pki.intermediate]) {
      const bc = ext<BasicConstraintsExtension>(ca, OID.basicConstraints)
      expect([bc.ca, bc.critical, nodeCert(ca).ca]).toEqual([true, true, true])
      expect(ext<KeyUsagesExtension>(ca, OID.keyUsage).usages).toBe(32 | 64)
      expect(hasExt(ca, OID.eku)).toBe(false)
    }
    const server = nodeCert(pki.server)
    expect(server.subject).toBe('CN=localhost')
    expect(server.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1')
    expect(server.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1'])
    expect(server.checkHost('localhost')).toBe('localhost')
    expect(server.checkIP('::1')).toBe('::1')
  })

  it('links authority key identifiers to the issuer subject key identifier', () => {
    const aki = ext<AuthorityKeyIdentifierExtension>(client, OID.aki)
    const parentSki = ext<SubjectKeyIdentifierExtension>(pki.intermediate, OID.ski)
    expect(aki.keyId).toBe(parentSki.keyId)
  })
})

describe('certificate options', () => {
  let root: CertificateAuthority

  beforeAll(async () => {
    root = await createRootCA({ subject: 'CN=Options Root, O=acme' })
  })

  it('encodes SANs including SPIFFE URIs, emails and IPv6', async () => {
    const cert = await root.issueClient({
      san: {
        dns: ['api.example.com'],
        uri: ['spiffe://example.org/ns/prod/sa/api'],
        email: ['alice@example.com'],
        ip: ['10.1.2.3', '2001:db8::1'],
      },
    })
    expect(nodeCert(cert).subjectAltName).toBe(
      'DNS:api.example.com, URI:spiffe://example.org/ns/prod/sa/api, email:alice@example.com, ' +
        'IP Address:10.1.2.3, IP Address:2001:DB8:0:0:0:0:0:1',
    )
    expect(ext(cert, OID.san).critical).toBe(false)
  })

  it('encodes EKU names and raw OIDs, and omits extensions set to null', async () => {
    const cert = await root.issueClient({
      eku: ['clientAuth', 'serverAuth', 'emailProtection', 'codeSigning', 'anyExtendedKeyUsage', '1.2.3.4.5'],
    })
    expect(ext<ExtendedKeyUsageExtension>(cert, OID.eku).usages).toEqual([
      '1.3.6.1.5.5.7.3.2',
      '1.3.6.1.5.5.7.3.1',
      '1.3.6.1.5.5.7.3.4',
      '1.3.6.1.5.5.7.3.3',
      '2.5.29.37.0',
      '1.2.3.4.5',
    ])
    const bare = await root.issueClient({ eku: null, keyUsage: null, basicConstraints: null })
    expect([OID.eku, OID.keyUsage, OID.basicConstraints].map((oid) => hasExt(bare, oid))).toEqual([
      false,
      false,
      false,
    ])
    expect(nodeCert(bare).keyUsage).toBeUndefined()
  })

  it('encodes every key usage bit and basic constraints pathLen / criticality', async () => {
    const cert = await root.issue({
      keyUsage: ['nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'decipherOnly'],
      basicConstraints: { ca: true, pathLen: 0, critical: false },
    })
    expect(ext<KeyUsagesExtension>(cert, OID.keyUsage).usages).toBe(2 | 4 | 8 | 16 | 256)
    const bc = ext<BasicConstraintsExtension>(cert, OID.basicConstraints)
    expect([bc.ca, bc.pathLength, bc.critical]).toEqual([true, 0, false])
  })

  it('encodes name constraints as a critical extension with IP address+mask subtrees', async () => {
    const ca = await root.issueIntermediate({
      nameConstraints: {
        permitted: {
          dns: ['.example.com'],
          uri: ['.example.org'],
          ip: ['10.0.0.0/8', '::1/128'],
          dn: ['O=acme, C=US'],
        },
        excluded: { email: ['evil.example.com'], dns: ['bad.example.com'] },
      },
    })
    const nc = ext(ca, NAME_CONSTRAINTS_OID)
    expect(nc.critical).toBe(true)
    const parsed = AsnConvert.parse(nc.value, NameConstraints)
    const permitted = parsed.permittedSubtrees?.map((t) => t.base) ?? []
    expect(permitted.map((b) => b.dNSName ?? b.uniformResourceIdentifier).slice(0, 2)).toEqual([
      '.example.com',
      '.example.org',
    ])
    const rawIps = permitted.slice(2, 4).map((b) => {
      const der = new Uint8Array(AsnConvert.serialize(b))
      return Buffer.from(der.subarray(2)).toString('hex')
    })
    expect(rawIps).toEqual(['0a000000ff000000', `${'0'.repeat(31)}1${'f'.repeat(32)}`])
    expect(permitted[4]?.directoryName?.length).toBe(2)
    const excluded = parsed.excludedSubtrees?.map((t) => t.base.rfc822Name ?? t.base.dNSName)
    expect(excluded).toEqual(['bad.example.com', 'evil.example.com'])
    const nonCritical = await root.issueIntermediate({
      nameConstraints: { permitted: { dns: ['a'] }, critical: false },
    })
    expect(ext(nonCritical, NAME_CONSTRAINTS_OID).critical).toBe(false)
  })

  it('adds custom (unknown critical) extensions verbatim', async () => {
    const value = new Uint8Array([0x05, 0x00])
    const cert = await root.issueClient({
      extensions: [{ oid: '1.3.6.1.4.1.99999.1', critical: true, value }],
    })
    const custom = ext(cert, '1.3.6.1.4.1.99999.1')
    expect(custom.critical).toBe(true)
    expect(new Uint8Array(custom.value)).toEqual(value)
    expect(nodeCert(cert).verify(nodeCert(root).publicKey)).toBe(true)
  })

  it('computes validity relative to `now`, or takes explicit dates', async () => {
    const now = new Date('2021-03-04T05:06:07Z')
    const relative = await root.issueClient({ now, validity: { days: 2, hours: 3, startOffsetSeconds: -60 } })
    expect(new Date(nodeCert(relative).validFrom).getTime()).toBe(now.getTime() - 60_000)
    expect(new Date(nodeCert(relative).validTo).getTime()).toBe(now.getTime() - 60_000 + 2 * DAY + 3 * HOUR)
    const notBefore = new Date('2019-01-01T00:00:00Z')
    const notAfter = new Date('2019-01-02T00:00:00Z')
    const expired = await root.issueClient({ notBefore, notAfter })
    expect(new Date(nodeCert(expired).validFrom)).toEqual(notBefore)
    expect(new Date(nodeCert(expired).validTo)).toEqual(notAfter)
    const future = await root.issueClient({ validity: { startOffsetSeconds: 3600 } })
    expect(new Date(nodeCert(future).validFrom).getTime()).toBeGreaterThan(Date.now())
  })

  it('writes multi-valued RDNs and repeated CNs exactly as given', async () => {
    const multi = await root.issueClient({
      subject: [
        [
          { type: 'CN', value: 'a' },
          { type: 'O', value: 'b' },
        ],
        [{ type: 'CN', value: 'c' }],
        [{ type: '2.5.4.5', value: 'serial-1' }],
      ],
    })
    expect(subjectRdns(multi)).toEqual([
      [
        { type: '2.5.4.3', value: 'a' },
        { type: '2.5.4.10', value: 'b' },
      ],
      [{ type: '2.5.4.3', value: 'c' }],
      [{ type: '2.5.4.5', value: 'serial-1' }],
    ])
    const repeated = await root.issueClient({
      subject: [[{ type: 'CN', value: 'a' }], [{ type: 'CN', value: 'b' }]],
    })
    expect(nodeCert(repeated).subject).toBe('CN=a\nCN=b')
    const fromString = await root.issueClient({ subject: 'CN=x+OU=y, O=acme, C=US' })
    expect(subjectRdns(fromString).map((rdn) => rdn.length)).toEqual([2, 1, 1])
    expect(nodeCert(fromString).subject).toBe('CN=x + OU=y\nO=acme\nC=US')
  })

  it('encodes non-ASCII subjects as UTF8String and E/DC as IA5String', async () => {
    const cert = await root.issueClient({
      subject: [[{ type: 'CN', value: 'Zoë' }], [{ type: 'E', value: 'z@x.io' }]],
    })
    const der = Buffer.from(cert.certificate.subjectName.toArrayBuffer())
    expect(der.includes(Buffer.from([0x0c, 0x04, ...Buffer.from('Zoë')]))).toBe(true)
    expect(der.includes(Buffer.from([0x16, 0x06, ...Buffer.from('z@x.io')]))).toBe(true)
  })

  it('issues exactly what `issue` is told, and marks SANs critical for empty subjects', async () => {
    const raw = await root.issue({ san: { uri: ['spiffe://example.org/w'] } })
    expect(subjectRdns(raw)).toEqual([])
    expect(hasExt(raw, OID.basicConstraints) || hasExt(raw, OID.keyUsage) || hasExt(raw, OID.eku)).toBe(false)
    expect(ext(raw, OID.san).critical).toBe(true)
    const noIds = await root.issue({
      subject: 'CN=x',
      subjectKeyIdentifier: false,
      authorityKeyIdentifier: false,
    })
    expect(noIds.certificate.extensions).toHaveLength(0)
  })

  it('reuses keys and honours serial numbers', async () => {
    const keys = await generateKeyPair('P-256')
    const first = await root.issueClient({ keys, serialNumber: '0a1b2c' })
    const second = await root.issueClient({ keys })
    expect(first.keys).toBe(keys)
    expect(nodeCert(first).publicKey.equals(nodeCert(second).publicKey)).toBe(true)
    expect(nodeCert(first).serialNumber).toBe('0A1B2C')
    expect(nodeCert(second).serialNumber).toMatch(/^[4-7][0-9A-F]{31}$/)
    expect(nodeCert(second).serialNumber).not.toBe(nodeCert(first).serialNumber)
  })

  it('rejects non-extractable keys and bad input with clear errors', async () => {
    const keys = (await globalThis.crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair
    await expect(root.issueClient({ keys })).rejects.toThrow(/not extractable/)
    await expect(root.issueClient({ serialNumber: 'xyz' })).rejects.toThrow(/hex/)
    await expect(root.issueClient({ san: { ip: ['999.1.1.1'] } })).rejects.toThrow(/Invalid IP/)
    await expect(
      root.issueIntermediate({ nameConstraints: { permitted: { ip: ['10.0.0.1'] } } }),
    ).rejects.toThrow(/CIDR/)
  })

  it('creates self-signed client certificates for pinning tests', async () => {
    const self = await createSelfSigned({ subject: 'CN=pinned' })
    const cert = nodeCert(self)
    expect(cert.subject).toBe('CN=pinned')
    expect(cert.issuer).toBe('CN=pinned')
    expect(cert.verify(cert.publicKey)).toBe(true)
    expect(cert.ca).toBe(false)
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2'])
    expect(self.issuer).toBeUndefined()
    expect(self.chainPem).toBe(self.pem)
  })

  it('formats PEM with 64-character lines', () => {
    const pem = toPem(new Uint8Array(100).fill(1), 'TEST')
    const lines = pem.trimEnd().split('\n')
    expect(lines[0]).toBe('-----BEGIN TEST-----')
    expect(lines[1]).toHaveLength(64)
    expect(lines.at(-1)).toBe('-----END TEST-----')
    expect(pem.endsWith('\n')).toBe(true)
  })
})

describe('key algorithms', () => {
  const cases = [
    { alg: 'P-256', type: 'ec', curve: 'prime256v1', hash: 'SHA-256' },
    { alg: 'P-384', type: 'ec', curve: 'secp384r1', hash: 'SHA-384' },
    { alg: 'RSA-2048', type: 'rsa', curve: undefined, hash: 'SHA-256' },
    { alg: 'Ed25519', type: 'ed25519', curve: undefined, hash: undefined },
  ] as const

  it.each(cases)('$alg: generates, signs and exports usable keys', async ({ alg, type, curve, hash }) => {
    const ca = await createRootCA({ keyAlgorithm: alg })
    const leaf = await ca.issueClient({ keyAlgorithm: alg })
    const cert = nodeCert(leaf)
    expect(cert.publicKey.asymmetricKeyType).toBe(type)
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe(curve)
    if (alg === 'RSA-2048') expect(cert.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048)
    const sigAlg = leaf.certificate.signatureAlgorithm as { name: string; hash?: { name: string } }
    expect(sigAlg.hash?.name).toBe(hash)
    expect(cert.verify(nodeCert(ca).publicKey)).toBe(true)
    expect(cert.checkPrivateKey(createPrivateKey(leaf.keyPem))).toBe(true)
  })

  it('mixes algorithms and overrides the signature hash', async () => {
    const ec = await createRootCA()
    const ed = await ec.issueClient({ keyAlgorithm: 'Ed25519', signatureAlgorithm: 'SHA-384' })
    expect(nodeCert(ed).publicKey.asymmetricKeyType).toBe('ed25519')
    expect((ed.certificate.signatureAlgorithm as { hash: { name: string } }).hash.name).toBe('SHA-384')
    expect(nodeCert(ed).verify(nodeCert(ec).publicKey)).toBe(true)
    const edRoot = await createRootCA({ keyAlgorithm: 'Ed25519' })
    await expect(edRoot.issueClient({ signatureAlgorithm: 'SHA-256' })).rejects.toThrow(/Ed25519/)
  })
})
