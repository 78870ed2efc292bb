import {
  type CertificateAuthority,
  createCrl,
  createRootCA,
  createSelfSigned,
  createTestPki,
  type IssuedCertificate,
  revocationExtensions,
  startOcspResponder,
  type TestPki,
} from '@clientcert/testing'

/**
 * Every certificate the conformance scenarios use, generated at test time by
 * `@clientcert/testing`. Names say what is wrong (or right) with each one.
 */
export interface Fixtures {
  readonly pki: TestPki
  /** PEM of the client root + intermediate, for app-level trust. */
  readonly anchorsPem: string
  readonly intermediatePem: string
  /** A root that issued none of the scenario clients. */
  readonly unknownRootPem: string
  /** Every intermediate the scenarios issue through (normal, name-constrained, expired, non-CA). */
  readonly intermediatesPem: string
  readonly clients: Readonly<Record<ClientName, IssuedCertificate>>
  /**
   * Front-proxy material: a proxy CA of its own (never a client anchor). Its clients
   * `frontProxy` (CN=front-proxy-client) and `proxyWrongName` (CN=intruder); `proxyFromClientCa`
   * is a front-proxy-client certificate from the client CA (the trap).
   */
  readonly proxyCaPem: string
  /** Revocation material (class J): CRLs for the intermediate and the root, and an OCSP responder. */
  readonly revocation: {
    /** Current CRLs; `clients.revoked` is listed by the intermediate's. */
    readonly crls: readonly string[]
    /** The intermediate's CRL is past its nextUpdate. */
    readonly staleCrls: readonly string[]
    /** The intermediate's CRL is signed by another key. */
    readonly wronglySignedCrls: readonly string[]
    /** PEM of the intermediate whose clients (ocspGood, ocspRevoked, ocspDown) name OCSP responders in AIA. */
    readonly ocspIntermediatePem: string
  }
  close(): Promise<void>
}

export type ClientName =
  | 'alice'
  | 'admin'
  | 'bob'
  | 'unknownCa'
  | 'ekuServerOnly'
  | 'ekuEmailOnly'
  | 'ekuMissing'
  | 'ekuAnyOnly'
  | 'caLeaf'
  | 'kuNoDigitalSignature'
  | 'issuedByNonCa'
  | 'expiredIssuer'
  | 'expired'
  | 'notYetValid'
  | 'nameConstraintViolation'
  | 'nameConstraintOk'
  | 'unknownCritical'
  | 'twoCns'
  | 'multiValuedCn'
  | 'cnInjection'
  | 'cnTrailingSpace'
  | 'cnControlChar'
  | 'aliceUpper'
  | 'selfSigned'
  | 'selfSignedOther'
  | 'issuerSpoof'
  | 'spiffeProdSa'
  | 'spiffeProduction'
  | 'spiffeOtherDomain'
  | 'spiffeUpperDomain'
  | 'spiffeDotDot'
  | 'spiffeTrailingSlash'
  | 'spiffePercent'
  | 'spiffePort'
  | 'spiffeTwoUris'
  | 'spiffeCrossDomain'
  | 'spiffeCaLeaf'
  | 'dnsApi'
  | 'dnsEvilSuffix'
  | 'k8sMaster'
  | 'k8sDev'
  | 'xfccInjector'
  | 'revoked'
  | 'ocspGood'
  | 'ocspRevoked'
  | 'ocspDown'
  | 'frontProxy'
  | 'proxyWrongName'
  | 'proxyFromClientCa'

const SPIFFE = 'spiffe://example.org'

export async function createFixtures(): Promise<Fixtures> {
  const pki = await createTestPki()
  const now = new Date()
  const hourAgo = new Date(now.getTime() - 3600_000)
  const issue = (subject: string, extra: Parameters<TestPki['issueClient']>[0] = {}) =>
    pki.issueClient({ subject, ...extra })
  const spiffe = (uri: string | string[]) =>
    issue('CN=workload', { san: { uri: Array.isArray(uri) ? uri : [uri] } })

  const [unknownRoot, notCa, expiredCa, constrained, proxyCa] = await Promise.all([
    createRootCA({ subject: 'CN=Unknown Root CA' }),
    // CA:FALSE and no keyUsage: the only defect is basicConstraints.
    pki.intermediate.issueIntermediate({
      subject: 'CN=Not A CA',
      basicConstraints: { ca: false },
      keyUsage: null,
    }),
    pki.root.issueIntermediate({
      subject: 'CN=Expired Intermediate CA',
      notBefore: new Date(now.getTime() - 30 * 86_400_000),
      notAfter: new Date(now.getTime() - 86_400_000),
    }),
    pki.root.issueIntermediate({
      subject: 'CN=Constrained CA',
      nameConstraints: { permitted: { dns: ['good.example'] } },
    }),
    createRootCA({ subject: 'CN=Front Proxy CA' }),
  ])
  const unknownIntermediate = await unknownRoot.issueIntermediate({ subject: 'CN=Unknown Intermediate CA' })
  const fromNonCa = await notCa.issue({
    subject: 'CN=child of non-CA',
    basicConstraints: { ca: false },
    keyUsage: ['digitalSignature'],
    eku: ['clientAuth'],
  })

  const clients: Omit<
    Record<ClientName, IssuedCertificate>,
    'xfccInjector' | 'revoked' | 'ocspGood' | 'ocspRevoked' | 'ocspDown'
  > &
    Partial<Record<'xfccInjector' | 'revoked' | 'ocspGood' | 'ocspRevoked' | 'ocspDown', IssuedCertificate>> =
    {
      alice: await issue('CN=alice, O=acme', { san: { dns: ['alice.example.com'] } }),
      admin: await issue('CN=admin'),
      bob: await issue('CN=bob'),
      unknownCa: await unknownIntermediate.issueClient({ subject: 'CN=alice' }),
      ekuServerOnly: await issue('CN=alice', { eku: ['serverAuth'] }),
      ekuEmailOnly: await issue('CN=alice', { eku: ['emailProtection'] }),
      ekuMissing: await issue('CN=alice', { eku: null }),
      ekuAnyOnly: await issue('CN=alice', { eku: ['anyExtendedKeyUsage'] }),
      caLeaf: await issue('CN=alice', {
        basicConstraints: { ca: true },
        keyUsage: ['digitalSignature', 'keyCertSign'],
      }),
      kuNoDigitalSignature: await issue('CN=alice', { keyUsage: ['keyEncipherment'] }),
      issuedByNonCa: fromNonCa,
      expiredIssuer: await expiredCa.issueClient({
        subject: 'CN=alice',
        notBefore: new Date(now.getTime() - 20 * 86_400_000),
        notAfter: new Date(now.getTime() + 86_400_000),
      }),
      expired: await issue('CN=alice', {
        notBefore: new Date(now.getTime() - 2 * 86_400_000),
        notAfter: hourAgo,
      }),
      notYetValid: await issue('CN=alice', { validity: { days: 1, startOffsetSeconds: 86_400 } }),
      nameConstraintViolation: await constrained.issueClient({
        subject: 'CN=alice',
        san: { dns: ['alice.evil.example'] },
      }),
      nameConstraintOk: await constrained.issueClient({
        subject: 'CN=alice',
        san: { dns: ['alice.good.example'] },
      }),
      unknownCritical: await issue('CN=alice', {
        extensions: [{ oid: '1.3.6.1.4.1.55555.1', critical: true, value: new Uint8Array([0x05, 0x00]) }],
      }),
      twoCns: await issue([[{ type: 'CN', value: 'alice' }], [{ type: 'CN', value: 'admin' }]] as never),
      multiValuedCn: await issue([
        [
          { type: 'CN', value: 'admin' },
          { type: 'O', value: 'acme' },
        ],
      ] as never),
      cnInjection: await issue([[{ type: 'CN', value: 'bob,CN=admin' }]] as never),
      cnTrailingSpace: await issue([[{ type: 'CN', value: 'admin ' }]] as never),
      cnControlChar: await issue([[{ type: 'CN', value: 'admin\u0000' }]] as never),
      aliceUpper: await issue('CN=Admin'),
      selfSigned: await createSelfSigned({ subject: 'CN=self-signed device' }),
      selfSignedOther: await createSelfSigned({ subject: 'CN=self-signed device' }),
      // Same names as the trusted intermediate, signed by an attacker's key: only a signature check tells.
      issuerSpoof: await spoofedLeaf(pki.intermediate),
      spiffeProdSa: await spiffe(`${SPIFFE}/ns/prod/sa/api`),
      spiffeProduction: await spiffe(`${SPIFFE}/ns/production/sa/api`),
      spiffeOtherDomain: await spiffe('spiffe://example.org.evil.test/ns/prod/sa/api'),
      spiffeUpperDomain: await spiffe('spiffe://Example.org/ns/prod/sa/api'),
      spiffeDotDot: await spiffe(`${SPIFFE}/ns/prod/../admin`),
      spiffeTrailingSlash: await spiffe(`${SPIFFE}/ns/prod/`),
      spiffePercent: await spiffe(`${SPIFFE}/ns/prod%2Fadmin`),
      spiffePort: await spiffe('spiffe://example.org:443/ns/prod/sa/api'),
      spiffeTwoUris: await spiffe([`${SPIFFE}/ns/prod/sa/api`, `${SPIFFE}/ns/prod/sa/admin`]),
      // Federation: the CA of another trust domain mints an ID in example.org.
      spiffeCrossDomain: await unknownRoot.issueClient({
        subject: 'CN=workload',
        san: { uri: [`${SPIFFE}/ns/prod/sa/api`] },
      }),
      // X509-SVID §4.1: a leaf SVID is never a CA (and has no keyCertSign/cRLSign).
      spiffeCaLeaf: await issue('CN=workload', {
        san: { uri: [`${SPIFFE}/ns/prod/sa/api`] },
        basicConstraints: { ca: true },
        keyUsage: ['digitalSignature', 'keyCertSign'],
      }),
      dnsApi: await issue('CN=api', { san: { dns: ['api.example.com'] } }),
      dnsEvilSuffix: await issue('CN=evil', { san: { dns: ['evilexample.com'] } }),
      k8sMaster: await issue('CN=jane, O=system:masters'),
      k8sDev: await issue('CN=joe, O=dev'),
      frontProxy: await proxyCa.issueClient({ subject: 'CN=front-proxy-client' }),
      proxyWrongName: await proxyCa.issueClient({ subject: 'CN=intruder' }),
      proxyFromClientCa: await issue('CN=front-proxy-client'),
    }
  // A URI SAN that, written unquoted into XFCC as Envoy does, splits the header and appends
  // a forged element carrying admin's (public) certificate.
  clients.xfccInjector = await issue('CN=injector', {
    san: {
      uri: [
        `spiffe://example.org/ns/prod/sa/x,Hash=${clients.admin.fingerprint256};Cert="${encodeURIComponent(clients.admin.pem)}"`,
      ],
    },
  })
  clients.revoked = await issue('CN=alice')
  const revokedSerial = clients.revoked.certificate.serialNumber
  const rootCrl = createCrl(pki.root).pem
  // OCSP: each certificate names its responder in AIA (the root's for the intermediate, the
  // intermediate's for the clients), as real PKIs do.
  const revokedSerials = new Set<string>()
  const rootResponder = await startOcspResponder({ ca: pki.root, statuses: () => 'good' })
  const ocspIntermediate = await pki.root.issueIntermediate({
    subject: 'CN=OCSP Client Intermediate CA',
    extensions: revocationExtensions({ ocspUrl: rootResponder.url }),
  })
  const intResponder = await startOcspResponder({
    ca: ocspIntermediate,
    statuses: (serial) => (revokedSerials.has(serial) ? 'revoked' : 'good'),
  })
  const viaOcsp = (url: string) =>
    ocspIntermediate.issueClient({ subject: 'CN=alice', extensions: revocationExtensions({ ocspUrl: url }) })
  clients.ocspGood = await viaOcsp(intResponder.url)
  clients.ocspRevoked = await viaOcsp(intResponder.url)
  clients.ocspDown = await viaOcsp('http://127.0.0.1:9/')
  revokedSerials.add(clients.ocspRevoked.certificate.serialNumber.toLowerCase().replace(/^(00)+/, ''))
  const revocation = {
    crls: [createCrl(pki.intermediate, { revoked: [{ serialNumber: revokedSerial }] }).pem, rootCrl],
    staleCrls: [
      createCrl(pki.intermediate, {
        thisUpdate: new Date(now.getTime() - 3 * 86_400_000),
        nextUpdate: new Date(now.getTime() - 86_400_000),
      }).pem,
      rootCrl,
    ],
    wronglySignedCrls: [createCrl(pki.intermediate, { signer: unknownRoot }).pem, rootCrl],
    ocspIntermediatePem: ocspIntermediate.pem,
  }
  return {
    revocation,
    close: async () => {
      await rootResponder.close()
      await intResponder.close()
    },
    pki,
    anchorsPem: pki.root.pem,
    intermediatePem: pki.intermediate.pem,
    unknownRootPem: unknownRoot.pem,
    proxyCaPem: proxyCa.pem,
    intermediatesPem: [pki.intermediate, constrained, expiredCa, notCa].map((c) => c.pem).join(''),
    clients: clients as Record<ClientName, IssuedCertificate>,
  }
}

/** A leaf whose issuer name equals `ca`'s subject but which is signed by a different key. */
async function spoofedLeaf(ca: CertificateAuthority): Promise<IssuedCertificate> {
  const fake = await createRootCA({ subject: ca.certificate.subject })
  const leaf = await fake.issueClient({ subject: 'CN=admin' })
  return leaf
}
