// trust.spiffe.bundles: the anchors a leaf is judged against are chosen by the trust domain of
// its SPIFFE ID (go-spiffe x509svid.Verify), never pooled. The conformance matrix runs the
// cross-domain mint over real sockets for every adapter ("spiffe bundles: …"); these pin the
// option checks and the edge cases of the choice.
import { type CertificateAuthority, createRootCA, type IssuedCertificate } from '@clientcert/testing'
import { beforeAll, describe, expect, it } from 'vitest'
import { type ClientCertOptions, createClientCertAuthenticator } from '../src/index.js'
import { NOW, tlsSocket } from './helpers.js'

let a: CertificateAuthority
let b: CertificateAuthority
let plain: CertificateAuthority
const leaves: Record<string, IssuedCertificate> = {}

beforeAll(async () => {
  ;[a, b, plain] = (await Promise.all(
    ['CN=a.org CA', 'CN=b.org CA', 'CN=Plain CA'].map((subject) => createRootCA({ subject, now: NOW })),
  )) as [CertificateAuthority, CertificateAuthority, CertificateAuthority]
  const svid = (ca: CertificateAuthority, uri: string[], extra = {}) =>
    ca.issueClient({ subject: 'CN=workload', san: { uri }, now: NOW, ...extra })
  Object.assign(leaves, {
    aInA: await svid(a, ['spiffe://a.org/api']),
    bInB: await svid(b, ['spiffe://b.org/api']),
    aMintedByB: await svid(b, ['spiffe://a.org/api']),
    upperScheme: await svid(b, ['SPIFFE://a.org/api']),
    malformed: await svid(a, ['spiffe://a.org/x/../admin']),
    twoUris: await svid(a, ['spiffe://a.org/api', 'https://a.org/api']),
    otherDomain: await svid(a, ['spiffe://c.org/api']),
    keyCertSign: await svid(a, ['spiffe://a.org/api'], { keyUsage: ['digitalSignature', 'keyCertSign'] }),
    crlSign: await svid(a, ['spiffe://a.org/api'], { keyUsage: ['digitalSignature', 'cRLSign'] }),
    plainLeaf: await plain.issueClient({ subject: 'CN=plain', now: NOW }),
    plainLeafFromA: await a.issueClient({ subject: 'CN=plain from a', now: NOW }),
  })
})

function auth(trust: ClientCertOptions['trust']) {
  return createClientCertAuthenticator({
    trust,
    identity: 'fingerprint',
    allow: { authenticated: true },
    now: () => NOW,
  })
}

async function verdict(authenticator: ReturnType<typeof auth>, leaf: IssuedCertificate): Promise<string> {
  const r = await authenticator.authenticate({ socket: tlsSocket(leaf.der, { authorized: false }) })
  return r.ok ? 'ok' : r.error.code
}

const federated = () => ({ spiffe: { bundles: { 'a.org': a.pem, 'b.org': [b.pem] } }, anchors: plain.pem })

describe('trust.spiffe.bundles', () => {
  it.each([
    ['aInA', 'ok'],
    ['bInB', 'ok'],
    ['aMintedByB', 'ERR_CLIENT_CERT_UNTRUSTED'],
    ['upperScheme', 'ERR_CLIENT_CERT_UNTRUSTED'],
    ['malformed', 'ERR_CLIENT_CERT_UNTRUSTED'],
    ['twoUris', 'ERR_CLIENT_CERT_UNTRUSTED'],
    ['otherDomain', 'ERR_CLIENT_CERT_UNTRUSTED'],
    ['keyCertSign', 'ERR_CLIENT_CERT_KEY_USAGE'],
    ['crlSign', 'ERR_CLIENT_CERT_KEY_USAGE'],
    ['plainLeaf', 'ok'],
    // A leaf without a SPIFFE ID is judged against trust.anchors only, never a bundle.
    ['plainLeafFromA', 'ERR_CLIENT_CERT_UNTRUSTED'],
  ])('%s → %s', async (name, want) => {
    expect(await verdict(auth(federated()), leaves[name]!)).toBe(want)
  })

  it('the same certificates pooled in trust.anchors admit the cross-domain mint (why bundles exist)', async () => {
    expect(await verdict(auth({ anchors: [a.pem, b.pem] }), leaves.aMintedByB!)).toBe('ok')
  })

  it('without trust.anchors, a leaf without a SPIFFE ID is refused', async () => {
    const only = auth({ spiffe: { bundles: { 'a.org': a.pem } } })
    expect(await verdict(only, leaves.plainLeafFromA!)).toBe('ERR_CLIENT_CERT_UNTRUSTED')
    expect(await verdict(only, leaves.aInA!)).toBe('ok')
  })

  it('a bundle left out of an update is withdrawn; an empty set of bundles trusts no SPIFFE ID', async () => {
    const x = auth(federated())
    expect(await verdict(x, leaves.bInB!)).toBe('ok')
    x.updateTrust({ trust: { spiffe: { bundles: { 'a.org': a.pem } } } })
    expect(await verdict(x, leaves.bInB!)).toBe('ERR_CLIENT_CERT_UNTRUSTED')
    x.updateTrust({ trust: { spiffe: { bundles: {} } } })
    expect(await verdict(x, leaves.aInA!)).toBe('ERR_CLIENT_CERT_UNTRUSTED')
  })

  it.each([
    [{ bundles: { 'spiffe://a.org': 'x' } }, 'trust.spiffe.bundles.spiffe://a.org'],
    [{ bundles: { 'A.org': 'x' } }, 'trust.spiffe.bundles.A.org'],
    [{ bundles: { 'a.org': [] } }, 'trust.spiffe.bundles.a.org'],
    [{ bundles: { 'a.org': 'not pem' } }, 'trust.spiffe.bundles.a.org'],
    [{ bundles: ['a.org'] }, 'trust.spiffe.bundles'],
    [{ bundles: {}, refresh: 1 }, 'trust.spiffe.refresh'],
    ['a.org', 'trust.spiffe'],
  ])('a bad option %j names %s', (spiffe, option) => {
    expect(() => auth({ spiffe } as never)).toThrow(expect.objectContaining({ option }))
  })

  it('a bundle certificate that is not a CA is refused at construction', () => {
    expect(() => auth({ spiffe: { bundles: { 'a.org': leaves.aInA!.pem } } })).toThrow(
      expect.objectContaining({ option: 'trust.spiffe.bundles.a.org[0]' }),
    )
  })
})
