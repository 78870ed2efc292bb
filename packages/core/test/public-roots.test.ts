/**
 * Issue 13, finding 4: an HTTPS server without `ca` verifies client certificates against Node's
 * bundled public roots, so `allow: { authenticated: true }` would admit anyone who bought a
 * publicly trusted clientAuth certificate.
 *
 * Nobody holds a public root's key, so no test can present a real publicly issued client
 * certificate. Node 20 has no `tls.setDefaultCACertificates` either. What the code keys on is
 * "the chain the TLS stack verified contains a certificate of `tls.rootCertificates`", so this
 * file adds one test root to that list (and only to that list, through a module mock) and gives
 * it to the server as its `ca`: the handshake, the chain Node reports and the verdict are real;
 * only the question "is this root bundled?" is answered yes for it. A genuine bundled root is
 * used where no key is needed (the startup check on app-level anchors).
 */
import * as actualTls from 'node:tls'
import {
  type CertificateAuthority,
  createRootCA,
  createTestPki,
  type IssuedCertificate,
  type RunningServer,
  requestWithHttps,
  startMtlsServer,
  type TestPki,
} from '@clientcert/testing'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  type AuthenticateOptions,
  type ClientCertAuthenticator,
  ClientCertConfigError,
  type ClientCertOptions,
  compilePolicy,
  createClientCertAuthenticator,
  createMtlsServerOptions,
} from '../src/index.js'

const markedPublic = vi.hoisted(() => [] as string[])
vi.mock('node:tls', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:tls')>()
  return {
    ...real,
    get rootCertificates() {
      return [...real.rootCertificates, ...markedPublic]
    },
  }
})

let pki: TestPki
let publicRoot: CertificateAuthority
let privateRoot: CertificateAuthority
let alice: IssuedCertificate
let bob: IssuedCertificate
beforeAll(async () => {
  ;[pki, publicRoot, privateRoot] = await Promise.all([
    createTestPki(),
    createRootCA({ subject: 'CN=Stand-in Public Root' }),
    createRootCA({ subject: 'CN=Private Client CA' }),
  ])
  // Before any authenticator exists: the bundled fingerprints are computed once, on first use.
  markedPublic.push(publicRoot.pem)
  ;[alice, bob] = await Promise.all([
    publicRoot.issueClient({ subject: 'CN=alice' }),
    privateRoot.issueClient({ subject: 'CN=bob' }),
  ])
})

const running: RunningServer[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  await Promise.all(running.splice(0).map((s) => s.close()))
})

/** TLS-stack trust (no app-level anchors); the server's `ca` holds both roots. */
async function serve(options: Partial<ClientCertOptions>, authenticate?: AuthenticateOptions) {
  const auth: ClientCertAuthenticator = createClientCertAuthenticator({
    identity: 'cn',
    allow: { authenticated: true },
    ...options,
  })
  const server = await startMtlsServer(
    async (req, res) => {
      const result = await auth.authenticate(req, authenticate)
      res.writeHead(result.ok ? 200 : result.error.status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(result.ok ? { id: result.principal.id } : { code: result.error.code }))
    },
    { pki, ca: [publicRoot.pem, privateRoot.pem] },
  )
  running.push(server)
  return (client: IssuedCertificate) => requestWithHttps(server.url, { client, ca: pki.serverCa.pem })
}

describe('finding 4: TLS-stack trust that ends in a bundled public root', () => {
  it('allow: { authenticated: true } refuses the client with 500 ERR_CLIENT_CERT_MISCONFIGURED and warns once', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const ask = await serve({})
    for (let i = 0; i < 2; i++) {
      const res = await ask(alice)
      expect(res.status).toBe(500)
      expect(res.json()).toEqual({ code: 'ERR_CLIENT_CERT_MISCONFIGURED' })
    }
    expect(warn).toHaveBeenCalledTimes(1)
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/bundled public roots.*clientCa/)
  })

  it('the same server admits a client of a private CA (the anchor decides, not the setup)', async () => {
    const ask = await serve({})
    const res = await ask(bob)
    expect(res.status).toBe(200)
    expect(res.json()).toEqual({ id: 'bob' })
  })

  it('a policy that names who is allowed still admits the publicly issued client', async () => {
    const ask = await serve({ allow: { ids: ['alice'] } })
    const res = await ask(alice)
    expect(res.status).toBe(200)
    expect(res.json()).toEqual({ id: 'alice' })
  })

  it('a per-route policy that names nobody is refused too, and onRejected hears the fix', async () => {
    const reasons: string[] = []
    const ask = await serve(
      { allow: { ids: ['alice'] }, onRejected: (e) => reasons.push(`${e.code}: ${e.reason}`) },
      { policy: compilePolicy({ any: [{ ids: ['carol'] }, { authenticated: true }] }) },
    )
    vi.spyOn(console, 'warn').mockImplementation(() => {})
    expect((await ask(alice)).status).toBe(500)
    expect(reasons).toHaveLength(1)
    expect(reasons[0]).toMatch(/^ERR_CLIENT_CERT_MISCONFIGURED: .*bundled public roots/)
  })

  it('app-level trust: an anchor that is a bundled root, with a policy naming nobody, is a startup error', () => {
    for (const anchors of [publicRoot.pem, actualTls.rootCertificates[0]!]) {
      let err: unknown
      try {
        createClientCertAuthenticator({ trust: { anchors }, allow: { authenticated: true } })
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(ClientCertConfigError)
      expect(err).toMatchObject({ option: 'allow' })
      expect(String((err as Error).message)).toMatch(/bundled public roots/)
      expect(() =>
        createClientCertAuthenticator({ trust: { anchors }, allow: { dnsSuffix: 'example.com' } }),
      ).not.toThrow()
    }
  })
})

describe('finding 4: createMtlsServerOptions refuses a server without client CAs', () => {
  const server = () => ({ cert: pki.server.chainPem, key: pki.server.keyPem })
  for (const [name, input, option] of [
    ['no clientCa', {}, 'options.clientCa'],
    ['clientCa: undefined', { clientCa: undefined }, 'options.clientCa'],
    ['the https spelling ca instead of clientCa', { ca: 'x' }, 'options.clientCa'],
    ['an sni name without clientCa', { clientCa: 'x', sni: { 'b.test': {} } }, 'sni.b.test.clientCa'],
  ] as const) {
    it(name, () => {
      const sni = 'sni' in input ? { sni: { 'b.test': { ...server(), ...input.sni['b.test'] } } } : undefined
      let err: unknown
      try {
        createMtlsServerOptions({ ...server(), ...input, ...sni } as never)
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(ClientCertConfigError)
      expect(err).toMatchObject({ option })
    })
  }
})
