/**
 * Issue 13, findings 3, 9, 10 and 12, over real sockets: hostile forwarded chain hints, SPKI
 * pins on copied keys, ECDSA signature malleability and shared principals. Every certificate
 * is generated at test time by @clientcert/testing; the clients are undici over loopback.
 */
import { createHash, X509Certificate } from 'node:crypto'
import type * as http from 'node:http'
import {
  createRootCA,
  createSelfSigned,
  createTestPki,
  forwardedHeaders,
  generateKeyPair,
  type IssuedCertificate,
  largeExponentRsaSpki,
  malleateEcdsaSignature,
  type RunningServer,
  requestHttp,
  requestWithUndici,
  startHttpServer,
  startMtlsServer,
  type TestPki,
  toPem,
  withPublicKey,
} from '@clientcert/testing'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  type AllowPolicy,
  type ClientCertAuthenticator,
  type ClientCertOptions,
  compilePolicy,
  createClientCertAuthenticator,
  type ForwardedFormat,
} from '../src/index.js'
import { verifySignature } from '../src/validate/signature.js'

// Count signature verifications (the real ones still run).
vi.mock('../src/validate/signature.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/validate/signature.js')>()
  return { ...real, verifySignature: vi.fn(real.verifySignature) }
})
const signatureChecks = vi.mocked(verifySignature)

const PROXY = '127.0.0.1'

let pki: TestPki
const servers: RunningServer[] = []

beforeAll(async () => {
  pki = await createTestPki()
})

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()))
})

/** A handler answering `{ id, fingerprint }` or `{ code }` for `auth` (with `policy` per path). */
function handler(auth: ClientCertAuthenticator, policies: Record<string, AllowPolicy> = {}) {
  return async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const policy = policies[req.url ?? '']
    const r = await auth.authenticate(req, policy ? { policy: compilePolicy(policy) } : {})
    const body = r.ok
      ? { id: r.principal.id, fingerprint: r.principal.fingerprint256, mutated: mutate(req.url, r.principal) }
      : { code: r.error.code }
    res.writeHead(r.ok ? 200 : r.error.status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }
}

/** What a careless handler might do to the principal it was given; reports whether each attempt threw. */
function mutate(url: string | undefined, principal: object): string[] | undefined {
  if (url !== '/mutate') return undefined
  const p = principal as { san: { dns: string[] }; subject: { rdns: { value: string }[][] }; notAfter: Date }
  const threw: string[] = []
  const attempt = (what: string, fn: () => void) => {
    try {
      fn()
    } catch (err) {
      if (err instanceof TypeError) threw.push(what)
      else throw err
    }
  }
  attempt('san.dns.push', () => p.san.dns.push('admin.example'))
  attempt('san.dns = ', () => {
    p.san.dns = ['admin.example']
  })
  attempt('subject.rdns[0][0].value', () => {
    p.subject.rdns[0]![0]!.value = 'admin'
  })
  attempt('subject.rdns.push', () => p.subject.rdns.push([]))
  p.notAfter.setTime(Date.now() + 100 * 365 * 24 * 3600_000)
  return threw
}

async function forwardedServer(options: Partial<ClientCertOptions>): Promise<RunningServer> {
  const auth = createClientCertAuthenticator({
    identity: 'cn',
    allow: { authenticated: true },
    source: { forwarded: { format: 'rfc9440', trustedProxies: [PROXY] } },
    trust: { anchors: pki.root.pem },
    ...options,
  })
  const server = await startHttpServer(handler(auth))
  servers.push(server)
  return server
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

describe('finding 3: hostile chain hints from an allowlisted proxy', () => {
  /** Certificate-like objects for forwardedHeaders, from DER. */
  const asCert = (der: Uint8Array) => ({ der, pem: toPem(der) }) as unknown as IssuedCertificate

  let hostileLeaves: IssuedCertificate[]
  let ordinaryLeaves: IssuedCertificate[]
  let hints: IssuedCertificate[]

  beforeAll(async () => {
    // Every hint carries the leaf's issuer name and an RSA-2048 key with a 2,040-bit public
    // exponent: ~5 ms per verification before the fix, and four of them fit the default chain.
    // The leaf is RSA-signed, so each hint's key really is put to work on it.
    const hostileRoot = await createRootCA({ subject: 'CN=Hostile CA', keyAlgorithm: 'RSA-2048' })
    hints = Array.from({ length: 4 }, () =>
      asCert(withPublicKey(hostileRoot.der, largeExponentRsaSpki(2040))),
    )
    hostileLeaves = await Promise.all(
      Array.from({ length: 7 }, (_, i) => hostileRoot.issueClient({ subject: `CN=mallory ${i}` })),
    )
    ordinaryLeaves = await Promise.all(
      Array.from({ length: 7 }, (_, i) => pki.intermediate.issueClient({ subject: `CN=alice ${i}` })),
    )
  })

  it.each(['rfc9440', 'xfcc'] as const satisfies readonly ForwardedFormat[])(
    '%s: rejected with ERR_CLIENT_CERT_UNTRUSTED, as fast as an ordinary cold request',
    async (format) => {
      const server = await forwardedServer({
        source: { forwarded: { format, trustedProxies: [PROXY] } },
      })
      const send = async (leaf: IssuedCertificate, chain: readonly IssuedCertificate[]) => {
        const headers = forwardedHeaders(format, leaf, { chain })
        const start = performance.now()
        const res = await requestHttp(server.url, { path: '/', localAddress: PROXY, headers })
        return { ms: performance.now() - start, status: res.status, body: JSON.parse(res.body) as unknown }
      }
      // A fresh leaf every time, so neither request is answered from a cache.
      const ordinary: number[] = []
      const hostile: number[] = []
      for (let i = 0; i < hostileLeaves.length; i++) {
        const ok = await send(ordinaryLeaves[i]!, [pki.intermediate])
        expect(ok.status).toBe(200)
        ordinary.push(ok.ms)
        const bad = await send(hostileLeaves[i]!, hints)
        expect(bad.status).toBe(401)
        expect(bad.body).toEqual({ code: 'ERR_CLIENT_CERT_UNTRUSTED' })
        hostile.push(bad.ms)
      }
      // The issue's target is 3× an ordinary cold request; the 5 ms floor absorbs scheduler noise
      // on a loaded machine (before the fix, each of these requests took 20 ms or more).
      expect(median(hostile)).toBeLessThan(Math.max(3 * median(ordinary), 5))
    },
  )
})

describe('finding 3: failed hint sets are remembered, configured keys are bounded at startup', () => {
  it('the same hostile headers again are refused without one signature check, until trust changes', async () => {
    const decoys = await Promise.all(
      Array.from({ length: 4 }, () => pki.root.issueIntermediate({ subject: 'CN=Decoy CA' })),
    )
    const signer = await pki.root.issueIntermediate({ subject: 'CN=Decoy CA' })
    const leaf = await signer.issueClient({ subject: 'CN=mallory', authorityKeyIdentifier: false })
    const auth = createClientCertAuthenticator({
      identity: 'cn',
      allow: { authenticated: true },
      source: { forwarded: { format: 'rfc9440', trustedProxies: [PROXY] } },
      trust: { anchors: pki.root.pem },
    })
    const headers = forwardedHeaders('rfc9440', leaf, { chain: decoys })
    const request = () => ({
      socket: { remoteAddress: PROXY },
      headers,
      rawHeaders: Object.entries(headers).flat(),
    })
    const judge = async () => {
      signatureChecks.mockClear()
      const r = await auth.authenticate(request())
      return { code: r.ok ? undefined : r.error.code, checks: signatureChecks.mock.calls.length }
    }
    expect(await judge()).toEqual({ code: 'ERR_CLIENT_CERT_UNTRUSTED', checks: 4 })
    expect(await judge()).toEqual({ code: 'ERR_CLIENT_CERT_UNTRUSTED', checks: 0 })
    auth.updateTrust({ allow: { authenticated: true } })
    expect(await judge()).toEqual({ code: 'ERR_CLIENT_CERT_UNTRUSTED', checks: 4 })
  })

  it('a configured anchor or intermediate outside the key profile is a configuration error', async () => {
    const rsa = await createRootCA({ subject: 'CN=Odd Root', keyAlgorithm: 'RSA-2048' })
    const odd = toPem(withPublicKey(rsa.der, largeExponentRsaSpki(64)))
    expect(() =>
      createClientCertAuthenticator({
        allow: { authenticated: true },
        trust: { anchors: [pki.root.pem, odd] },
      }),
    ).toThrow(/"trust\.anchors\[1\]".*RSA public exponent/)
    expect(() =>
      createClientCertAuthenticator({
        allow: { authenticated: true },
        trust: { anchors: pki.root.pem, intermediates: odd },
      }),
    ).toThrow(/"trust\.intermediates\[0\]".*RSA public exponent/)
  })
})

describe('finding 9: an SPKI pin admits only certificates self-signed by the pinned key', () => {
  it('a CA-issued certificate carrying the pinned key (issuer ≠ subject) is refused over TLS', async () => {
    const keys = await generateKeyPair('P-256')
    const genuine = await createSelfSigned({ subject: 'CN=device', keys })
    const other = await createRootCA({ subject: 'CN=Some Other CA' })
    const copy = await other.issueClient({ subject: 'CN=admin', keys })
    const spki = new X509Certificate(Buffer.from(genuine.der)).publicKey.export({
      type: 'spki',
      format: 'der',
    })
    const auth = createClientCertAuthenticator({
      identity: 'cn',
      allow: { authenticated: true },
      trust: { pins: [`sha256/${createHash('sha256').update(spki).digest('base64')}`] },
    })
    const server = await startMtlsServer(handler(auth), { pki, rejectUnauthorized: false })
    servers.push(server)
    const as = (client: IssuedCertificate) =>
      requestWithUndici(server.url, { path: '/', client, ca: pki.serverCa.pem })
    const ok = await as(genuine)
    expect(ok.status).toBe(200)
    expect(JSON.parse(ok.body).id).toBe('device')
    const refused = await as(copy)
    expect(refused.status).toBe(401)
    expect(JSON.parse(refused.body)).toEqual({ code: 'ERR_CLIENT_CERT_UNTRUSTED' })
  })
})

describe("finding 10: ECDSA malleability changes the fingerprint, not identity: 'spki'", () => {
  it('one certificate with s and with n − s: two fingerprints, one SPKI identity', async () => {
    const alice = await pki.intermediate.issueClient({ subject: 'CN=alice' })
    const twin = { der: malleateEcdsaSignature(alice.der) } as const
    expect(Buffer.from(twin.der).equals(Buffer.from(alice.der))).toBe(false)
    const asCert = (der: Uint8Array) => ({ der, pem: toPem(der) }) as unknown as IssuedCertificate
    const send = async (server: RunningServer, der: Uint8Array) => {
      const headers = forwardedHeaders('rfc9440', asCert(der), { chain: [pki.intermediate] })
      const res = await requestHttp(server.url, { path: '/', localAddress: PROXY, headers })
      expect(res.status).toBe(200)
      return JSON.parse(res.body) as { id: string; fingerprint: string }
    }
    const byFingerprint = await forwardedServer({ identity: 'fingerprint' })
    const [a, b] = [await send(byFingerprint, alice.der), await send(byFingerprint, twin.der)]
    expect(a.id).not.toBe(b.id)
    expect(a.fingerprint).not.toBe(b.fingerprint)

    const bySpki = await forwardedServer({ identity: 'spki' })
    const [c, d] = [await send(bySpki, alice.der), await send(bySpki, twin.der)]
    const spki = new X509Certificate(Buffer.from(alice.der)).publicKey.export({ type: 'spki', format: 'der' })
    expect(c.id).toBe(createHash('sha256').update(spki).digest('hex'))
    expect(d.id).toBe(c.id)
  })
})

describe('finding 12: principals are deeply immutable', () => {
  it("a handler's mutation attempts throw and do not change the next request's verdict", async () => {
    const auth = createClientCertAuthenticator({ identity: 'cn', allow: { authenticated: true } })
    const adminOnly: AllowPolicy = { predicate: (p) => p.san.dns.includes('admin.example') }
    const fresh: AllowPolicy = { predicate: (p) => p.notAfter.getTime() < Date.now() + 365 * 24 * 3600_000 }
    const server = await startMtlsServer(handler(auth, { '/admin': adminOnly, '/fresh': fresh }), { pki })
    servers.push(server)
    const alice = await pki.intermediate.issueClient({ subject: 'CN=alice', san: { dns: ['alice.example'] } })
    const get = (path: string) => requestWithUndici(server.url, { path, client: alice, ca: pki.serverCa.pem })

    expect((await get('/admin')).status).toBe(403)
    const mutated = await get('/mutate')
    expect(mutated.status).toBe(200)
    expect(JSON.parse(mutated.body).mutated).toEqual([
      'san.dns.push',
      'san.dns = ',
      'subject.rdns[0][0].value',
      'subject.rdns.push',
    ])
    // The same cached principal judges the next requests, on new connections.
    expect((await get('/admin')).status).toBe(403)
    expect((await get('/fresh')).status).toBe(200)
  })
})
