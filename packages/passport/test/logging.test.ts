import { ClientCertConfigError, type ClientCertOptions } from '@clientcert/core'
import { ClientCertStrategy, clientCertErrorHandler, type VerifyFunction } from '@clientcert/passport'
import {
  createTestPki,
  type RunningServer,
  requestWithUndici,
  startMtlsServer,
  type TestPki,
} from '@clientcert/testing'
import express from 'express'
import { Passport } from 'passport'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'

let pki: TestPki
beforeAll(async () => {
  pki = await createTestPki()
})
const servers: RunningServer[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  for (const s of servers.splice(0)) await s.close()
})

const base: ClientCertOptions = { identity: 'cn', allow: { ids: ['alice'] } }
const asUser: VerifyFunction = (principal, done) => done(null, { name: principal.id })

async function app(strategy: ClientCertStrategy, requestCert = true): Promise<string> {
  const passport = new Passport()
  passport.use(strategy)
  const a = express()
  a.use(passport.authenticate(strategy.name, { session: false, failWithError: true }))
  a.get('/whoami', (_req, res) => res.end('ok'))
  a.use(clientCertErrorHandler())
  const server = await startMtlsServer(a, { pki, requestCert, rejectUnauthorized: false })
  servers.push(server)
  return server.url
}

describe('@clientcert/passport logging in the default configuration', () => {
  it('logs each rejection once at info on the console (strategy and error handler together), never the certificate', async () => {
    const info = vi.spyOn(console, 'info').mockImplementation(() => {})
    const url = await app(new ClientCertStrategy(base, asUser))
    const mallory = await pki.issueClient({ subject: 'CN=mallory' })
    const alice = await pki.issueClient({ subject: 'CN=alice' })
    const r1 = await requestWithUndici(`${url}/whoami?token=secret`, { client: null, ca: pki.serverCa.pem })
    const r2 = await requestWithUndici(`${url}/whoami`, { client: mallory, ca: pki.serverCa.pem })
    const r3 = await requestWithUndici(`${url}/whoami`, { client: alice, ca: pki.serverCa.pem })
    expect([r1.status, r2.status, r3.status]).toEqual([401, 403, 200])
    const lines = info.mock.calls.map((c) => String(c[0]))
    expect(lines).toEqual([
      expect.stringMatching(/^clientcert: rejected GET \/whoami: 401 ERR_CLIENT_CERT_MISSING \(/),
      expect.stringMatching(/^clientcert: rejected GET \/whoami: 403 ERR_CLIENT_CERT_NOT_ALLOWED \(/),
    ])
    for (const l of lines) expect(l).not.toMatch(/secret|BEGIN CERTIFICATE/)
  })

  it('a server without requestCert: the reason says so, warned once', async () => {
    const info = vi.spyOn(console, 'info').mockImplementation(() => {})
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const url = await app(new ClientCertStrategy(base, asUser), false)
    const alice = await pki.issueClient({ subject: 'CN=alice' })
    for (let i = 0; i < 3; i++) {
      const res = await requestWithUndici(`${url}/whoami`, { client: alice, ca: pki.serverCa.pem })
      expect(res.status).toBe(401)
    }
    expect(info).toHaveBeenCalledTimes(3)
    expect(String(info.mock.calls[0]?.[0])).toMatch(/the server did not request a client certificate/)
    expect(warn).toHaveBeenCalledTimes(1)
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/requestCert: true/)
  })

  it('logger: false silences the strategy; optional mode does not log a missing certificate', async () => {
    const info = vi.spyOn(console, 'info').mockImplementation(() => {})
    const lines: string[] = []
    const passport = new Passport()
    passport.use(new ClientCertStrategy({ ...base, name: 'quiet', logger: false }, asUser))
    passport.use(
      new ClientCertStrategy(
        { ...base, name: 'chain', optional: true, logger: (m) => lines.push(m) },
        asUser,
      ),
    )
    const a = express()
    a.get('/quiet', passport.authenticate('quiet', { session: false, failWithError: true }), (_q, r) =>
      r.end(),
    )
    a.get('/chain', passport.authenticate('chain', { session: false, failWithError: true }), (_q, r) =>
      r.end(),
    )
    a.use(clientCertErrorHandler({ logger: false }))
    const server = await startMtlsServer(a, { pki, rejectUnauthorized: false })
    servers.push(server)
    expect((await requestWithUndici(`${server.url}/quiet`, { ca: pki.serverCa.pem })).status).toBe(401)
    expect((await requestWithUndici(`${server.url}/chain`, { ca: pki.serverCa.pem })).status).toBe(401)
    expect(info).not.toHaveBeenCalled()
    expect(lines).toEqual([])
  })
})

describe('@clientcert/passport options', () => {
  it('an unknown option is named with every option the strategy takes', () => {
    let err: unknown
    try {
      new ClientCertStrategy({ ...base, loger: false } as never, asUser)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ClientCertConfigError)
    expect(err).toMatchObject({ option: 'loger' })
    for (const name of ['name', 'optional', 'passReqToCallback', 'logger', 'authenticator', 'allow', 'trust'])
      expect((err as Error).message).toContain(name)
  })

  it('logger must be a logger, a function or false', () => {
    expect(() => new ClientCertStrategy({ ...base, logger: { info() {} } } as never, asUser)).toThrow(
      expect.objectContaining({ option: 'logger' }),
    )
    expect(() => clientCertErrorHandler({ logger: 'x' } as never)).toThrow(
      expect.objectContaining({ option: 'logger' }),
    )
  })
})
