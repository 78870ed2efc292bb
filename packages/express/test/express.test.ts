import { execFileSync } from 'node:child_process'
import { ClientCertConfigError } from '@clientcert/core'
import { clientCert, requireClientCert } from '@clientcert/express'
import { createTestPki, requestWithUndici, startMtlsServer } from '@clientcert/testing'
import express from 'express'
import { afterEach, describe, expect, it, vi } from 'vitest'

describe('@clientcert/express configuration', () => {
  it('throws coded errors at construction', () => {
    const cases: Array<[() => unknown, string]> = [
      [() => clientCert({ allow: { authenticated: true }, nope: 1 } as never), 'nope'],
      [() => clientCert({ identity: 'cn' } as never), 'allow'],
      [() => clientCert({ allow: { authenticated: true }, optional: 'yes' } as never), 'optional'],
      [() => clientCert({ authenticator: {} } as never), 'authenticator'],
      [() => clientCert({ allow: { authenticated: true }, logger: { info() {} } } as never), 'logger'],
      [() => requireClientCert({ ids: ['a'], groups: ['b'] } as never), 'requireClientCert(policy)'],
      [
        () => requireClientCert({ spiffe: { trustDomain: 'Example.org' } }),
        'requireClientCert(policy).spiffe.trustDomain',
      ],
    ]
    for (const [fn, option] of cases) {
      let caught: unknown
      try {
        fn()
      } catch (err) {
        caught = err
      }
      expect(caught).toBeInstanceOf(ClientCertConfigError)
      expect(caught).toMatchObject({ code: 'ERR_CLIENT_CERT_INVALID_OPTION', option })
    }
  })

  it('requireClientCert() without clientCert() before it fails closed with 500', async () => {
    const pki = await createTestPki()
    const app = express()
    let handled = false
    app.get('/', requireClientCert(), (_req, res) => {
      handled = true
      res.end('ok')
    })
    const server = await startMtlsServer(app, { pki, rejectUnauthorized: false })
    try {
      const alice = await pki.issueClient({ subject: 'CN=alice' })
      const res = await requestWithUndici(server.url, { client: alice, ca: pki.serverCa.pem })
      expect(res.status).toBe(500)
      expect(res.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_MISCONFIGURED', status: 500 })
      expect(handled).toBe(false)
    } finally {
      await server.close()
    }
  })

  describe('logging in the default configuration', () => {
    afterEach(() => vi.restoreAllMocks())

    it('logs each rejection once at info (code, status, path, reason; never the certificate or the query)', async () => {
      const info = vi.spyOn(console, 'info').mockImplementation(() => {})
      const pki = await createTestPki()
      const app = express()
      app.use(clientCert({ identity: 'cn', allow: { ids: ['alice'] } }))
      app.get('/whoami', (_req, res) => res.end('ok'))
      const server = await startMtlsServer(app, { pki, rejectUnauthorized: false })
      try {
        const mallory = await pki.issueClient({ subject: 'CN=mallory' })
        const res = await requestWithUndici(`${server.url}/whoami?token=secret`, {
          client: mallory,
          ca: pki.serverCa.pem,
        })
        expect(res.status).toBe(403)
        const lines = info.mock.calls.map((c) => String(c[0]))
        expect(lines).toHaveLength(1)
        expect(lines[0]).toMatch(/^clientcert: rejected GET \/whoami: 403 ERR_CLIENT_CERT_NOT_ALLOWED \(/)
        expect(lines[0]).not.toMatch(/secret|BEGIN CERTIFICATE/)
      } finally {
        await server.close()
      }
    })

    it('a server created without requestCert: the reason says so, and it is logged once at warn', async () => {
      const info = vi.spyOn(console, 'info').mockImplementation(() => {})
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
      const pki = await createTestPki()
      const app = express()
      app.use(clientCert({ identity: 'cn', allow: { authenticated: true } }))
      app.get('/', (_req, res) => res.end('ok'))
      const server = await startMtlsServer(app, { pki, requestCert: false, rejectUnauthorized: false })
      try {
        const alice = await pki.issueClient({ subject: 'CN=alice' })
        for (let i = 0; i < 3; i++) {
          const res = await requestWithUndici(server.url, { client: alice, ca: pki.serverCa.pem })
          expect(res.status).toBe(401)
          expect(res.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_MISSING' })
        }
        expect(info).toHaveBeenCalledTimes(3)
        expect(String(info.mock.calls[0]?.[0])).toMatch(/the server did not request a client certificate/)
        expect(warn).toHaveBeenCalledTimes(1)
        expect(String(warn.mock.calls[0]?.[0])).toMatch(/requestCert: true/)
      } finally {
        await server.close()
      }
    })

    it('logger: false is silent; a function takes every line', async () => {
      const info = vi.spyOn(console, 'info').mockImplementation(() => {})
      const lines: string[] = []
      const pki = await createTestPki()
      const app = express()
      app.get(
        '/quiet',
        clientCert({ identity: 'cn', allow: { authenticated: true }, logger: false }),
        (_q, r) => r.end('ok'),
      )
      app.get(
        '/fn',
        clientCert({ identity: 'cn', allow: { authenticated: true }, logger: (m) => lines.push(m) }),
        (_q, r) => r.end('ok'),
      )
      const server = await startMtlsServer(app, { pki, rejectUnauthorized: false })
      try {
        expect((await requestWithUndici(`${server.url}/quiet`, { ca: pki.serverCa.pem })).status).toBe(401)
        expect((await requestWithUndici(`${server.url}/fn`, { ca: pki.serverCa.pem })).status).toBe(401)
        expect(info).not.toHaveBeenCalled()
        expect(lines).toEqual([
          expect.stringMatching(/^clientcert: rejected GET \/fn: 401 ERR_CLIENT_CERT_MISSING/),
        ])
      } finally {
        await server.close()
      }
    })
  })

  it('loads from CommonJS and from ESM', () => {
    const cjs = execFileSync(
      process.execPath,
      [
        '-e',
        "const m = require('@clientcert/express'); console.log(typeof m.clientCert, typeof m.requireClientCert)",
      ],
      {
        cwd: new URL('..', import.meta.url),
      },
    )
    expect(cjs.toString().trim()).toBe('function function')
    const esm = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const m = await import('@clientcert/express'); console.log(typeof m.clientCert)",
      ],
      { cwd: new URL('..', import.meta.url) },
    )
    expect(esm.toString().trim()).toBe('function')
  })
})
