import { authenticationOf } from '@clientcert/core'
import { clientCert, requireClientCert } from '@clientcert/express'
import {
  createTestPki,
  createUndiciAgent,
  type IssuedCertificate,
  requestWithUndici,
  startMtlsServer,
  type TestPki,
} from '@clientcert/testing'
import express, { type Request } from 'express'
import { beforeAll, describe, expect, it } from 'vitest'

/**
 * `req.clientCert` is an accessor on Express's request prototypes reading the request's mark, not an
 * own property (docs/benchmarks.md, "Where the Express cost went"). What users do with it must
 * keep working, and the value must belong to its own request only.
 */
describe('req.clientCert under Express', () => {
  let pki: TestPki
  let alice: IssuedCertificate
  beforeAll(async () => {
    pki = await createTestPki()
    alice = await pki.issueClient({ subject: 'CN=alice' })
  })

  const serve = async (app: express.Express) => startMtlsServer(app, { pki, rejectUnauthorized: false })

  it('reads, serialises and destructures like a property; keys and spreads do not list it', async () => {
    const app = express()
    app.use(clientCert({ identity: 'cn', allow: { authenticated: true }, logger: false }))
    app.get('/', (req, res) => {
      const { clientCert: fromDestructuring } = req
      res.json({
        id: req.clientCert?.id,
        json: JSON.parse(JSON.stringify(req.clientCert)).id,
        destructured: fromDestructuring?.id,
        inOperator: 'clientCert' in req,
        own: Object.hasOwn(req, 'clientCert'),
        listed: Object.keys(req).includes('clientCert'),
        spread: ({ ...req } as Partial<Request>).clientCert === undefined,
      })
    })
    const server = await serve(app)
    try {
      const res = await requestWithUndici(server.url, { client: alice, ca: pki.serverCa.pem })
      expect(res.json()).toEqual({
        id: 'alice',
        json: 'alice',
        destructured: 'alice',
        inOperator: true,
        own: false,
        listed: false,
        spread: true,
      })
    } finally {
      await server.close()
    }
  })

  it('application code can still assign req.clientCert (an own property, as before)', async () => {
    const app = express()
    app.use(clientCert({ identity: 'cn', allow: { authenticated: true }, logger: false }))
    app.use((req, _res, next) => {
      if (req.path === '/replace') req.clientCert = undefined
      next()
    })
    app.get('/replace', (req, res) =>
      res.json({ id: req.clientCert?.id ?? null, own: Object.hasOwn(req, 'clientCert') }),
    )
    const server = await serve(app)
    try {
      const res = await requestWithUndici(`${server.url}/replace`, { client: alice, ca: pki.serverCa.pem })
      expect(res.json()).toEqual({ id: null, own: true })
    } finally {
      await server.close()
    }
  })

  it('belongs to its own request only: a route outside clientCert() on the same connection sees nothing', async () => {
    const app = express()
    // /open is routed before clientCert() is mounted: it never authenticates.
    app.get('/open', (req, res) =>
      res.json({ id: req.clientCert?.id ?? null, marked: authenticationOf(req) !== undefined }),
    )
    app.get('/open-guarded', requireClientCert(), (_req, res) => res.end('reached'))
    app.use(clientCert({ identity: 'cn', allow: { authenticated: true }, logger: false }))
    app.get('/whoami', (req, res) => res.json({ id: req.clientCert?.id ?? null }))
    const server = await serve(app)
    let handshakes = 0
    server.server.on('secureConnection', () => handshakes++)
    const agent = createUndiciAgent({ client: alice, ca: pki.serverCa.pem, connections: 1 })
    try {
      const ask = (path: string) =>
        requestWithUndici(server.url, { path, client: alice, ca: pki.serverCa.pem, dispatcher: agent })
      expect((await ask('/whoami')).json()).toEqual({ id: 'alice' })
      expect((await ask('/open')).json()).toEqual({ id: null, marked: false })
      const guarded = await ask('/open-guarded')
      expect(guarded.status).toBe(500)
      expect(guarded.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_MISCONFIGURED' })
      expect((await ask('/whoami')).json()).toEqual({ id: 'alice' })
      expect(handshakes, 'every request on one connection').toBe(1)
    } finally {
      await agent.destroy()
      await server.close()
    }
  })

  it('reaches sub-apps, and the parent after a sub-app that authenticated', async () => {
    const outer = express()
    const api = express()
    api.use(clientCert({ identity: 'cn', allow: { authenticated: true }, logger: false }))
    api.get('/inner', (req, res) => res.json({ id: req.clientCert?.id ?? null }))
    api.use((_req, _res, next) => next())
    outer.use('/api', api)
    outer.get('/api/after', (req, res) => res.json({ id: req.clientCert?.id ?? null }))
    outer.get('/plain', (req, res) => res.json({ id: req.clientCert?.id ?? null }))
    const server = await serve(outer)
    try {
      const ask = async (path: string) =>
        (await requestWithUndici(server.url, { path, client: alice, ca: pki.serverCa.pem })).json()
      expect(await ask('/api/inner')).toEqual({ id: 'alice' })
      expect(await ask('/api/after')).toEqual({ id: 'alice' })
      expect(await ask('/plain')).toEqual({ id: null })
    } finally {
      await server.close()
    }
  })

  it('without Express prototypes (plain node:http) it is an own property', async () => {
    const middleware = clientCert({ identity: 'cn', allow: { authenticated: true }, logger: false })
    const server = await startMtlsServer(
      (req, res) =>
        middleware(req as Request, res as never, () =>
          res.end(
            JSON.stringify({ id: (req as Request).clientCert?.id, own: Object.hasOwn(req, 'clientCert') }),
          ),
        ),
      { pki, rejectUnauthorized: false },
    )
    try {
      const res = await requestWithUndici(server.url, { client: alice, ca: pki.serverCa.pem })
      expect(res.json()).toEqual({ id: 'alice', own: true })
    } finally {
      await server.close()
    }
  })
})
