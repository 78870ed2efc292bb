import type { IncomingMessage, ServerResponse } from 'node:http'
import { authenticationOf } from '@clientcert/core'
import { clientCert, requireClientCert, withClientCert } from '@clientcert/express'
import {
  createTestPki,
  createUndiciAgent,
  type IssuedCertificate,
  requestWithUndici,
  startMtlsServer,
  type TestPki,
} from '@clientcert/testing'
import express from 'express'
import { beforeAll, describe, expect, it } from 'vitest'

/**
 * `withClientCert(app, options)`: the authentication stage in front of the app, as the server's
 * request listener. The whole threat matrix runs against it too (test/conformance, driver
 * "express (withClientCert)"); these tests pin what is particular to it.
 */
describe('withClientCert(app, options)', () => {
  let pki: TestPki
  let alice: IssuedCertificate
  let admin: IssuedCertificate
  let stranger: IssuedCertificate
  beforeAll(async () => {
    pki = await createTestPki()
    alice = await pki.issueClient({ subject: 'CN=alice' })
    admin = await pki.issueClient({ subject: 'CN=admin' })
    stranger = await (await createTestPki()).issueClient({ subject: 'CN=alice' })
  })

  /** An app that counts every request any of its code saw. */
  function countingApp() {
    const seen = { requests: 0 }
    const app = express()
    app.use((_req, _res, next) => {
      seen.requests++
      next()
    })
    app.use(express.json())
    app.get('/whoami', (req, res) =>
      res.json({ id: req.clientCert?.id ?? null, own: Object.hasOwn(req, 'clientCert') }),
    )
    app.post('/echo', (req, res) => res.json({ id: req.clientCert?.id ?? null, body: req.body }))
    app.get('/admin', requireClientCert({ ids: ['admin'] }), (req, res) =>
      res.json({ id: req.clientCert?.id }),
    )
    return { app, seen }
  }

  it('answers a rejected request itself: nothing of the app runs, not even its first middleware', async () => {
    const { app, seen } = countingApp()
    const server = await startMtlsServer(
      withClientCert(app, { identity: 'cn', allow: { authenticated: true }, logger: false }),
      { pki, rejectUnauthorized: false },
    )
    try {
      const none = await requestWithUndici(`${server.url}/whoami`, { ca: pki.serverCa.pem })
      expect(none.status).toBe(401)
      expect(none.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_MISSING' })
      const foreign = await requestWithUndici(`${server.url}/echo`, {
        method: 'POST',
        client: stranger,
        ca: pki.serverCa.pem,
        headers: { 'content-type': 'application/json' },
        body: '{"not":"json',
      })
      expect(foreign.status).toBe(401)
      expect(foreign.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_UNTRUSTED' })
      expect(foreign.body).not.toMatch(/JSON|BEGIN CERTIFICATE|at /)
      expect(seen.requests).toBe(0)
      const ok = await requestWithUndici(`${server.url}/echo`, {
        method: 'POST',
        client: alice,
        ca: pki.serverCa.pem,
        headers: { 'content-type': 'application/json' },
        body: '{"n":1}',
      })
      expect(ok.status).toBe(200)
      expect(ok.json()).toEqual({ id: 'alice', body: { n: 1 } })
      expect(seen.requests).toBe(1)
    } finally {
      await server.close()
    }
  })

  it("sets req.clientCert as the request's own property and the mark requireClientCert() reads", async () => {
    const { app } = countingApp()
    const server = await startMtlsServer(
      withClientCert(app, { identity: 'cn', allow: { authenticated: true }, logger: false }),
      { pki, rejectUnauthorized: false },
    )
    try {
      const who = await requestWithUndici(`${server.url}/whoami`, { client: alice, ca: pki.serverCa.pem })
      expect(who.json()).toEqual({ id: 'alice', own: true })
      const denied = await requestWithUndici(`${server.url}/admin`, { client: alice, ca: pki.serverCa.pem })
      expect(denied.status).toBe(403)
      expect(denied.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_NOT_ALLOWED' })
      const allowed = await requestWithUndici(`${server.url}/admin`, { client: admin, ca: pki.serverCa.pem })
      expect(allowed.status).toBe(200)
      expect(allowed.json()).toEqual({ id: 'admin' })
    } finally {
      await server.close()
    }
  })

  it('each request of a keep-alive connection carries its own mark and value', async () => {
    const marks: unknown[] = []
    const app = express()
    app.get('/', (req, res) => {
      marks.push(authenticationOf(req))
      res.json({ id: req.clientCert?.id ?? null })
    })
    const listener = withClientCert(app, { identity: 'cn', allow: { authenticated: true }, logger: false })
    const requests: IncomingMessage[] = []
    const server = await startMtlsServer(
      (req: IncomingMessage, res: ServerResponse) => {
        requests.push(req)
        listener(req, res)
      },
      { pki, rejectUnauthorized: false },
    )
    const agent = createUndiciAgent({ client: alice, ca: pki.serverCa.pem, connections: 1 })
    try {
      for (let i = 0; i < 3; i++) {
        const res = await requestWithUndici(server.url, {
          client: alice,
          ca: pki.serverCa.pem,
          dispatcher: agent,
        })
        expect(res.json()).toEqual({ id: 'alice' })
      }
      expect(new Set(requests.map((r) => r.socket)).size, 'one connection').toBe(1)
      expect(marks).toHaveLength(3)
      for (const [i, req] of requests.entries()) {
        expect(authenticationOf(req)).toBe(marks[i])
        expect((req as { clientCert?: { id: string } }).clientCert?.id).toBe('alice')
      }
    } finally {
      await agent.destroy()
      await server.close()
    }
  })

  it('optional: a client without a certificate reaches the app anonymously; guarded routes refuse it', async () => {
    const { app, seen } = countingApp()
    const server = await startMtlsServer(
      withClientCert(app, { identity: 'cn', allow: { authenticated: true }, optional: true, logger: false }),
      { pki, rejectUnauthorized: false },
    )
    try {
      const anonymous = await requestWithUndici(`${server.url}/whoami`, { ca: pki.serverCa.pem })
      expect(anonymous.json()).toEqual({ id: null, own: true })
      const guarded = await requestWithUndici(`${server.url}/admin`, { ca: pki.serverCa.pem })
      expect(guarded.status).toBe(401)
      expect(guarded.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_MISSING' })
      // A certificate that is presented but invalid is still refused, before the app.
      const before = seen.requests
      const foreign = await requestWithUndici(`${server.url}/whoami`, {
        client: stranger,
        ca: pki.serverCa.pem,
      })
      expect(foreign.status).toBe(401)
      expect(seen.requests).toBe(before)
    } finally {
      await server.close()
    }
  })

  it('logs each rejection where clientCert() does, and requireClientCert() uses the same logger', async () => {
    const lines: string[] = []
    const logger = { info: (m: string) => lines.push(`info ${m}`), warn: () => {}, error: () => {} }
    const { app } = countingApp()
    const server = await startMtlsServer(
      withClientCert(app, { identity: 'cn', allow: { authenticated: true }, logger }),
      {
        pki,
        rejectUnauthorized: false,
      },
    )
    try {
      await requestWithUndici(`${server.url}/whoami`, { ca: pki.serverCa.pem })
      await requestWithUndici(`${server.url}/admin`, { client: alice, ca: pki.serverCa.pem })
      expect(lines).toHaveLength(2)
      expect(lines[0]).toMatch(/ERR_CLIENT_CERT_MISSING/)
      expect(lines[1]).toMatch(/ERR_CLIENT_CERT_NOT_ALLOWED/)
      expect(lines.join('\n')).not.toMatch(/BEGIN CERTIFICATE/)
    } finally {
      await server.close()
    }
  })

  it('refuses at construction what it cannot run: no app, or an unknown option', () => {
    const options = { identity: 'cn', allow: { authenticated: true } } as const
    for (const app of [undefined, null, {}, 'app']) {
      let caught: unknown
      try {
        withClientCert(app as never, options)
      } catch (err) {
        caught = err
      }
      expect(caught).toMatchObject({ code: 'ERR_CLIENT_CERT_INVALID_OPTION', option: 'app' })
    }
    expect(() => withClientCert(express(), { ...options, optionl: true } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_CLIENT_CERT_INVALID_OPTION', option: 'optionl' }),
    )
    // The same options as clientCert(): what one accepts the other does.
    expect(() => clientCert({ ...options, optional: true })).not.toThrow()
    expect(() => withClientCert(express(), { ...options, optional: true })).not.toThrow()
  })
})
