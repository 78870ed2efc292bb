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
import { createHash } from 'node:crypto'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
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
import { type ParsedCertificate, parseCertificate } from '../src/cert/parse.js'
import {
  type AuthenticateOptions,
  type ClientCertAuthenticator,
  ClientCertConfigError,
  type ClientCertOptions,
  compilePolicy,
  createClientCertAuthenticator,
  createMtlsServerOptions,
} from '../src/index.js'
import { peerChainOf } from '../src/sources/tls.js'
import { pemToDer } from '../src/trust/load.js'
import { fingerprintsOf } from '../src/trust/public-roots.js'

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
  chainReported = await reportsServerChain()
})

/** Whether this Node reports a server's peer chain on a full handshake (not 24.21 / 26.8+). */
let chainReported = false
async function reportsServerChain(): Promise<boolean> {
  const seen: boolean[] = []
  const server = await tlsServer({ ca: [privateRoot.pem] }, (req) => {
    seen.push(peerChainOf(req.socket).complete)
  })
  try {
    await handshakes(server, bob, 1)
  } finally {
    server.close()
  }
  return seen[0] === true
}

/** An HTTPS server asking for client certificates; `onRequest` sees each request first. */
async function tlsServer(
  options: https.ServerOptions,
  onRequest: (req: import('node:http').IncomingMessage) => unknown,
): Promise<https.Server> {
  const server = https.createServer(
    {
      cert: pki.server.chainPem,
      key: pki.server.keyPem,
      requestCert: true,
      rejectUnauthorized: true,
      ...options,
    },
    async (req, res) => {
      const answer = await onRequest(req)
      res.writeHead(typeof answer === 'number' ? answer : 200).end()
    },
  )
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return server
}

/**
 * `n` requests, each on a new connection that resumes the first one's TLS session (TLS 1.2,
 * session tickets): on a resumed session Node reports only the leaf, on every Node version.
 * Returns each answer's status and whether the connection was resumed.
 */
async function handshakes(server: https.Server, client: IssuedCertificate, n: number) {
  let session: Buffer | undefined
  const out: { status: number; reused: boolean }[] = []
  for (let i = 0; i < n; i++) {
    out.push(
      await new Promise((resolve, reject) => {
        const req = https.request(
          {
            host: '127.0.0.1',
            port: (server.address() as AddressInfo).port,
            servername: 'localhost',
            ...client.tlsOptions(),
            ca: pki.serverCa.pem,
            maxVersion: 'TLSv1.2',
            agent: new https.Agent({ maxCachedSessions: 0 }),
            ...(session === undefined ? {} : { session }),
          },
          (res) => {
            res.resume()
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                reused: (req.socket as actualTls.TLSSocket | null)?.isSessionReused() ?? false,
              }),
            )
          },
        )
        req.on('socket', (s) => s.once('session', (b: Buffer) => (session ??= b)))
        req.on('error', reject)
        req.end()
      }),
    )
  }
  return out
}

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

  it('the same server admits a client of a private CA when Node reports the chain (the anchor decides)', async () => {
    const ask = await serve({})
    const res = await ask(bob)
    if (chainReported) {
      expect(res.status).toBe(200)
      expect(res.json()).toEqual({ id: 'bob' })
    } else {
      // Node 24.21 / 26.8+ report only the leaf (nodejs/node#65579): the server's `ca` decides,
      // and it holds a (marked) public root.
      vi.spyOn(console, 'warn').mockImplementation(() => {})
      expect(res.status).toBe(500)
    }
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

describe("the bundled roots' fingerprints", () => {
  it("are the full parse's fingerprint and key hash for every root Node bundles, and for the test roots", () => {
    const ders = [...actualTls.rootCertificates, publicRoot.pem, privateRoot.pem].flatMap((pem) =>
      pemToDer(pem, 'roots'),
    )
    expect(ders.length).toBeGreaterThan(100)
    let parsedCount = 0
    for (const der of ders) {
      const light = fingerprintsOf(der)
      let parsed: ParsedCertificate
      try {
        parsed = parseCertificate(der)
      } catch {
        // A root the strict parser refuses (none today) must still be known by its fingerprint.
        expect(light.cert).toBe(createHash('sha256').update(der).digest('hex'))
        continue
      }
      parsedCount++
      expect(light).toEqual({ cert: parsed.fingerprint256, key: parsed.spkiSha256 })
    }
    expect(parsedCount).toBeGreaterThan(100)
  })

  it('know a root whose fields cannot be walked by its fingerprint alone', () => {
    const der = pemToDer(publicRoot.pem, 'root')[0]!
    const cut = der.subarray(0, 40)
    expect(fingerprintsOf(cut)).toEqual({
      cert: createHash('sha256').update(cut).digest('hex'),
      key: undefined,
    })
  })
})

describe("a public root's key in another certificate (re-issued or cross-signed)", () => {
  it('counts as the public root: refused over TLS-stack trust, a startup error as an app-level anchor', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {})
    // Same name and key as the (marked) public root, another certificate: not in the bundle by
    // fingerprint. Before, its clients passed a policy naming nobody.
    const reissued = await createRootCA({ subject: 'CN=Stand-in Public Root', keys: publicRoot.keys })
    expect(reissued.fingerprint256).not.toBe(publicRoot.fingerprint256)
    const outcomes: string[] = []
    const server = await tlsServer({ ca: [reissued.pem] }, async (req) => {
      const auth = createClientCertAuthenticator({ identity: 'cn', allow: { authenticated: true } })
      const result = await auth.authenticate(req)
      outcomes.push(result.ok ? `ok ${result.principal.id}` : result.error.code)
    })
    try {
      await handshakes(server, alice, 1)
    } finally {
      server.close()
    }
    expect(outcomes).toEqual(['ERR_CLIENT_CERT_MISCONFIGURED'])
    expect(() =>
      createClientCertAuthenticator({ trust: { anchors: reissued.pem }, allow: { authenticated: true } }),
    ).toThrow(/bundled public roots/)
  })
})

describe('a chain Node reports cut short (a resumed session; every connection on Node 24.21 / 26.8+)', () => {
  /**
   * Each request is judged by a new authenticator, so nothing is remembered from the first
   * (full) handshake: the second, resumed, connection is judged on what Node reports for it.
   */
  // Clients under an intermediate: Node completes a leaf issued by a root from the server's store
  // even on a resumed session, but reports a cut chain for one whose issuer the client sent.
  let dave: IssuedCertificate
  let erin: IssuedCertificate
  beforeAll(async () => {
    ;[dave, erin] = await Promise.all([
      publicRoot
        .issueIntermediate({ subject: 'CN=Public Intermediate' })
        .then((ca) => ca.issueClient({ subject: 'CN=dave' })),
      privateRoot
        .issueIntermediate({ subject: 'CN=Private Intermediate' })
        .then((ca) => ca.issueClient({ subject: 'CN=erin' })),
    ])
  })

  async function judgedOnResumption(ca: https.ServerOptions['ca'], client: IssuedCertificate, extra = {}) {
    const outcomes: string[] = []
    const server = await tlsServer({ ca, ...extra }, async (req) => {
      const auth = createClientCertAuthenticator({ identity: 'cn', allow: { authenticated: true } })
      const result = await auth.authenticate(req)
      outcomes.push(result.ok ? `ok ${result.principal.id}` : result.error.code)
      return result.ok ? 200 : result.error.status
    })
    try {
      const answers = await handshakes(server, client, 2)
      expect(answers[1]?.reused).toBe(true)
      return outcomes[1]
    } finally {
      server.close()
    }
  }

  it('refuses when the server trusts a (marked) public root: the cut chain cannot show the anchor', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {})
    // Before the fix the resumed connection passed: the walk stopped at the leaf, no bundled root in it.
    expect(await judgedOnResumption([publicRoot.pem], dave)).toBe('ERR_CLIENT_CERT_MISCONFIGURED')
    // The private client too: with a cut chain, nothing shows which of the two roots verified it.
    expect(await judgedOnResumption([privateRoot.pem, publicRoot.pem], erin)).toBe(
      'ERR_CLIENT_CERT_MISCONFIGURED',
    )
  })

  it("admits when the server's own ca is private roots only", async () => {
    expect(await judgedOnResumption([privateRoot.pem], erin)).toBe('ok erin')
    expect(await judgedOnResumption(Buffer.from(privateRoot.pem), erin)).toBe('ok erin')
  })

  it('refuses when the trust is not provably private: an intermediate in ca, an SNI callback, no readable ca', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {})
    // A client under a sub-intermediate the server does not hold, with the intermediate in `ca`.
    const sub = await pki.intermediate.issueIntermediate({ subject: 'CN=Sub Intermediate' })
    const frank = await sub.issueClient({ subject: 'CN=frank' })
    expect(await judgedOnResumption([pki.root.pem, pki.intermediate.pem], frank)).toBe(
      'ERR_CLIENT_CERT_MISCONFIGURED',
    )
    const sniContext = actualTls.createSecureContext({
      cert: pki.server.chainPem,
      key: pki.server.keyPem,
      ca: [privateRoot.pem],
    })
    const SNICallback = (_name: string, cb: (err: Error | null, ctx?: actualTls.SecureContext) => void) =>
      cb(null, sniContext)
    expect(await judgedOnResumption([privateRoot.pem], erin, { SNICallback })).toBe(
      'ERR_CLIENT_CERT_MISCONFIGURED',
    )
    expect(await judgedOnResumption([privateRoot.pem, 'not a certificate'], erin)).toBe(
      'ERR_CLIENT_CERT_MISCONFIGURED',
    )
  })
})

describe('a cut chain on a server made by createMtlsServerOptions({ sni })', () => {
  /**
   * Node 20 never resumes such a server (tickets off, no session cache), so the cut chain of
   * Node 24.21 is played by a socket whose server is the real `https.Server` built from the
   * options, and whose detailed certificate has no issuer link.
   */
  async function judged(sniClientCa: string) {
    const server = { cert: pki.server.chainPem, key: pki.server.keyPem }
    const options = createMtlsServerOptions({
      ...server,
      clientCa: privateRoot.pem,
      sni: {
        'a.test': { ...server, clientCa: privateRoot.pem },
        'b.test': { ...server, clientCa: sniClientCa },
      },
    })
    const httpsServer = https.createServer(options)
    const socket = {
      encrypted: true,
      authorized: true,
      authorizationError: null,
      servername: 'a.test',
      server: httpsServer,
      getPeerCertificate: () => ({ raw: Buffer.from(bob.der) }),
    }
    const auth = createClientCertAuthenticator({ identity: 'cn', allow: { authenticated: true } })
    const result = await auth.authenticate({ socket, headers: { host: 'a.test' } })
    return result.ok ? `ok ${result.principal.id}` : result.error.code
  }

  it('admits when every context trusts private roots only', async () => {
    expect(await judged(privateRoot.pem)).toBe('ok bob')
  })

  it('refuses when one name trusts a (marked) public root: the connection could have been verified there', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {})
    expect(await judged(publicRoot.pem)).toBe('ERR_CLIENT_CERT_MISCONFIGURED')
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
