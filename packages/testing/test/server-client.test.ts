import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createSelfSigned,
  createTestPki,
  createUndiciAgent,
  type IssuedCertificate,
  type RunningServer,
  requestHttp,
  requestWithHttps,
  requestWithUndici,
  slowBodyRequest,
  startHttpServer,
  startMtlsServer,
  type TestPki,
} from '../src/index.js'

interface Seen {
  authorized: boolean
  authorizationError: string | null
  fingerprint: string | null
  remoteAddress: string | undefined
  remotePort: number | undefined
  method: string | undefined
  url: string | undefined
  contentLength: string | undefined
  body: string
  httpVersion: string
}

function normalize(fingerprint: string | undefined): string | null {
  return fingerprint ? fingerprint.replaceAll(':', '').toLowerCase() : null
}

function whoami(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket as TLSSocket
  let body = ''
  req.setEncoding('utf8')
  req.on('data', (chunk: string) => {
    body += chunk
  })
  req.on('end', () => {
    const seen: Seen = {
      authorized: socket.authorized ?? false,
      authorizationError: socket.authorizationError ? String(socket.authorizationError) : null,
      fingerprint: normalize(socket.getPeerX509Certificate?.()?.fingerprint256),
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort,
      method: req.method,
      url: req.url,
      contentLength: req.headers['content-length'],
      body,
      httpVersion: req.httpVersion,
    }
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify(seen))
  })
}

describe('mTLS server and clients', () => {
  let pki: TestPki
  let alice: IssuedCertificate
  let strict: RunningServer
  let lenient: RunningServer

  beforeAll(async () => {
    pki = await createTestPki()
    alice = await pki.issueClient({ subject: 'CN=alice' })
    strict = await startMtlsServer(whoami, { pki })
    lenient = await startMtlsServer(whoami, { pki, rejectUnauthorized: false })
  })

  afterAll(async () => {
    await Promise.all([strict?.close(), lenient?.close()])
  })

  it('listens on an ephemeral loopback port', () => {
    expect(strict.url).toBe(`https://127.0.0.1:${strict.port}`)
    expect(strict.host).toBe('127.0.0.1')
    expect(strict.port).toBeGreaterThan(0)
  })

  it('node:https presents the client chain; the server sees the client fingerprint', async () => {
    const res = await requestWithHttps(strict.url, { path: '/me?x=1', client: alice, ca: pki.serverCa.pem })
    const seen = res.json<Seen>()
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe('application/json')
    expect(seen).toMatchObject({ authorized: true, fingerprint: alice.fingerprint256, url: '/me?x=1' })
  })

  it('undici presents the client chain; the server sees the client fingerprint', async () => {
    const res = await requestWithUndici(strict.url, { path: '/me', client: alice, ca: pki.serverCa.pem })
    expect(res.status).toBe(200)
    expect(res.json<Seen>()).toMatchObject({ authorized: true, fingerprint: alice.fingerprint256 })
  })

  it('fails the handshake without a client certificate when the server requires one', async () => {
    await expect(requestWithHttps(strict.url, { ca: pki.serverCa.pem })).rejects.toThrow()
    await expect(requestWithUndici(strict.url, { ca: pki.serverCa.pem })).rejects.toThrow()
  })

  it('reports unauthorized peers when the server does not reject them', async () => {
    const anonymous = await requestWithHttps(lenient.url, { ca: pki.serverCa.pem, client: null })
    expect(anonymous.json<Seen>()).toMatchObject({ authorized: false, fingerprint: null })
    const self = await createSelfSigned()
    const pinned = await requestWithUndici(lenient.url, { ca: pki.serverCa.pem, client: self })
    expect(pinned.json<Seen>()).toMatchObject({ authorized: false, fingerprint: self.fingerprint256 })
    expect(pinned.json<Seen>().authorizationError).toBeTruthy()
  })

  it('connects from another loopback address with localAddress', async () => {
    const viaHttps = await requestWithHttps(strict.url, {
      client: alice,
      ca: pki.serverCa.pem,
      localAddress: '127.0.0.2',
    })
    expect(viaHttps.json<Seen>().remoteAddress).toBe('127.0.0.2')
    const viaUndici = await requestWithUndici(strict.url, {
      client: alice,
      ca: pki.serverCa.pem,
      localAddress: '127.0.0.2',
    })
    expect(viaUndici.json<Seen>().remoteAddress).toBe('127.0.0.2')
  })

  it('sends bodies with a content-length header', async () => {
    const body = JSON.stringify({ hello: 'wörld' })
    const opts = {
      client: alice,
      ca: pki.serverCa.pem,
      body,
      headers: { 'content-type': 'application/json' },
    }
    for (const send of [requestWithHttps, requestWithUndici]) {
      const seen = (await send(strict.url, opts)).json<Seen>()
      expect(seen).toMatchObject({ method: 'POST', body, contentLength: String(Buffer.byteLength(body)) })
    }
  })

  it('reuses one connection with a keep-alive undici agent', async () => {
    const agent = createUndiciAgent({ client: alice, ca: pki.serverCa.pem })
    try {
      const first = await requestWithUndici(strict.url, { ca: pki.serverCa.pem, dispatcher: agent })
      const second = await requestWithUndici(strict.url, { ca: pki.serverCa.pem, dispatcher: agent })
      expect(first.json<Seen>().remotePort).toBe(second.json<Seen>().remotePort)
      expect(second.json<Seen>().fingerprint).toBe(alice.fingerprint256)
    } finally {
      await agent.close()
    }
  })

  it('returns TLS sessions that can be resumed', async () => {
    for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
      const opts = { client: alice, ca: pki.serverCa.pem, maxVersion }
      const first = await requestWithHttps(strict.url, opts)
      expect(first.session).toBeInstanceOf(Buffer)
      expect(first.sessionReused).toBe(false)
      const resumed = await requestWithHttps(strict.url, { ...opts, session: first.session })
      expect(resumed.sessionReused).toBe(true)
      expect(resumed.json<Seen>().authorized).toBe(true)
    }
  })

  it('serves HTTP/2 and IPv6 loopback', async () => {
    const h2 = await startMtlsServer((req, res) => res.end(JSON.stringify({ version: req.httpVersion })), {
      pki,
      http2: true,
      host: '::1',
    })
    const agent = createUndiciAgent({ client: alice, ca: pki.serverCa.pem, allowH2: true })
    try {
      expect(h2.url).toBe(`https://[::1]:${h2.port}`)
      const res = await requestWithUndici(h2.url, { ca: pki.serverCa.pem, dispatcher: agent })
      expect(res.json()).toEqual({ version: '2.0' })
      const http1 = await requestWithHttps(h2.url, { client: alice, ca: pki.serverCa.pem })
      expect(http1.json()).toEqual({ version: '1.1' })
    } finally {
      await agent.close()
      await h2.close()
    }
  })

  it('closes servers with open keep-alive connections promptly', async () => {
    const server = await startMtlsServer(whoami, { pki })
    const agent = createUndiciAgent({ client: alice, ca: pki.serverCa.pem })
    try {
      await requestWithUndici(server.url, { ca: pki.serverCa.pem, dispatcher: agent })
      const started = Date.now()
      await server.close()
      await server.close()
      expect(Date.now() - started).toBeLessThan(1000)
    } finally {
      await agent.destroy()
    }
  })

  it('refuses non-loopback hosts and missing server identities', async () => {
    await expect(startMtlsServer(whoami, { pki, host: '0.0.0.0' })).rejects.toThrow(/loopback/)
    await expect(startMtlsServer(whoami, {})).rejects.toThrow(/pki/)
  })

  it('times out instead of hanging', async () => {
    const silent = await startMtlsServer(() => {}, { pki })
    try {
      await expect(
        requestWithHttps(silent.url, { client: alice, ca: pki.serverCa.pem, timeoutMs: 200 }),
      ).rejects.toThrow(/timed out/)
      await expect(
        requestWithUndici(silent.url, { client: alice, ca: pki.serverCa.pem, timeoutMs: 200 }),
      ).rejects.toThrow()
      await expect(
        slowBodyRequest(silent.url, { client: alice, ca: pki.serverCa.pem, timeoutMs: 300 }),
      ).rejects.toThrow(/No response/)
    } finally {
      await silent.close()
    }
  })

  it('slowBodyRequest resolves as soon as the server answers without reading the body', async () => {
    const rejecting = await startMtlsServer(
      (req, res) => {
        res.statusCode = (req.socket as TLSSocket).authorized ? 413 : 401
        res.end()
      },
      { pki, rejectUnauthorized: false },
    )
    try {
      const anonymous = await slowBodyRequest(rejecting.url, { ca: pki.serverCa.pem })
      expect(anonymous.status).toBe(401)
      expect(anonymous.elapsedMs).toBeLessThan(2000)
      const withCert = await slowBodyRequest(rejecting.url, { ca: pki.serverCa.pem, client: alice })
      expect(withCert.status).toBe(413)
    } finally {
      await rejecting.close()
    }
  })
})

describe('certificates as seen by OpenSSL during the handshake', () => {
  let pki: TestPki
  let server: RunningServer

  beforeAll(async () => {
    pki = await createTestPki()
    server = await startMtlsServer(whoami, { pki, rejectUnauthorized: false })
  })

  afterAll(async () => {
    await server?.close()
  })

  async function verdict(
    client: IssuedCertificate,
  ): Promise<Pick<Seen, 'authorized' | 'authorizationError'>> {
    const seen = (await requestWithHttps(server.url, { client, ca: pki.serverCa.pem })).json<Seen>()
    return { authorized: seen.authorized, authorizationError: seen.authorizationError }
  }

  it('enforces name constraints encoded by the factory', async () => {
    const constrained = await pki.root.issueIntermediate({
      nameConstraints: { permitted: { dns: ['.example.com'], ip: ['10.0.0.0/8'] } },
    })
    const inside = await constrained.issueClient({ san: { dns: ['a.example.com'], ip: ['10.1.2.3'] } })
    const outsideDns = await constrained.issueClient({ san: { dns: ['evil.test'] } })
    const outsideIp = await constrained.issueClient({ san: { ip: ['192.168.0.1'] } })
    expect(await verdict(inside)).toEqual({ authorized: true, authorizationError: null })
    // Node reports OpenSSL's X509_V_ERR_PERMITTED_VIOLATION (47) as 'UNSPECIFIED'.
    expect(await verdict(outsideDns)).toEqual({ authorized: false, authorizationError: 'UNSPECIFIED' })
    expect(await verdict(outsideIp)).toEqual({ authorized: false, authorizationError: 'UNSPECIFIED' })
  })

  it('flags unknown critical extensions, expiry and missing issuers', async () => {
    const critical = await pki.issueClient({
      extensions: [{ oid: '1.3.6.1.4.1.99999.7', critical: true, value: new Uint8Array([5, 0]) }],
    })
    const expired = await pki.issueClient({ validity: { days: 1, startOffsetSeconds: -3 * 86_400 } })
    const stranger = await (await createTestPki()).issueClient()
    // Node reports OpenSSL's X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION (34) as 'UNSPECIFIED'.
    expect(await verdict(critical)).toEqual({ authorized: false, authorizationError: 'UNSPECIFIED' })
    expect(await verdict(expired)).toEqual({ authorized: false, authorizationError: 'CERT_HAS_EXPIRED' })
    expect((await verdict(stranger)).authorizationError).toBe('UNABLE_TO_GET_ISSUER_CERT_LOCALLY')
  })

  it.each(['P-384', 'RSA-2048', 'Ed25519'] as const)(
    'completes mTLS handshakes with %s keys',
    async (keyAlgorithm) => {
      const algPki = await createTestPki({ keyAlgorithm })
      const client = await algPki.issueClient()
      const algServer = await startMtlsServer(whoami, { pki: algPki })
      try {
        const res = await requestWithUndici(algServer.url, { client, ca: algPki.serverCa.pem })
        expect(res.json<Seen>()).toMatchObject({ authorized: true, fingerprint: client.fingerprint256 })
      } finally {
        await algServer.close()
      }
    },
  )
})

describe('plain HTTP helpers', () => {
  it('startHttpServer + requestHttp carry headers, bodies and localAddress', async () => {
    const server = await startHttpServer(whoami)
    try {
      expect(server.url).toBe(`http://127.0.0.1:${server.port}`)
      const res = await requestHttp(server.url, {
        method: 'PUT',
        path: '/forwarded',
        headers: { 'x-forwarded-client-cert': 'Hash=abc' },
        body: 'x',
        localAddress: '127.0.0.3',
      })
      expect(res.json<Seen>()).toMatchObject({
        method: 'PUT',
        url: '/forwarded',
        body: 'x',
        contentLength: '1',
        remoteAddress: '127.0.0.3',
        authorized: false,
      })
      await expect(slowBodyRequest(server.url, { timeoutMs: 300 })).rejects.toThrow(/No response/)
    } finally {
      await server.close()
    }
  })
})
