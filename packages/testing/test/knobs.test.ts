import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { AsnConvert } from '@peculiar/asn1-schema'
import { Certificate } from '@peculiar/asn1-x509'
import { describe, expect, it } from 'vitest'
import { createRootCA, generateKeyPair } from '../src/index.js'

/** The knobs the differential generator (test/differential) needs for hostile shapes. */

function text(pem: string): string {
  return execFileSync('openssl', ['x509', '-noout', '-text'], { input: pem }).toString()
}

describe('testing knobs for unusual certificates', () => {
  it('generates RSA keys with an unusual public exponent', async () => {
    const keys = await generateKeyPair('RSA-2048', { publicExponent: 3 })
    const root = await createRootCA({ keys })
    expect(text(root.pem)).toContain('Exponent: 3 (0x3)')
    await expect(generateKeyPair('RSA-2048', { publicExponent: 4 })).rejects.toThrow(/odd/)
  })

  it('encodes validity as GeneralizedTime before 2050 on request, with a valid signature', async () => {
    for (const keyAlgorithm of ['P-256', 'RSA-2048', 'Ed25519'] as const) {
      const root = await createRootCA({ keyAlgorithm, validityEncoding: 'generalized' })
      const asn = AsnConvert.parse(root.der, Certificate)
      expect(asn.tbsCertificate.validity.notBefore.generalTime).toBeInstanceOf(Date)
      expect(asn.tbsCertificate.validity.notAfter.generalTime).toBeInstanceOf(Date)
      const leaf = await root.issueClient({ validityEncoding: 'generalized' })
      const node = new X509Certificate(leaf.pem)
      expect(node.verify(new X509Certificate(root.pem).publicKey)).toBe(true)
      expect(AsnConvert.parse(leaf.der, Certificate).tbsCertificate.validity.notAfter.utcTime).toBeUndefined()
    }
    const plain = await createRootCA()
    expect(AsnConvert.parse(plain.der, Certificate).tbsCertificate.validity.notBefore.utcTime).toBeInstanceOf(
      Date,
    )
  })

  it('sets explicit SKI and AKI bytes', async () => {
    const root = await createRootCA({ subjectKeyIdentifier: new Uint8Array([1, 2, 3]) })
    const leaf = await root.issueClient({ authorityKeyIdentifier: new Uint8Array([0xaa, 0xbb]) })
    expect(text(root.pem)).toMatch(/Subject Key Identifier:\s+01:02:03/)
    expect(text(leaf.pem)).toMatch(/Authority Key Identifier:\s+(keyid:)?AA:BB/)
  })

  it('adds a duplicate extension through extensions', async () => {
    const root = await createRootCA()
    const bcAgain = new Uint8Array([0x30, 0x00])
    const leaf = await root.issueClient({ extensions: [{ oid: '2.5.29.19', value: bcAgain }] })
    const asn = AsnConvert.parse(leaf.der, Certificate)
    expect(asn.tbsCertificate.extensions?.filter((e) => e.extnID === '2.5.29.19')).toHaveLength(2)
  })
})
