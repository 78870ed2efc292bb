import type { webcrypto } from 'node:crypto'
import {
  type CertificateAuthority,
  type CertificateOptions,
  createRootCA,
  generateKeyPair,
  type IssuedCertificate,
  type KeyAlgorithm,
  largeExponentRsaSpki,
  rsaSpki,
  withPublicKey,
} from '@clientcert/testing'
import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { buildPath, checkPath, type PathOptions, type PathResult } from '../src/validate/path.js'
import { checkProfile } from '../src/validate/profile.js'
import { verifySignature } from '../src/validate/signature.js'
import { at, DAY, HOUR, MINUTE, NOW, NOW_MS, OIDS, parsed, pathOptions, trustStore } from './helpers.js'

// Count signature verifications: the search is bounded by this number, not by wall time.
vi.mock('../src/validate/signature.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/validate/signature.js')>()
  return { ...real, verifySignature: vi.fn(real.verifySignature) }
})
const signatureChecks = vi.mocked(verifySignature)

type Cert = { readonly der: Uint8Array }

const t = { now: NOW } satisfies CertificateOptions

function validate(
  leaf: Cert,
  anchors: readonly Cert[],
  intermediates: readonly Cert[] = [],
  overrides: Partial<PathOptions> = {},
  hints: readonly Cert[] = [],
): PathResult {
  return buildPath(
    parsed(leaf),
    trustStore(anchors, intermediates),
    hints.map(parsed),
    pathOptions(overrides),
  )
}

function subjects(result: PathResult): string[] {
  if (!result.ok) throw new Error(`expected a path, got ${result.code}: ${result.reason}`)
  return result.path.map((c) => c.subject.dn)
}

function failure(result: PathResult): { code: string; reason: string } {
  if (result.ok) throw new Error(`expected a failure, got a path of ${result.path.length}`)
  return { code: result.code, reason: result.reason }
}

let root: CertificateAuthority
let intermediate: CertificateAuthority
let leaf: IssuedCertificate
let counter = 0
const unique = (label: string) => `CN=${label} ${++counter}`

beforeAll(async () => {
  root = await createRootCA({ ...t, subject: 'CN=Path Root CA, O=clientcert-test' })
  intermediate = await root.issueIntermediate({ ...t, subject: 'CN=Path Issuing CA, O=clientcert-test' })
  leaf = await intermediate.issueClient({ ...t, subject: 'CN=alice' })
})

beforeEach(() => {
  signatureChecks.mockClear()
})

describe('chains that validate', () => {
  const algorithms: KeyAlgorithm[] = ['P-256', 'P-384', 'RSA-2048', 'Ed25519']

  it.each(algorithms)('%s: root -> leaf and root -> intermediate -> leaf', async (keyAlgorithm) => {
    const r = await createRootCA({ ...t, keyAlgorithm, subject: `CN=${keyAlgorithm} Root` })
    const i = await r.issueIntermediate({ ...t, keyAlgorithm, subject: `CN=${keyAlgorithm} Intermediate` })
    const [direct, below] = await Promise.all([
      r.issueClient({ ...t, keyAlgorithm, subject: 'CN=direct' }),
      i.issueClient({ ...t, keyAlgorithm, subject: 'CN=below' }),
    ])
    expect(subjects(validate(direct, [r]))).toEqual(['CN=direct', `CN=${keyAlgorithm} Root`])
    expect(subjects(validate(below, [r], [i]))).toEqual([
      'CN=below',
      `CN=${keyAlgorithm} Intermediate`,
      `CN=${keyAlgorithm} Root`,
    ])
    // The same leaf does not validate against a different root of the same algorithm.
    const other = await createRootCA({ ...t, keyAlgorithm, subject: 'CN=Unrelated Root' })
    expect(failure(validate(below, [other], [i])).code).toBe('ERR_CLIENT_CERT_UNTRUSTED')
  })

  it('a chain mixing RSA, Ed25519 and P-384 keys validates', async () => {
    const r = await createRootCA({ ...t, keyAlgorithm: 'RSA-2048', subject: 'CN=Mixed Root' })
    const i = await r.issueIntermediate({ ...t, keyAlgorithm: 'Ed25519', subject: 'CN=Mixed Intermediate' })
    const l = await i.issueClient({ ...t, keyAlgorithm: 'P-384', subject: 'CN=mixed' })
    expect(subjects(validate(l, [r], [i]))).toEqual(['CN=mixed', 'CN=Mixed Intermediate', 'CN=Mixed Root'])
  })

  it('reports the validity window as the intersection over the path', () => {
    const result = validate(leaf, [root], [intermediate])
    expect(result).toMatchObject({ ok: true })
    if (!result.ok) return
    const [l, i, r] = result.path
    expect(result.validFrom).toBe(Math.max(l!.notBefore, i!.notBefore, r!.notBefore))
    expect(result.validUntil).toBe(Math.min(l!.notAfter, i!.notAfter, r!.notAfter))
    expect(result.validUntil).toBe(NOW_MS - HOUR + DAY) // the leaf's notAfter
  })

  it('rejects a leaf when no issuer is known at all', () => {
    expect(failure(validate(leaf, [root]))).toEqual({
      code: 'ERR_CLIENT_CERT_UNTRUSTED',
      reason: 'no path from "CN=alice" (issuer "O=clientcert-test,CN=Path Issuing CA") to a trust anchor',
    })
  })
})

describe('signatures, not names, link the path', () => {
  it('a root with the trusted root name but another key does not vouch for its leaves', async () => {
    const spoofRoot = await createRootCA({ ...t, subject: 'CN=Path Root CA, O=clientcert-test' })
    const spoofLeaf = await spoofRoot.issueClient({ ...t, subject: 'CN=mallory' })
    expect(failure(validate(spoofLeaf, [root]))).toEqual({
      code: 'ERR_CLIENT_CERT_UNTRUSTED',
      reason: 'signature of "CN=mallory" does not verify with anchor "O=clientcert-test,CN=Path Root CA"',
    })
    expect(subjects(validate(leaf, [root], [intermediate]))).toHaveLength(3)
  })

  it('an intermediate with the trusted intermediate name but another key is not followed', async () => {
    const spoofRoot = await createRootCA({ ...t, subject: 'CN=Path Root CA, O=clientcert-test' })
    const spoofIntermediate = await spoofRoot.issueIntermediate({
      ...t,
      subject: 'CN=Path Issuing CA, O=clientcert-test',
    })
    const spoofLeaf = await spoofIntermediate.issueClient({ ...t, subject: 'CN=alice' })
    // The spoofed intermediate arrives as a hint; the real one is configured.
    const result = validate(spoofLeaf, [root], [intermediate], {}, [spoofIntermediate])
    expect(failure(result).code).toBe('ERR_CLIENT_CERT_UNTRUSTED')
    expect(failure(result).reason).toMatch(/^signature of "/)
  })
})

describe('basicConstraints', () => {
  // keyUsage is dropped so that the basicConstraints rule, not the keyCertSign profile rule, decides.
  it('an issuer with CA:FALSE cannot issue', async () => {
    const notCa = await root.issueIntermediate({
      ...t,
      subject: 'CN=Not A CA',
      basicConstraints: { ca: false },
      keyUsage: null,
    })
    const l = await notCa.issueClient({ ...t })
    expect(failure(validate(l, [root], [notCa]))).toEqual({
      code: 'ERR_CLIENT_CERT_BASIC_CONSTRAINTS',
      reason: 'issuer "CN=Not A CA" is not a CA',
    })
    expect(subjects(validate(leaf, [root], [intermediate]))).toHaveLength(3)
  })

  it('a v3 issuer without basicConstraints cannot issue', async () => {
    const noBc = await root.issueIntermediate({
      ...t,
      subject: 'CN=No Basic Constraints',
      basicConstraints: null,
      keyUsage: null,
    })
    const l = await noBc.issueClient({ ...t })
    expect(parsed(noBc).version).toBe(3)
    expect(failure(validate(l, [root], [noBc]))).toEqual({
      code: 'ERR_CLIENT_CERT_BASIC_CONSTRAINTS',
      reason: 'issuer "CN=No Basic Constraints" is not a CA',
    })
  })

  it('a certificate asserting keyCertSign without cA is refused (RFC 5280 §4.2.1.9)', async () => {
    const signerNotCa = await root.issueIntermediate({
      ...t,
      subject: 'CN=CertSign Without CA',
      basicConstraints: { ca: false },
    })
    const l = await signerNotCa.issueClient({ ...t })
    expect(failure(validate(l, [root], [signerNotCa]))).toEqual({
      code: 'ERR_CLIENT_CERT_KEY_USAGE',
      reason: '"CN=CertSign Without CA" asserts keyCertSign without cA',
    })
  })

  it('pathLen 0 on the root forbids an intermediate below it; pathLen 1 allows one', async () => {
    const root0 = await createRootCA({
      ...t,
      subject: 'CN=PathLen0 Root',
      basicConstraints: { ca: true, pathLen: 0 },
    })
    const root1 = await createRootCA({
      ...t,
      subject: 'CN=PathLen1 Root',
      basicConstraints: { ca: true, pathLen: 1 },
    })
    const [i0, i1] = await Promise.all([
      root0.issueIntermediate({ ...t, subject: 'CN=Below PathLen0' }),
      root1.issueIntermediate({ ...t, subject: 'CN=Below PathLen1' }),
    ])
    const [l0, l1, direct0] = await Promise.all([
      i0.issueClient({ ...t }),
      i1.issueClient({ ...t }),
      root0.issueClient({ ...t, subject: 'CN=direct' }),
    ])
    expect(failure(validate(l0, [root0], [i0]))).toEqual({
      code: 'ERR_CLIENT_CERT_BASIC_CONSTRAINTS',
      reason: '"CN=PathLen0 Root" allows 0 intermediates below it, path has 1',
    })
    expect(subjects(validate(l1, [root1], [i1]))).toEqual([
      'CN=client',
      'CN=Below PathLen1',
      'CN=PathLen1 Root',
    ])
    // pathLen counts intermediates, never the leaf.
    expect(subjects(validate(direct0, [root0]))).toEqual(['CN=direct', 'CN=PathLen0 Root'])
  })

  it('pathLen 1 with two intermediates below fails; pathLen on an intermediate is enforced too', async () => {
    const root1 = await createRootCA({
      ...t,
      subject: 'CN=PL1 Root',
      basicConstraints: { ca: true, pathLen: 1 },
    })
    const a = await root1.issueIntermediate({ ...t, subject: 'CN=PL A' })
    const b = await a.issueIntermediate({ ...t, subject: 'CN=PL B' })
    const l = await b.issueClient({ ...t })
    expect(failure(validate(l, [root1], [a, b]))).toEqual({
      code: 'ERR_CLIENT_CERT_BASIC_CONSTRAINTS',
      reason: '"CN=PL1 Root" allows 1 intermediates below it, path has 2',
    })
    const top = await root.issueIntermediate({
      ...t,
      subject: 'CN=PL0 Intermediate',
      basicConstraints: { ca: true, pathLen: 0 },
    })
    const sub = await top.issueIntermediate({ ...t, subject: 'CN=PL0 Sub' })
    const l2 = await sub.issueClient({ ...t })
    expect(failure(validate(l2, [root], [top, sub]))).toEqual({
      code: 'ERR_CLIENT_CERT_BASIC_CONSTRAINTS',
      reason: '"CN=PL0 Intermediate" allows 0 intermediates below it, path has 1',
    })
  })

  it('self-issued intermediates (key rollover) do not count against pathLen', async () => {
    const name = 'CN=Rollover Root'
    const root0 = await createRootCA({ ...t, subject: name, basicConstraints: { ca: true, pathLen: 0 } })
    const rollover = await root0.issueIntermediate({ ...t, subject: name })
    const l = await rollover.issueClient({ ...t, subject: 'CN=rolled' })
    expect(parsed(rollover).selfIssued).toBe(true)
    expect(subjects(validate(l, [root0], [rollover]))).toEqual(['CN=rolled', name, name])
  })
})

describe('keyUsage of issuers', () => {
  it('an intermediate whose keyUsage lacks keyCertSign cannot issue', async () => {
    const crlOnly = await root.issueIntermediate({ ...t, subject: 'CN=CRL Signer', keyUsage: ['cRLSign'] })
    const l = await crlOnly.issueClient({ ...t })
    expect(failure(validate(l, [root], [crlOnly]))).toEqual({
      code: 'ERR_CLIENT_CERT_KEY_USAGE',
      reason: 'issuer "CN=CRL Signer" lacks keyCertSign',
    })
  })

  it('keyCertSign alone, or no keyUsage extension at all, is enough', async () => {
    const [certSignOnly, noKu] = await Promise.all([
      root.issueIntermediate({ ...t, subject: 'CN=CertSign Only', keyUsage: ['keyCertSign'] }),
      root.issueIntermediate({ ...t, subject: 'CN=No KeyUsage', keyUsage: null }),
    ])
    const [a, b] = await Promise.all([certSignOnly.issueClient({ ...t }), noKu.issueClient({ ...t })])
    expect(subjects(validate(a, [root], [certSignOnly]))).toHaveLength(3)
    expect(subjects(validate(b, [root], [noKu]))).toHaveLength(3)
  })

  it('an anchor whose keyUsage lacks keyCertSign cannot issue either', async () => {
    const r = await createRootCA({
      ...t,
      subject: 'CN=Anchor Without CertSign',
      keyUsage: ['digitalSignature'],
    })
    const l = await r.issueClient({ ...t })
    expect(failure(validate(l, [r]))).toEqual({
      code: 'ERR_CLIENT_CERT_KEY_USAGE',
      reason: 'issuer "CN=Anchor Without CertSign" lacks keyCertSign',
    })
  })
})

describe('validity of issuers', () => {
  it('an expired intermediate fails EXPIRED, a not-yet-valid one NOT_YET_VALID', async () => {
    const [expired, future] = await Promise.all([
      root.issueIntermediate({
        ...t,
        subject: 'CN=Expired CA',
        notBefore: at(-30 * DAY),
        notAfter: at(-DAY),
      }),
      root.issueIntermediate({ ...t, subject: 'CN=Future CA', notBefore: at(DAY), notAfter: at(30 * DAY) }),
    ])
    const [a, b] = await Promise.all([expired.issueClient({ ...t }), future.issueClient({ ...t })])
    expect(failure(validate(a, [root], [expired]))).toEqual({
      code: 'ERR_CLIENT_CERT_EXPIRED',
      reason: `"CN=Expired CA" expired at ${at(-DAY).toISOString()}`,
    })
    expect(failure(validate(b, [root], [future]))).toEqual({
      code: 'ERR_CLIENT_CERT_NOT_YET_VALID',
      reason: `"CN=Future CA" is not valid before ${at(DAY).toISOString()}`,
    })
  })

  it('an expired or not-yet-valid anchor fails the same way', async () => {
    const [old, young] = await Promise.all([
      createRootCA({ ...t, subject: 'CN=Expired Root', notBefore: at(-30 * DAY), notAfter: at(-HOUR) }),
      createRootCA({ ...t, subject: 'CN=Young Root', notBefore: at(HOUR), notAfter: at(30 * DAY) }),
    ])
    const [a, b] = await Promise.all([old.issueClient({ ...t }), young.issueClient({ ...t })])
    expect(failure(validate(a, [old]))).toEqual({
      code: 'ERR_CLIENT_CERT_EXPIRED',
      reason: `"CN=Expired Root" expired at ${at(-HOUR).toISOString()}`,
    })
    expect(failure(validate(b, [young]))).toEqual({
      code: 'ERR_CLIENT_CERT_NOT_YET_VALID',
      reason: `"CN=Young Root" is not valid before ${at(HOUR).toISOString()}`,
    })
  })

  it('the leaf dates are checked as part of the path', async () => {
    const l = await intermediate.issueClient({
      ...t,
      subject: 'CN=stale',
      notBefore: at(-2 * DAY),
      notAfter: at(-DAY),
    })
    expect(failure(validate(l, [root], [intermediate]))).toEqual({
      code: 'ERR_CLIENT_CERT_EXPIRED',
      reason: `"CN=stale" expired at ${at(-DAY).toISOString()}`,
    })
  })

  it('clock skew is tolerated up to skewMs and not one second more', async () => {
    const [justExpired, almostValid] = await Promise.all([
      root.issueIntermediate({
        ...t,
        subject: 'CN=Just Expired',
        notBefore: at(-DAY),
        notAfter: at(-MINUTE),
      }),
      root.issueIntermediate({ ...t, subject: 'CN=Almost Valid', notBefore: at(MINUTE), notAfter: at(DAY) }),
    ])
    const [a, b] = await Promise.all([justExpired.issueClient({ ...t }), almostValid.issueClient({ ...t })])
    expect(subjects(validate(a, [root], [justExpired], { skewMs: MINUTE }))).toHaveLength(3)
    expect(subjects(validate(b, [root], [almostValid], { skewMs: MINUTE }))).toHaveLength(3)
    expect(failure(validate(a, [root], [justExpired], { skewMs: MINUTE - 1000 })).code).toBe(
      'ERR_CLIENT_CERT_EXPIRED',
    )
    expect(failure(validate(b, [root], [almostValid], { skewMs: MINUTE - 1000 })).code).toBe(
      'ERR_CLIENT_CERT_NOT_YET_VALID',
    )
    expect(failure(validate(a, [root], [justExpired])).code).toBe('ERR_CLIENT_CERT_EXPIRED')
  })
})

describe('name constraints', () => {
  type Constraints = NonNullable<CertificateOptions['nameConstraints']>

  async function constrained(nameConstraints: Constraints, issuer: CertificateAuthority = root) {
    return issuer.issueIntermediate({ ...t, subject: unique('Constrained CA'), nameConstraints })
  }

  async function check(ca: CertificateAuthority, opts: CertificateOptions, anchor = root, chain = [ca]) {
    const l = await ca.issueClient({ ...t, ...opts })
    return validate(l, [anchor], chain)
  }

  function ncFailure(result: PathResult, reason: string, ca: CertificateAuthority) {
    expect(failure(result)).toEqual({
      code: 'ERR_CLIENT_CERT_NAME_CONSTRAINTS',
      reason: `${reason} of "${parsed(ca).subject.dn}"`,
    })
  }

  describe('DNS', () => {
    it('permitted example.com covers itself and subdomains on label boundaries only', async () => {
      const ca = await constrained({ permitted: { dns: ['example.com'] } })
      expect((await check(ca, { san: { dns: ['example.com'] } })).ok).toBe(true)
      expect((await check(ca, { san: { dns: ['api.eu.example.com'] } })).ok).toBe(true)
      expect((await check(ca, { san: { dns: ['API.Example.COM'] } })).ok).toBe(true)
      ncFailure(
        await check(ca, { san: { dns: ['badexample.com'] } }),
        'DNS name "badexample.com" is outside the permitted subtrees',
        ca,
      )
      ncFailure(
        await check(ca, { san: { dns: ['example.com.evil.net'] } }),
        'DNS name "example.com.evil.net" is outside the permitted subtrees',
        ca,
      )
      // Every SAN is checked, not just the first.
      ncFailure(
        await check(ca, { san: { dns: ['ok.example.com', 'evil.net'] } }),
        'DNS name "evil.net" is outside the permitted subtrees',
        ca,
      )
    })

    it('permitted .example.com (leading dot) covers subdomains but not the domain itself', async () => {
      const ca = await constrained({ permitted: { dns: ['.example.com'] } })
      expect((await check(ca, { san: { dns: ['api.example.com'] } })).ok).toBe(true)
      ncFailure(
        await check(ca, { san: { dns: ['example.com'] } }),
        'DNS name "example.com" is outside the permitted subtrees',
        ca,
      )
    })

    it('excluded evil.com rejects it and its subdomains, not lookalikes', async () => {
      const ca = await constrained({ excluded: { dns: ['evil.com'] } })
      ncFailure(
        await check(ca, { san: { dns: ['evil.com'] } }),
        'DNS name "evil.com" is in an excluded subtree',
        ca,
      )
      ncFailure(
        await check(ca, { san: { dns: ['a.evil.com'] } }),
        'DNS name "a.evil.com" is in an excluded subtree',
        ca,
      )
      expect((await check(ca, { san: { dns: ['notevil.com'] } })).ok).toBe(true)
    })

    it('a DNS-only constraint does not restrict other name forms', async () => {
      const ca = await constrained({ permitted: { dns: ['example.com'] } })
      expect((await check(ca, { san: { email: ['anyone@elsewhere.org'] } })).ok).toBe(true)
      expect((await check(ca, { subject: 'CN=no san at all' })).ok).toBe(true)
    })
  })

  describe('email (rfc822Name)', () => {
    it('a mailbox constraint permits exactly that mailbox', async () => {
      const ca = await constrained({ permitted: { email: ['alice@example.com'] } })
      expect((await check(ca, { san: { email: ['alice@example.com'] } })).ok).toBe(true)
      ncFailure(
        await check(ca, { san: { email: ['bob@example.com'] } }),
        'email "bob@example.com" is outside the permitted subtrees',
        ca,
      )
    })

    it('a host constraint permits every mailbox on that host, not on subdomains', async () => {
      const ca = await constrained({ permitted: { email: ['example.com'] } })
      expect((await check(ca, { san: { email: ['bob@example.com'] } })).ok).toBe(true)
      expect((await check(ca, { san: { email: ['bob@EXAMPLE.com'] } })).ok).toBe(true)
      ncFailure(
        await check(ca, { san: { email: ['bob@sub.example.com'] } }),
        'email "bob@sub.example.com" is outside the permitted subtrees',
        ca,
      )
      ncFailure(
        await check(ca, { san: { email: ['bob@badexample.com'] } }),
        'email "bob@badexample.com" is outside the permitted subtrees',
        ca,
      )
    })

    it('a .domain constraint permits mailboxes on subdomains only', async () => {
      const ca = await constrained({ permitted: { email: ['.example.com'] } })
      expect((await check(ca, { san: { email: ['bob@mail.example.com'] } })).ok).toBe(true)
      ncFailure(
        await check(ca, { san: { email: ['bob@example.com'] } }),
        'email "bob@example.com" is outside the permitted subtrees',
        ca,
      )
    })

    it('excluded hosts are rejected; a legacy emailAddress in the subject DN is constrained too', async () => {
      const excluding = await constrained({ excluded: { email: ['evil.com'] } })
      ncFailure(
        await check(excluding, { san: { email: ['eve@evil.com'] } }),
        'email "eve@evil.com" is in an excluded subtree',
        excluding,
      )
      const permitting = await constrained({ permitted: { email: ['example.com'] } })
      ncFailure(
        await check(permitting, {
          subject: [[{ type: 'CN', value: 'eve' }], [{ type: 'E', value: 'eve@evil.com' }]],
        }),
        'email "eve@evil.com" is outside the permitted subtrees',
        permitting,
      )
    })
  })

  describe('URI', () => {
    it('a host constraint matches the URI host exactly', async () => {
      const ca = await constrained({ permitted: { uri: ['api.example.com'] } })
      expect((await check(ca, { san: { uri: ['https://api.example.com/v1'] } })).ok).toBe(true)
      expect((await check(ca, { san: { uri: ['https://user@API.example.com:8443/x'] } })).ok).toBe(true)
      ncFailure(
        await check(ca, { san: { uri: ['https://www.api.example.com/'] } }),
        'URI "https://www.api.example.com/" is outside the permitted subtrees',
        ca,
      )
    })

    it('a .domain constraint matches hosts under the domain only', async () => {
      const ca = await constrained({ permitted: { uri: ['.example.com'] } })
      expect((await check(ca, { san: { uri: ['spiffe://prod.example.com/ns/api'] } })).ok).toBe(true)
      ncFailure(
        await check(ca, { san: { uri: ['https://example.com/'] } }),
        'URI "https://example.com/" is outside the permitted subtrees',
        ca,
      )
      ncFailure(
        await check(ca, { san: { uri: ['https://badexample.com/'] } }),
        'URI "https://badexample.com/" is outside the permitted subtrees',
        ca,
      )
    })

    it('a URI without a host name cannot be judged, so a URI constraint rejects it', async () => {
      const unsupported = 'meets a name constraint form that is not supported'
      const urn = 'urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66'
      const permitting = await constrained({ permitted: { uri: ['.example.com'] } })
      ncFailure(await check(permitting, { san: { uri: [urn] } }), `URI "${urn}" ${unsupported}`, permitting)
      ncFailure(
        await check(permitting, { san: { uri: ['https://[2001:db8::1]/'] } }),
        `URI "https://[2001:db8::1]/" ${unsupported}`,
        permitting,
      )
      // An exclusion cannot be shown not to apply either.
      const excluding = await constrained({ excluded: { uri: ['.evil.com'] } })
      ncFailure(
        await check(excluding, { san: { uri: ['urn:example:evil.com'] } }),
        `URI "urn:example:evil.com" ${unsupported}`,
        excluding,
      )
      // Without a URI constraint, a URN is not judged at all.
      const dnsOnly = await constrained({ permitted: { dns: ['example.com'] } })
      expect((await check(dnsOnly, { san: { uri: [urn] } })).ok).toBe(true)
    })

    it('an excluded domain rejects URIs under it', async () => {
      const ca = await constrained({ excluded: { uri: ['.evil.com'] } })
      ncFailure(
        await check(ca, { san: { uri: ['https://a.evil.com/'] } }),
        'URI "https://a.evil.com/" is in an excluded subtree',
        ca,
      )
      expect((await check(ca, { san: { uri: ['https://evil.com.example.org/'] } })).ok).toBe(true)
    })
  })

  describe('IP address', () => {
    it('an IPv4 CIDR permits addresses inside it only', async () => {
      const ca = await constrained({ permitted: { ip: ['10.0.0.0/8'] } })
      expect((await check(ca, { san: { ip: ['10.255.0.1'] } })).ok).toBe(true)
      ncFailure(
        await check(ca, { san: { ip: ['11.0.0.1'] } }),
        'IP address is outside the permitted subtrees',
        ca,
      )
    })

    it('an IPv6 CIDR permits addresses inside it only', async () => {
      const ca = await constrained({ permitted: { ip: ['2001:db8::/32'] } })
      expect((await check(ca, { san: { ip: ['2001:db8:ffff::1'] } })).ok).toBe(true)
      ncFailure(
        await check(ca, { san: { ip: ['2001:db9::1'] } }),
        'IP address is outside the permitted subtrees',
        ca,
      )
    })

    it('excluded ranges are rejected, for IPv4 and IPv6', async () => {
      const ca = await constrained({ excluded: { ip: ['192.168.0.0/16', 'fd00::/8'] } })
      ncFailure(await check(ca, { san: { ip: ['192.168.1.1'] } }), 'IP address is in an excluded subtree', ca)
      ncFailure(await check(ca, { san: { ip: ['fd12::1'] } }), 'IP address is in an excluded subtree', ca)
      expect((await check(ca, { san: { ip: ['192.169.0.1', 'fe80::1'] } })).ok).toBe(true)
    })

    // RFC 5280 §4.2.1.10, §6.1.3 (b): iPAddress is one name form, so an IPv4 address is in no
    // permitted subtree when only IPv6 ranges are permitted (Go and OpenSSL reject too).
    it('an IPv4 address is outside a permitted set of only IPv6 ranges, and vice versa', async () => {
      const outside = 'IP address is outside the permitted subtrees'
      const v6Only = await constrained({ permitted: { ip: ['2001:db8::/32'] } })
      ncFailure(await check(v6Only, { san: { ip: ['10.0.0.1'] } }), outside, v6Only)
      const v4Only = await constrained({ permitted: { ip: ['10.0.0.0/8'] } })
      ncFailure(await check(v4Only, { san: { ip: ['2001:db8::1'] } }), outside, v4Only)
      const both = await constrained({ permitted: { ip: ['10.0.0.0/8', '2001:db8::/32'] } })
      expect((await check(both, { san: { ip: ['10.0.0.1', '2001:db8::1'] } })).ok).toBe(true)
    })
  })

  describe('directory name', () => {
    it('a permitted DN subtree covers subjects it is an RDN prefix of', async () => {
      const ca = await constrained({ permitted: { dn: ['C=US, O=acme'] } })
      expect((await check(ca, { subject: 'C=US, O=acme, CN=alice' })).ok).toBe(true)
      expect((await check(ca, { subject: 'C=US, O=ACME, OU=eng, CN=bob' })).ok).toBe(true)
      ncFailure(
        await check(ca, { subject: 'C=US, O=evil, CN=alice' }),
        'DN "CN=alice,O=evil,C=US" is outside the permitted subtrees',
        ca,
      )
      // RDN order matters: the subtree is a prefix, not a set of attributes.
      ncFailure(
        await check(ca, { subject: 'O=acme, C=US, CN=alice' }),
        'DN "CN=alice,C=US,O=acme" is outside the permitted subtrees',
        ca,
      )
      // Attribute values are compared whole: "acme corp" is not under "acme".
      ncFailure(
        await check(ca, { subject: 'C=US, O=acme corp, CN=alice' }),
        'DN "CN=alice,O=acme corp,C=US" is outside the permitted subtrees',
        ca,
      )
    })

    it('an excluded DN subtree rejects subjects under it', async () => {
      const ca = await constrained({ excluded: { dn: ['C=US, O=evil'] } })
      ncFailure(
        await check(ca, { subject: 'C=US, O=evil, CN=eve' }),
        'DN "CN=eve,O=evil,C=US" is in an excluded subtree',
        ca,
      )
      expect((await check(ca, { subject: 'C=US, O=good, CN=eve' })).ok).toBe(true)
    })
  })

  it('constraints of the root apply to every certificate below it', async () => {
    const r = await createRootCA({
      ...t,
      subject: 'CN=Constrained Root',
      nameConstraints: { permitted: { dns: ['example.com'] } },
    })
    const i = await r.issueIntermediate({ ...t, subject: 'CN=Unconstrained Intermediate' })
    expect((await check(i, { san: { dns: ['api.example.com'] } }, r)).ok).toBe(true)
    ncFailure(
      await check(i, { san: { dns: ['evil.net'] } }, r),
      'DNS name "evil.net" is outside the permitted subtrees',
      r,
    )
  })

  it('a self-issued intermediate is exempt from the constraints above it; others are not', async () => {
    const name = 'CN=DN Constrained Root'
    const r = await createRootCA({ ...t, subject: name, nameConstraints: { permitted: { dn: ['O=good'] } } })
    const [selfIssued, other] = await Promise.all([
      r.issueIntermediate({ ...t, subject: name }),
      r.issueIntermediate({ ...t, subject: 'CN=Other Intermediate' }),
    ])
    expect(parsed(selfIssued).selfIssued).toBe(true)
    const ok = await check(selfIssued, { subject: 'O=good, CN=leaf' }, r)
    expect(subjects(ok)).toEqual(['CN=leaf,O=good', name, name])
    ncFailure(
      await check(other, { subject: 'O=good, CN=leaf' }, r),
      'DN "CN=Other Intermediate" is outside the permitted subtrees',
      r,
    )
    // The exemption is for intermediates only: the leaf below a self-issued CA is still checked.
    ncFailure(
      await check(selfIssued, { subject: 'O=bad, CN=leaf' }, r),
      'DN "CN=leaf,O=bad" is outside the permitted subtrees',
      r,
    )
  })
})

describe('critical extensions', () => {
  it('an unknown critical extension in an intermediate fails; non-critical or recognised ones pass', async () => {
    const unknownOid = '1.3.6.1.4.1.55555.7'
    const [critical, nonCritical, policies] = await Promise.all([
      root.issueIntermediate({
        ...t,
        subject: 'CN=Critical Extension CA',
        extensions: [{ oid: unknownOid, critical: true, value: Uint8Array.of(0x05, 0x00) }],
      }),
      root.issueIntermediate({
        ...t,
        subject: 'CN=NonCritical Extension CA',
        extensions: [{ oid: unknownOid, critical: false, value: Uint8Array.of(0x05, 0x00) }],
      }),
      // certificatePolicies (2.5.29.32) is recognised, so critical is not a reason to reject.
      root.issueIntermediate({
        ...t,
        subject: 'CN=Policies CA',
        extensions: [{ oid: '2.5.29.32', critical: true, value: Uint8Array.of(0x30, 0x00) }],
      }),
    ])
    const [a, b, c] = await Promise.all([
      critical.issueClient({ ...t }),
      nonCritical.issueClient({ ...t }),
      policies.issueClient({ ...t }),
    ])
    expect(failure(validate(a, [root], [critical]))).toEqual({
      code: 'ERR_CLIENT_CERT_CRITICAL_EXTENSION',
      reason: `"CN=Critical Extension CA" has unsupported critical extension ${unknownOid}`,
    })
    expect(subjects(validate(b, [root], [nonCritical]))).toHaveLength(3)
    expect(subjects(validate(c, [root], [policies]))).toHaveLength(3)
  })
})

describe('extendedKeyUsage of intermediates', () => {
  it('an intermediate restricted to serverAuth cannot issue client certificates', async () => {
    const serverOnly = await root.issueIntermediate({
      ...t,
      subject: 'CN=Server Only CA',
      eku: ['serverAuth'],
    })
    const l = await serverOnly.issueClient({ ...t })
    expect(failure(validate(l, [root], [serverOnly]))).toEqual({
      code: 'ERR_CLIENT_CERT_EKU',
      reason: `issuer "CN=Server Only CA" restricts extended key usage and excludes ${OIDS.clientAuth}`,
    })
    // With the EKU check disabled, the restriction is not applied.
    expect(subjects(validate(l, [root], [serverOnly], { requiredEku: null }))).toHaveLength(3)
  })

  it('an intermediate listing clientAuth or anyExtendedKeyUsage may issue', async () => {
    const [both, any] = await Promise.all([
      root.issueIntermediate({ ...t, subject: 'CN=Both CA', eku: ['serverAuth', 'clientAuth'] }),
      root.issueIntermediate({ ...t, subject: 'CN=Any CA', eku: ['anyExtendedKeyUsage'] }),
    ])
    const [a, b] = await Promise.all([both.issueClient({ ...t }), any.issueClient({ ...t })])
    expect(subjects(validate(a, [root], [both]))).toHaveLength(3)
    expect(subjects(validate(b, [root], [any]))).toHaveLength(3)
  })
})

describe('path building', () => {
  it('backtracks past an expired intermediate to its renewal (same name, same key)', async () => {
    const name = 'CN=Renewed CA'
    const old = await root.issueIntermediate({
      ...t,
      subject: name,
      notBefore: at(-60 * DAY),
      notAfter: at(-DAY),
    })
    const renewed = await root.issueIntermediate({ ...t, subject: name, keys: old.keys })
    const l = await old.issueClient({ ...t, subject: 'CN=renewed-leaf' })
    for (const pool of [
      [old, renewed],
      [renewed, old],
    ]) {
      const result = validate(l, [root], pool)
      expect(result.ok && result.path[1]!.fingerprint256).toBe(parsed(renewed).fingerprint256)
    }
    // Alone, the expired one explains the failure.
    expect(failure(validate(l, [root], [old])).code).toBe('ERR_CLIENT_CERT_EXPIRED')
  })

  it('backtracks past a same-name intermediate with the wrong key', async () => {
    const name = 'CN=Twin CA'
    const [wrong, right] = await Promise.all([
      root.issueIntermediate({ ...t, subject: name }),
      root.issueIntermediate({ ...t, subject: name }),
    ])
    // No authority key identifier, so nothing tells the builder which twin signed.
    const l = await right.issueClient({ ...t, authorityKeyIdentifier: false })
    const result = validate(l, [root], [wrong, right])
    expect(result.ok && result.path[1]!.fingerprint256).toBe(parsed(right).fingerprint256)
    expect(signatureChecks).toHaveBeenCalledTimes(3) // wrong twin, right twin, root
  })

  it('tries the candidate whose subject key id matches the authority key id first', async () => {
    const name = 'CN=AKI Twin CA'
    const [wrong, right] = await Promise.all([
      root.issueIntermediate({ ...t, subject: name }),
      root.issueIntermediate({ ...t, subject: name }),
    ])
    const [withAki, withoutAki] = await Promise.all([
      right.issueClient({ ...t }),
      right.issueClient({ ...t, authorityKeyIdentifier: false }),
    ])
    expect(validate(withAki, [root], [wrong, right], { maxSignatureChecks: 2 }).ok).toBe(true)
    expect(failure(validate(withoutAki, [root], [wrong, right], { maxSignatureChecks: 2 }))).toEqual({
      code: 'ERR_CLIENT_CERT_UNTRUSTED',
      reason: 'path search budget exhausted',
    })
  })

  it('builds through untrusted hints, but never ends a path at a hint', async () => {
    expect(subjects(validate(leaf, [root], [], {}, [intermediate]))).toHaveLength(3)
    // The hints include the real root, but it is not a configured anchor.
    const otherRoot = await createRootCA({ ...t, subject: 'CN=Some Other Root' })
    expect(failure(validate(leaf, [otherRoot], [], {}, [intermediate, root]))).toEqual({
      code: 'ERR_CLIENT_CERT_UNTRUSTED',
      reason: 'no path from "CN=alice" (issuer "O=clientcert-test,CN=Path Issuing CA") to a trust anchor',
    })
  })

  describe('maxDepth', () => {
    let chain: CertificateAuthority[]
    let deepLeaf: IssuedCertificate

    beforeAll(async () => {
      const i1 = await root.issueIntermediate({ ...t, subject: 'CN=Depth 1' })
      const i2 = await i1.issueIntermediate({ ...t, subject: 'CN=Depth 2' })
      const i3 = await i2.issueIntermediate({ ...t, subject: 'CN=Depth 3' })
      chain = [i1, i2, i3]
      deepLeaf = await i3.issueClient({ ...t, subject: 'CN=deep' })
    })

    it('bounds the number of CA certificates in a path (3 intermediates + anchor = 4)', () => {
      expect(subjects(validate(deepLeaf, [root], chain, { maxDepth: 8 }))).toHaveLength(5)
      expect(subjects(validate(deepLeaf, [root], chain, { maxDepth: 4 }))).toHaveLength(5)
      for (const maxDepth of [1, 2, 3]) {
        expect(failure(validate(deepLeaf, [root], chain, { maxDepth }))).toEqual({
          code: 'ERR_CLIENT_CERT_UNTRUSTED',
          reason: `no path within the maximum depth of ${maxDepth} CA certificates`,
        })
      }
    })

    it('does not count self-issued intermediates (key rollover) against maxDepth', async () => {
      const name = 'CN=Depth Rollover Root'
      const r = await createRootCA({ ...t, subject: name })
      const rollover = await r.issueIntermediate({ ...t, subject: name })
      const issuing = await rollover.issueIntermediate({ ...t, subject: 'CN=Depth Issuing' })
      const l = await issuing.issueClient({ ...t, subject: 'CN=rolled-deep' })
      // Three CA certificates in the path, but only the issuing CA and the anchor count.
      expect(subjects(validate(l, [r], [rollover, issuing], { maxDepth: 2 }))).toEqual([
        'CN=rolled-deep',
        'CN=Depth Issuing',
        name,
        name,
      ])
      expect(failure(validate(l, [r], [rollover, issuing], { maxDepth: 1 }))).toEqual({
        code: 'ERR_CLIENT_CERT_UNTRUSTED',
        reason: 'no path within the maximum depth of 1 CA certificates',
      })
    })

    it('maxDepth 1 still allows a leaf issued directly by an anchor', async () => {
      const direct = await root.issueClient({ ...t, subject: 'CN=direct' })
      expect(subjects(validate(direct, [root], [], { maxDepth: 1 }))).toHaveLength(2)
    })
  })

  describe('bounded search', () => {
    const loopName = 'CN=Loop CA'
    let keys: webcrypto.CryptoKeyPair[]
    let signers: CertificateAuthority[]
    let pool: CertificateAuthority[]
    let loopLeaf: IssuedCertificate
    let decoyAnchor: CertificateAuthority

    // Six keys under one name, each key cross-certified by every other: 30 intermediates whose
    // signatures all verify, so an unbounded depth-first search would walk ~5^6 paths.
    beforeAll(async () => {
      keys = await Promise.all(Array.from({ length: 6 }, () => generateKeyPair('P-256')))
      signers = await Promise.all(keys.map((k) => createRootCA({ ...t, subject: loopName, keys: k })))
      pool = await Promise.all(
        signers.flatMap((signer, j) =>
          keys.flatMap((k, i) =>
            i === j ? [] : [signer.issueIntermediate({ ...t, subject: loopName, keys: k })],
          ),
        ),
      )
      loopLeaf = await signers[0]!.issueClient({ ...t, subject: 'CN=loop-leaf' })
      // An anchor with the pool's name but a key that signed nothing: consulted at every step.
      decoyAnchor = await createRootCA({ ...t, subject: loopName })
    })

    it('gives up after maxSignatureChecks verifications, counted', () => {
      expect(pool).toHaveLength(30)
      for (const maxSignatureChecks of [16, 64, 300]) {
        signatureChecks.mockClear()
        const result = validate(loopLeaf, [decoyAnchor], pool, { maxSignatureChecks })
        expect(failure(result)).toEqual({
          code: 'ERR_CLIENT_CERT_UNTRUSTED',
          reason: 'path search budget exhausted',
        })
        expect(signatureChecks.mock.calls.length).toBeLessThanOrEqual(maxSignatureChecks)
        expect(signatureChecks.mock.calls.length).toBe(maxSignatureChecks)
      }
    })

    it('still finds a real anchor inside the same pool within budget', () => {
      const result = validate(loopLeaf, [decoyAnchor, signers[1]!], pool)
      expect(result.ok).toBe(true)
      expect(signatureChecks.mock.calls.length).toBeLessThanOrEqual(64)
    })

    it('many same-name candidates that did not sign the leaf cost one check each, then stop', async () => {
      const wrong = await Promise.all(
        Array.from({ length: 20 }, () => root.issueIntermediate({ ...t, subject: 'CN=Crowded CA' })),
      )
      const other = await root.issueIntermediate({ ...t, subject: 'CN=Crowded CA' })
      const l = await other.issueClient({ ...t, authorityKeyIdentifier: false })
      expect(failure(validate(l, [root], wrong, { maxSignatureChecks: 10 }))).toEqual({
        code: 'ERR_CLIENT_CERT_UNTRUSTED',
        reason: 'path search budget exhausted',
      })
      expect(signatureChecks).toHaveBeenCalledTimes(10)
      signatureChecks.mockClear()
      const result = failure(validate(l, [root], wrong, { maxSignatureChecks: 64 }))
      expect(result.code).toBe('ERR_CLIENT_CERT_UNTRUSTED')
      expect(result.reason).toMatch(/^signature of "CN=client" does not verify with "CN=Crowded CA"$/)
      expect(signatureChecks).toHaveBeenCalledTimes(20)
    })

    it('two intermediates certifying each other with no anchor terminate quickly', async () => {
      const [ka, kb] = await Promise.all([generateKeyPair('P-256'), generateKeyPair('P-256')])
      const [selfA, selfB] = await Promise.all([
        createRootCA({ ...t, subject: 'CN=Cycle A', keys: ka }),
        createRootCA({ ...t, subject: 'CN=Cycle B', keys: kb }),
      ])
      const [aByB, bByA] = await Promise.all([
        selfB.issueIntermediate({ ...t, subject: 'CN=Cycle A', keys: ka }),
        selfA.issueIntermediate({ ...t, subject: 'CN=Cycle B', keys: kb }),
      ])
      const l = await selfA.issueClient({ ...t, subject: 'CN=cycle-leaf' })
      const result = validate(l, [root], [aByB, bByA, selfA, selfB], { maxSignatureChecks: 1000 })
      expect(failure(result)).toEqual({
        code: 'ERR_CLIENT_CERT_UNTRUSTED',
        reason: 'no path from "CN=cycle-leaf" (issuer "CN=Cycle A") to a trust anchor',
      })
      expect(signatureChecks.mock.calls.length).toBeLessThan(20)
    })
  })
})

describe('checkPath on an assembled path', () => {
  it('applies the same rules to a path given directly (leaf first, anchor last)', async () => {
    const notCa = await root.issueIntermediate({
      ...t,
      subject: 'CN=Assembled Non-CA',
      basicConstraints: { ca: false },
      keyUsage: null,
    })
    const l = await notCa.issueClient({ ...t })
    expect(checkPath([parsed(l), parsed(notCa), parsed(root)], pathOptions())).toEqual({
      ok: false,
      code: 'ERR_CLIENT_CERT_BASIC_CONSTRAINTS',
      reason: 'issuer "CN=Assembled Non-CA" is not a CA',
    })
    const good = checkPath([parsed(leaf), parsed(intermediate), parsed(root)], pathOptions())
    expect(good.ok).toBe(true)
  })
})

describe('client-sent hints cannot choose the cost of the search (issue 13, finding 3)', () => {
  it('a hint key outside the key profile (RSA e of 2,040 bits) never verifies anything', async () => {
    const hostile = await createRootCA({ ...t, subject: 'CN=Hostile Hint CA', keyAlgorithm: 'RSA-2048' })
    const l = await hostile.issueClient({ ...t, subject: 'CN=mallory' })
    const hints = Array.from({ length: 6 }, () => ({
      der: withPublicKey(hostile.der, largeExponentRsaSpki(2040)),
    }))
    const result = failure(validate(l, [root], [], {}, hints))
    expect(result.code).toBe('ERR_CLIENT_CERT_UNTRUSTED')
    expect(result.reason).toMatch(/RSA public exponent/)
    expect(signatureChecks).not.toHaveBeenCalled()
  })

  it('RSA keys: exponent odd and within 3..2^31-1 (as Go), modulus at most 8,192 bits', async () => {
    const holder = await root.issueClient({ ...t, subject: 'CN=rsa holder', keyAlgorithm: 'RSA-2048' })
    const spki = parsed(holder).spki
    // The modulus of a real RSA-2048 key, read from the SPKI the generator wrote.
    const n = BigInt(
      `0x${
        Buffer.from(spki)
          .toString('hex')
          .match(/02820101(00[0-9a-f]{512})/)![1]
      }`,
    )
    const profileWith = (modulus: bigint, e: bigint) =>
      checkProfile(parsed({ der: withPublicKey(holder.der, rsaSpki(modulus, e)) }))
    for (const e of [3n, 17n, 65537n, 2n ** 31n - 1n]) expect(profileWith(n, e)).toBeUndefined()
    for (const e of [1n, 2n, 65536n, 2n ** 31n + 1n, 2n ** 32n + 1n, 2n ** 2039n + 1n])
      expect(profileWith(n, e)?.reason, `e = ${e}`).toMatch(/RSA public exponent/)
    const huge = (1n << 8199n) | 1n
    expect(profileWith(huge, 65537n)?.reason).toMatch(/8200-bit RSA key/)
  })

  it('verifications with hint keys spend their own budget; running out is a flag, not a message', async () => {
    const wrong = await Promise.all(
      Array.from({ length: 12 }, () => root.issueIntermediate({ ...t, subject: 'CN=Hinted CA' })),
    )
    const other = await root.issueIntermediate({ ...t, subject: 'CN=Hinted CA' })
    const l = await other.issueClient({ ...t, authorityKeyIdentifier: false })
    const asHints = validate(l, [root], [], { maxHintVerifyCost: 8 }, wrong)
    expect(asHints.ok).toBe(false)
    expect(asHints.ok ? undefined : asHints.exhausted).toBe('hints')
    expect(signatureChecks).toHaveBeenCalledTimes(8)
    signatureChecks.mockClear()
    // Configured intermediates are the operator's choice: not charged to the hint budget.
    const configured = validate(l, [root], wrong, { maxHintVerifyCost: 8 })
    expect(configured.ok ? undefined : configured.exhausted).toBeUndefined()
    expect(signatureChecks).toHaveBeenCalledTimes(12)
    signatureChecks.mockClear()
    const overall = validate(l, [root], [], { maxSignatureChecks: 5, maxHintVerifyCost: 100 }, wrong)
    expect(overall.ok ? undefined : overall.exhausted).toBe('signatures')
  })

  it('real chains within the default hint budget (16): four P-256 hints, or one P-384 hint', async () => {
    const chain = async (keyAlgorithm: KeyAlgorithm, depth: number) => {
      const r = await createRootCA({ ...t, keyAlgorithm, subject: `CN=${keyAlgorithm} Root` })
      const cas = [r]
      for (let i = 1; i <= depth; i++)
        cas.push(
          await cas[i - 1]!.issueIntermediate({ ...t, keyAlgorithm, subject: `CN=${keyAlgorithm} I${i}` }),
        )
      const l = await cas[depth]!.issueClient({ ...t, keyAlgorithm, subject: 'CN=deep' })
      return { r, l, hints: cas.slice(1).reverse() }
    }
    const p256 = await chain('P-256', 4)
    expect(validate(p256.l, [p256.r], [], { maxHintVerifyCost: 16 }, p256.hints).ok).toBe(true)
    const p384 = await chain('P-384', 1)
    expect(validate(p384.l, [p384.r], [], { maxHintVerifyCost: 16 }, p384.hints).ok).toBe(true)
    // Two P-384 hints exceed it; configured, the same intermediates cost the hint budget nothing.
    const deep = await chain('P-384', 2)
    const refused = validate(deep.l, [deep.r], [], { maxHintVerifyCost: 16 }, deep.hints)
    expect(refused.ok ? undefined : refused.exhausted).toBe('hints')
    expect(validate(deep.l, [deep.r], deep.hints, { maxHintVerifyCost: 16 }).ok).toBe(true)
  })
})
