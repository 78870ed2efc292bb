// @clientcert/spiffe against a protocol-level Workload API test server (./workload-server.ts,
// not SPIRE) on a temporary Unix socket, with an HTTPS server doing app-level trust and real
// clients: rotation, withdrawal, federation, disconnects, malformed DER, the server's own SVID.
import type { Server } from 'node:https'
import { connect } from 'node:tls'
import {
  type ClientCertAuthenticator,
  createClientCertAuthenticator,
  type TrustSourceError,
} from '@clientcert/core'
import {
  type CertificateAuthority,
  createRootCA,
  createUndiciAgent,
  type IssuedCertificate,
  type RunningServer,
  requestWithUndici,
  startMtlsServer,
} from '@clientcert/testing'
import { status } from '@grpc/grpc-js'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  createWorkloadApiSource,
  splitDer,
  type WorkloadApiSource,
  type WorkloadApiSourceOptions,
} from '../src/index.js'
import { startWorkloadApi, type TestWorkloadApi } from './workload-server.js'

let caA: CertificateAuthority
let caA2: CertificateAuthority
let caB: CertificateAuthority
let tlsCa: CertificateAuthority
let plainServer: IssuedCertificate
const c: Record<'a' | 'a2' | 'b' | 'mint' | 'svc1' | 'svc2', IssuedCertificate> = {} as never

beforeAll(async () => {
  ;[caA, caA2, caB, tlsCa] = (await Promise.all(
    ['CN=a.org CA', 'CN=a.org CA 2', 'CN=b.org CA', 'CN=TLS CA'].map((subject) => createRootCA({ subject })),
  )) as [CertificateAuthority, CertificateAuthority, CertificateAuthority, CertificateAuthority]
  const svid = (ca: CertificateAuthority, uri: string) =>
    ca.issueClient({ subject: 'CN=workload', san: { uri: [uri] } })
  const serverSvid = (cn: string) =>
    caA.issueServer({
      subject: `CN=${cn}`,
      san: { uri: ['spiffe://a.org/server'], dns: ['localhost'], ip: ['127.0.0.1'] },
    })
  ;[plainServer, c.a, c.a2, c.b, c.mint, c.svc1, c.svc2] = await Promise.all([
    tlsCa.issueServer(),
    svid(caA, 'spiffe://a.org/client'),
    svid(caA2, 'spiffe://a.org/client'),
    svid(caB, 'spiffe://b.org/client'),
    // The CA of b.org mints an ID in a.org.
    svid(caB, 'spiffe://a.org/client'),
    serverSvid('svc one'),
    serverSvid('svc two'),
  ])
})

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

function authenticator(): ClientCertAuthenticator {
  // Nothing is trusted until the Workload API delivers bundles.
  return createClientCertAuthenticator({
    trust: { spiffe: { bundles: {} } },
    identity: 'spiffe',
    allow: { authenticated: true },
  })
}

async function app(
  auth: ClientCertAuthenticator,
  identity = plainServer,
): Promise<RunningServer & { handshakes(): number }> {
  const running = await startMtlsServer(
    async (req, res) => {
      const r = await auth.authenticate(req)
      res.statusCode = r.ok ? 200 : r.error.status
      res.end(r.ok ? r.principal.id : r.error.code)
    },
    { cert: identity.chainPem, key: identity.keyPem, ca: caA.pem, rejectUnauthorized: false },
  )
  let count = 0
  running.server.on('secureConnection', () => count++)
  cleanups.push(() => running.close())
  return Object.assign(running, { handshakes: () => count })
}

async function agent(): Promise<TestWorkloadApi> {
  const api = await startWorkloadApi()
  cleanups.push(() => api.close())
  return api
}

function source(opts: Omit<WorkloadApiSourceOptions, 'onError' | 'onUpdate'>) {
  const events = { updates: 0, errors: [] as TrustSourceError[] }
  const s: WorkloadApiSource = createWorkloadApiSource({
    backoff: { initialMs: 20, maxMs: 100 },
    ...opts,
    onUpdate: () => events.updates++,
    onError: (e) => events.errors.push(e),
  })
  cleanups.push(() => s.close())
  return { source: s, events }
}

async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const get = async (url: string, client: IssuedCertificate, ca = tlsCa.pem) =>
  (await requestWithUndici(url, { client, ca })).body

function peerSubject(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca: caA.pem, servername: 'localhost' }, () => {
      const cn = s.getPeerCertificate().subject?.CN
      s.end()
      resolve(String(cn))
    })
    s.on('error', reject)
  })
}

describe('Workload API source', () => {
  it('ready() waits for the first bundles; a rotated bundle refuses the old CA on an open keep-alive connection and admits the new', async () => {
    const api = await agent()
    const auth = authenticator()
    const server = await app(auth)
    const { source: s, events } = source({ authenticator: auth, address: api.address })
    const ready = s.ready(5000)
    await new Promise((r) => setTimeout(r, 100))
    expect(await get(server.url, c.a)).toBe('ERR_CLIENT_CERT_UNTRUSTED') // nothing trusted yet
    api.setBundles({ 'spiffe://a.org': [caA.der] })
    await ready
    expect(s.trustDomains()).toEqual(['a.org'])

    const keepAlive = createUndiciAgent({ client: c.a, ca: tlsCa.pem })
    cleanups.push(() => keepAlive.destroy())
    expect((await requestWithUndici(server.url, { dispatcher: keepAlive, ca: tlsCa.pem })).body).toBe(
      'spiffe://a.org/client',
    )
    const before = events.updates
    api.setBundles({ 'spiffe://a.org': [caA2.der] })
    await waitFor(() => events.updates > before, 'the rotation')
    const handshakes = server.handshakes()
    const open = await requestWithUndici(server.url, { dispatcher: keepAlive, ca: tlsCa.pem })
    expect([open.status, open.body]).toEqual([401, 'ERR_CLIENT_CERT_UNTRUSTED'])
    expect(server.handshakes()).toBe(handshakes)
    expect(await get(server.url, c.a2)).toBe('spiffe://a.org/client')
    expect(events.errors).toEqual([])
    expect(api.calls.every((call) => call.header)).toBe(true)
  })

  it("federation: each trust domain's bundle vouches only for its own IDs; a domain left out of an update is withdrawn", async () => {
    const api = await agent()
    api.setBundles({ 'spiffe://a.org': [caA.der], 'spiffe://b.org': [caB.der] })
    const auth = authenticator()
    const server = await app(auth)
    const { source: s, events } = source({ authenticator: auth, address: api.address })
    await s.ready(5000)
    expect(await get(server.url, c.a)).toBe('spiffe://a.org/client')
    expect(await get(server.url, c.b)).toBe('spiffe://b.org/client')
    expect(await get(server.url, c.mint)).toBe('ERR_CLIENT_CERT_UNTRUSTED')

    const before = events.updates
    api.setBundles({ 'spiffe://a.org': [caA.der] })
    await waitFor(() => events.updates > before, 'the withdrawal')
    expect(await get(server.url, c.b)).toBe('ERR_CLIENT_CERT_UNTRUSTED')
    expect(await get(server.url, c.a)).toBe('spiffe://a.org/client')
  })

  it('disconnects: UNAVAILABLE and PERMISSION_DENIED are reported, the last good state stays, and the source reconnects', async () => {
    const api = await agent()
    api.setBundles({ 'spiffe://a.org': [caA.der] })
    const auth = authenticator()
    const server = await app(auth)
    const { source: s, events } = source({ authenticator: auth, address: api.address })
    await s.ready(5000)

    api.refuse(status.PERMISSION_DENIED)
    api.dropStreams(status.UNAVAILABLE)
    await waitFor(() => events.errors.some((e) => /PERMISSION_DENIED/.test(e.message)), 'a refused reconnect')
    expect(events.errors.some((e) => /UNAVAILABLE/.test(e.message))).toBe(true)
    expect(events.errors.every((e) => e.code === 'ERR_CLIENT_CERT_TRUST_SOURCE')).toBe(true)
    expect(await get(server.url, c.a)).toBe('spiffe://a.org/client')

    const before = events.updates
    api.setBundles({ 'spiffe://a.org': [caA2.der] })
    api.refuse(undefined)
    await waitFor(() => events.updates > before, 'the update after reconnecting')
    expect(await get(server.url, c.a)).toBe('ERR_CLIENT_CERT_UNTRUSTED')
    expect(await get(server.url, c.a2)).toBe('spiffe://a.org/client')
  })

  it('malformed DER (truncated, or a SEQUENCE that is no certificate) is refused whole; the last good state stays', async () => {
    const api = await agent()
    api.setBundles({ 'spiffe://a.org': [caA.der], 'spiffe://b.org': [caB.der] })
    const auth = authenticator()
    const server = await app(auth)
    const { source: s, events } = source({ authenticator: auth, address: api.address })
    await s.ready(5000)

    api.setBundles({
      'spiffe://a.org': Buffer.from(caA2.der).subarray(0, caA2.der.length - 1),
      'spiffe://b.org': [caB.der],
    })
    await waitFor(() => events.errors.length === 1, 'the first refusal')
    expect(events.errors[0]!.message).toMatch(/truncated/)
    api.setBundles({ 'spiffe://a.org': Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]) })
    await waitFor(() => events.errors.length === 2, 'the second refusal')
    expect((events.errors[1]!.cause as { code?: string }).code).toBe('ERR_CLIENT_CERT_INVALID_OPTION')
    expect(s.trustDomains()).toEqual(['a.org', 'b.org'])
    expect(await get(server.url, c.a)).toBe('spiffe://a.org/client')
    expect(await get(server.url, c.b)).toBe('spiffe://b.org/client')
  })

  it("the server serves the workload's X509-SVID and follows its rotation", async () => {
    const api = await agent()
    api.setBundles({ 'spiffe://a.org': [caA.der] })
    const svid = (x: IssuedCertificate) => ({
      spiffeId: 'spiffe://a.org/server',
      chainDer: [x.der],
      keyDer: x.keyDer,
      bundleDer: [caA.der],
    })
    api.setSvid(svid(c.svc1))
    const auth = authenticator()
    const server = await app(auth)
    const { source: s, events } = source({
      authenticator: auth,
      address: api.address,
      server: server.server as Server,
    })
    await s.ready(5000)
    expect(await peerSubject(server.port)).toBe('svc one')
    expect(await get(server.url, c.a, caA.pem)).toBe('spiffe://a.org/client')

    const before = events.updates
    api.setSvid(svid(c.svc2))
    await waitFor(() => events.updates > before, 'the SVID rotation')
    expect(await peerSubject(server.port)).toBe('svc two')

    // An SVID whose certificate does not carry the claimed ID is refused; svc two stays.
    api.setSvid({ ...svid(c.svc1), spiffeId: 'spiffe://a.org/other' })
    await waitFor(() => events.errors.length > 0, 'the refusal')
    expect(await peerSubject(server.port)).toBe('svc two')
  })

  it('ready() rejects with ERR_CLIENT_CERT_TRUST_SOURCE when no agent answers in time', async () => {
    const { source: s } = source({
      authenticator: authenticator(),
      address: 'unix:///nonexistent/agent.sock',
    })
    await expect(s.ready(300)).rejects.toMatchObject({ code: 'ERR_CLIENT_CERT_TRUST_SOURCE' })
  })

  it.each([
    ['unix:relative/agent.sock', 'address'],
    ['unix://host/agent.sock', 'address'],
    ['tcp://localhost:8081', 'address'],
    ['tcp://127.0.0.1', 'address'],
    ['tcp://127.0.0.1:8081/path', 'address'],
    ['http://127.0.0.1:8081', 'address'],
    ['unix:///tmp/agent.sock?x=1', 'address'],
  ])('the address %s is a configuration error', (address, option) => {
    expect(() => createWorkloadApiSource({ authenticator: authenticator(), address })).toThrow(
      expect.objectContaining({ code: 'ERR_CLIENT_CERT_INVALID_OPTION', option }),
    )
  })
})

describe('splitDer', () => {
  it('splits concatenated certificates and refuses anything else', () => {
    const two = Buffer.concat([Buffer.from(caA.der), Buffer.from(caB.der)])
    expect(splitDer(two, 'x').map((d) => Buffer.from(d).equals(Buffer.from(caB.der)))).toEqual([false, true])
    expect(() => splitDer(Buffer.concat([two, Buffer.from([0])]), 'x')).toThrow(/not a DER SEQUENCE/)
    expect(() => splitDer(two.subarray(0, two.length - 1), 'x')).toThrow(/truncated/)
    expect(() => splitDer(Buffer.from([0x30, 0x81, 0x05, 1, 2, 3, 4, 5]), 'x')).toThrow(/non-minimal/)
    expect(() => splitDer(Buffer.from([0x30, 0x80, 0, 0]), 'x')).toThrow(/length encoding/)
    expect(() => splitDer(Buffer.alloc(0), 'x')).toThrow(/empty/)
  })
})
