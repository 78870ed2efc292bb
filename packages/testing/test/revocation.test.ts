import { createHash, X509Certificate as NodeX509 } from 'node:crypto'
import {
  BasicOCSPResponse,
  CertID,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  Request,
  TBSRequest,
} from '@peculiar/asn1-ocsp'
import { AsnConvert, OctetString } from '@peculiar/asn1-schema'
import { AlgorithmIdentifier, Certificate, CertificateList } from '@peculiar/asn1-x509'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CertificateAuthority, createRootCA, type IssuedCertificate } from '../src/pki.js'
import { createCrl, type OcspResponder, revocationExtensions, startOcspResponder } from '../src/revocation.js'
import { loadX509 } from '../src/x509-loader.js'

let ca: CertificateAuthority
let leaf: IssuedCertificate
beforeAll(async () => {
  ca = await createRootCA({ subject: 'CN=Testing Revocation Root' })
  leaf = await ca.issueClient({
    extensions: revocationExtensions({ crlUrl: 'http://127.0.0.1/ca.crl', ocspUrl: 'http://127.0.0.1/' }),
  })
})

describe('createCrl', () => {
  it('produces a CRL signed by the CA that @peculiar/x509 accepts', async () => {
    const x509 = await loadX509()
    const { der, pem } = createCrl(ca, { revoked: [{ serialNumber: leaf.certificate.serialNumber }] })
    expect(pem).toMatch(/^-----BEGIN X509 CRL-----\n/)
    const crl = new x509.X509Crl(der)
    expect(crl.issuer).toBe('CN=Testing Revocation Root')
    expect(await crl.verify({ publicKey: ca.certificate.publicKey })).toBe(true)
    expect(crl.entries.map((e) => e.serialNumber.toLowerCase())).toEqual([
      leaf.certificate.serialNumber.toLowerCase(),
    ])
    expect(crl.nextUpdate!.getTime()).toBeGreaterThan(Date.now())
  })

  it('signs with another key when asked (a wrongly signed CRL)', async () => {
    const x509 = await loadX509()
    const other = await createRootCA()
    const crl = new x509.X509Crl(createCrl(ca, { signer: other }).der)
    expect(await crl.verify({ publicKey: ca.certificate.publicKey })).toBe(false)
    expect(await crl.verify({ publicKey: other.certificate.publicKey })).toBe(true)
  })

  it('honours thisUpdate/nextUpdate and extra extensions', () => {
    const thisUpdate = new Date('2020-01-01T00:00:00Z')
    const list = AsnConvert.parse(createCrl(ca, { thisUpdate, nextUpdate: null }).der, CertificateList)
    expect(list.tbsCertList.thisUpdate.getTime().getTime()).toBe(thisUpdate.getTime())
    expect(list.tbsCertList.nextUpdate).toBeUndefined()
    const withExt = AsnConvert.parse(
      createCrl(ca, { extensions: [{ oid: '1.2.3.4', critical: true, value: new Uint8Array([5, 0]) }] }).der,
      CertificateList,
    )
    expect(withExt.tbsCertList.crlExtensions?.find((e) => e.extnID === '1.2.3.4')?.critical).toBe(true)
  })
})

describe('revocationExtensions', () => {
  it('puts CDP and AIA OCSP URLs into a certificate', () => {
    const info = new NodeX509(leaf.der).infoAccess
    expect(info).toContain('OCSP - URI:http://127.0.0.1/')
  })
})

describe('startOcspResponder', () => {
  let responder: OcspResponder
  beforeAll(async () => {
    responder = await startOcspResponder({ ca, statuses: (s) => (s === '01' ? 'revoked' : 'good') })
  })
  afterAll(() => responder.close())

  async function ask(serial: number): Promise<OCSPResponse> {
    const caCert = AsnConvert.parse(ca.der, Certificate)
    const sha1 = (b: ArrayBuffer) => createHash('sha1').update(Buffer.from(b)).digest()
    const nameHash = sha1(AsnConvert.serialize(caCert.tbsCertificate.subject))
    const keyHash = sha1(caCert.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey)
    const req = new OCSPRequest({
      tbsRequest: new TBSRequest({
        requestList: [
          new Request({
            reqCert: new CertID({
              hashAlgorithm: new AlgorithmIdentifier({ algorithm: '1.3.14.3.2.26', parameters: null }),
              issuerNameHash: new OctetString(new Uint8Array(nameHash).buffer),
              issuerKeyHash: new OctetString(new Uint8Array(keyHash).buffer),
              serialNumber: new Uint8Array([serial]).buffer,
            }),
          }),
        ],
      }),
    })
    const res = await fetch(responder.url, {
      method: 'POST',
      headers: { 'content-type': 'application/ocsp-request' },
      body: Buffer.from(AsnConvert.serialize(req)),
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/ocsp-response')
    return AsnConvert.parse(new Uint8Array(await res.arrayBuffer()), OCSPResponse)
  }

  it('answers RFC 6960 POSTs with signed basic responses and counts requests', async () => {
    const before = responder.requests
    const good = await ask(2)
    expect(good.responseStatus).toBe(OCSPResponseStatus.successful)
    const basic = AsnConvert.parse(good.responseBytes!.response.buffer, BasicOCSPResponse)
    const single = basic.tbsResponseData.responses[0]!
    expect(single.certStatus.good).toBeNull()
    expect(single.nextUpdate!.getTime()).toBeGreaterThan(Date.now())
    const revoked = AsnConvert.parse((await ask(1)).responseBytes!.response.buffer, BasicOCSPResponse)
    expect(revoked.tbsResponseData.responses[0]!.certStatus.revoked).toBeDefined()
    expect(responder.requests - before).toBe(2)
  })

  it('answers malformedRequest to junk', async () => {
    const res = await fetch(responder.url, { method: 'POST', body: 'junk' })
    const parsed = AsnConvert.parse(new Uint8Array(await res.arrayBuffer()), OCSPResponse)
    expect(parsed.responseStatus).toBe(OCSPResponseStatus.malformedRequest)
  })
})
