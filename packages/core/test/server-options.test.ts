import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import { createSecureContext } from 'node:tls'
import { createRootCA, createTestPki, requestWithHttps, type TestPki } from '@clientcert/testing'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  ClientCertConfigError,
  createClientCertAuthenticator,
  createMtlsServerOptions,
  isCertificateBound,
} from '../src/index.js'
import { hostOf } from '../src/servername.js'

/**
 * The cross-SNI resumption attack (THREATS.md F): one listener serves a.test (client CA A) and
 * b.test (client CA B). OpenSSL does not run SNICallback on resumption, so a session made on
 * a.test with a CA-A certificate resumes on b.test still "authorized".
 */
let pki: TestPki
let caA: Awaited<ReturnType<typeof createRootCA>>
let caB: Awaited<ReturnType<typeof createRootCA>>
let server: { cert: string; key: string }
beforeAll(async () => {
  pki = await createTestPki()
  ;[caA, caB] = await Promise.all([
    createRootCA({ subject: 'CN=CA A' }),
    createRootCA({ subject: 'CN=CA B' }),
  ])
  const s = await pki.serverCa.issueServer({ subject: 'CN=a.test', san: { dns: ['a.test', 'b.test'] } })
  server = { cert: s.chainPem, key: s.keyPem }
})

const servers: https.Server[] = []
afterEach(() => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    s.close()
  }
})

/** Socket-mode clientcert behind whatever TLS options the test gives. */
async function start(options: https.ServerOptions): Promise<string> {
  const auth = createClientCertAuthenticator({ identity: 'cn', allow: { authenticated: true } })
  const srv = https.createServer(options, async (req, res) => {
    const result = await auth.authenticate(req)
    res.writeHead(result.ok ? 200 : result.error.status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(result.ok ? { id: result.principal.id } : { code: result.error.code }))
  })
  servers.push(srv)
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  return `https://127.0.0.1:${(srv.address() as AddressInfo).port}`
}

const PREFIX = Buffer.from('\0nodejs:tls:session:1\0')
/** Node ≥ 24 clients tag sessions with their servername and refuse to offer them elsewhere; an attacker's client need not. */
function forServername(session: Buffer, servername: string): Buffer {
  if (!session.subarray(0, PREFIX.length).equals(PREFIX)) return session
  const raw = session.subarray(PREFIX.length + 2 + session.readUInt16BE(PREFIX.length))
  const name = Buffer.from(servername)
  const len = Buffer.alloc(2)
  len.writeUInt16BE(name.length)
  return Buffer.concat([PREFIX, len, name, raw])
}

async function crossSniAttempt(url: string) {
  const alice = await caA.issueClient({ subject: 'CN=alice' })
  const first = await requestWithHttps(url, {
    path: '/',
    servername: 'a.test',
    headers: { host: 'a.test' },
    client: alice,
    ca: pki.serverCa.pem,
    maxVersion: 'TLSv1.3',
  })
  expect(first.status).toBe(200)
  expect(first.session).toBeDefined()
  return requestWithHttps(url, {
    path: '/',
    servername: 'b.test',
    headers: { host: 'b.test' },
    ca: pki.serverCa.pem,
    session: forServername(first.session!, 'b.test'),
  })
}

describe('cross-SNI session resumption', () => {
  it('succeeds against naive SNI options: b.test accepts a CA-A client it does not trust', async () => {
    const ctx = (ca: string) => createSecureContext({ ...server, ca })
    const contexts: Record<string, ReturnType<typeof createSecureContext>> = {
      'a.test': ctx(caA.pem),
      'b.test': ctx(caB.pem),
    }
    const url = await start({
      ...server,
      ca: caA.pem,
      requestCert: true,
      rejectUnauthorized: false,
      SNICallback: (name, done) => done(null, contexts[name]),
    })
    const second = await crossSniAttempt(url)
    expect(second.sessionReused).toBe(true)
    expect(second.status).toBe(200)
    expect(second.json()).toEqual({ id: 'alice' })
  })

  it('fails with createMtlsServerOptions(): no resumption across names, b.test refuses the client', async () => {
    const url = await start(
      createMtlsServerOptions({
        ...server,
        clientCa: caA.pem,
        mode: 'verify-in-app',
        sni: { 'a.test': { ...server, clientCa: caA.pem }, 'b.test': { ...server, clientCa: caB.pem } },
      }),
    )
    const second = await crossSniAttempt(url)
    expect(second.sessionReused).toBe(false)
    expect(second.status).toBe(401)
    expect(second.json()).toEqual({ code: 'ERR_CLIENT_CERT_MISSING' })
  })

  it('sets TLS ≥ 1.2, requests certificates and refuses a bad configuration', () => {
    const opts = createMtlsServerOptions({ ...server, clientCa: caA.pem })
    expect(opts).toMatchObject({ minVersion: 'TLSv1.2', requestCert: true, rejectUnauthorized: true })
    expect(
      createMtlsServerOptions({ ...server, clientCa: caA.pem, mode: 'verify-in-app' }).rejectUnauthorized,
    ).toBe(false)
    expect(() => createMtlsServerOptions({ ...server, clientCa: [] })).toThrow(ClientCertConfigError)
    expect(() => createMtlsServerOptions({ ...server, clientCa: caA.pem, mode: 'off' as never })).toThrow(
      ClientCertConfigError,
    )
  })
})

describe('trust per server name: Host / :authority must be the TLS server name (421)', () => {
  const sniOptions = () =>
    createMtlsServerOptions({
      ...server,
      clientCa: caA.pem,
      mode: 'verify-in-app',
      sni: { 'a.test': { ...server, clientCa: caA.pem }, 'b.test': { ...server, clientCa: caB.pem } },
    })

  it('createMtlsServerOptions({ sni }) servers are checked without any option, also when the options are spread', async () => {
    const alice = await caA.issueClient({ subject: 'CN=alice' })
    const url = await start({ ...sniOptions(), maxVersion: 'TLSv1.3' })
    const ask = (servername: string, host: string) =>
      requestWithHttps(url, { path: '/', servername, headers: { host }, client: alice, ca: pki.serverCa.pem })
    expect((await ask('a.test', 'a.test')).status).toBe(200)
    expect((await ask('a.test', 'A.TEST.:8443')).status).toBe(200)
    const crossed = await ask('a.test', 'b.test')
    expect(crossed.status).toBe(421)
    expect(crossed.json()).toEqual({ code: 'ERR_CLIENT_CERT_MISDIRECTED' })
  })

  it('a server without per-name trust is not checked (no SNICallback, no option)', async () => {
    const alice = await caA.issueClient({ subject: 'CN=alice' })
    const url = await start(createMtlsServerOptions({ ...server, clientCa: caA.pem }))
    const r = await requestWithHttps(url, {
      path: '/',
      servername: 'a.test',
      headers: { host: 'b.test' },
      client: alice,
      ca: pki.serverCa.pem,
    })
    expect(r.status).toBe(200)
  })

  it('requireServernameMatch accepts only true', () => {
    const base = { identity: 'cn', allow: { authenticated: true } } as const
    expect(() => createClientCertAuthenticator({ ...base, requireServernameMatch: true })).not.toThrow()
    for (const bad of [false, 'true', 1, null]) {
      const err = (() => {
        try {
          createClientCertAuthenticator({ ...base, requireServernameMatch: bad as never })
        } catch (e) {
          return e
        }
        return undefined
      })()
      expect(err).toBeInstanceOf(ClientCertConfigError)
      expect((err as ClientCertConfigError).option).toBe('requireServernameMatch')
    }
  })

  it('parses authorities strictly: port, trailing dot, case and IPv6 brackets; anything else fails closed', () => {
    expect(hostOf('A.Test.:443')).toBe('a.test')
    expect(hostOf('a.test:')).toBe('a.test')
    expect(hostOf('[::1]:8443')).toBe('::1')
    expect(hostOf('[FE80::1]')).toBe('fe80::1')
    expect(hostOf('127.0.0.1:80')).toBe('127.0.0.1')
    for (const bad of [
      '',
      '::1',
      '[::1',
      '[a.test]',
      'a.test:x',
      'a.test:123456',
      'u@a.test',
      'a test',
      'a.test/x',
      'é.test',
      42,
    ])
      expect(hostOf(bad)).toBeUndefined()
  })
})

describe('RFC 8705 certificate-bound tokens', () => {
  it('matches cnf["x5t#S256"] exactly and nothing else', async () => {
    const alice = await caA.issueClient({ subject: 'CN=alice' })
    const thumb = Buffer.from(alice.fingerprint256, 'hex').toString('base64url')
    expect(isCertificateBound({ cnf: { 'x5t#S256': thumb } }, thumb)).toBe(true)
    expect(isCertificateBound({ cnf: { 'x5t#S256': thumb } }, { x5tS256: thumb })).toBe(true)
    expect(
      isCertificateBound(
        { cnf: { 'x5t#S256': `${thumb.slice(0, -1)}${thumb.endsWith('A') ? 'B' : 'A'}` } },
        thumb,
      ),
    ).toBe(false)
    expect(isCertificateBound({ cnf: { jkt: thumb } }, thumb)).toBe(false)
    expect(isCertificateBound({}, thumb)).toBe(false)
    expect(isCertificateBound(null, thumb)).toBe(false)
    expect(isCertificateBound({ cnf: { 'x5t#S256': thumb } }, '')).toBe(false)
    expect(isCertificateBound({ cnf: Object.create({ 'x5t#S256': thumb }) }, thumb)).toBe(false)
  })
})
