import { execFileSync } from 'node:child_process'
import { Writable } from 'node:stream'
import { ClientCertConfigError } from '@clientcert/core'
import { clientCert } from '@clientcert/fastify'
import {
  createTestPki,
  listenOnLoopback,
  mtlsServerOptions,
  requestWithUndici,
  slowBodyRequest,
  type TestPki,
} from '@clientcert/testing'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'

let pki: TestPki
beforeAll(async () => {
  pki = await createTestPki()
})

const apps: FastifyInstance[] = []
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close()
})

function tlsApp(logs?: string[]): FastifyInstance {
  const logger = logs
    ? {
        level: 'info',
        stream: new Writable({ write: (chunk, _enc, cb) => (logs.push(String(chunk)), cb()) }),
      }
    : false
  const app = Fastify({
    https: mtlsServerOptions({ pki, rejectUnauthorized: false }),
    logger,
  }) as unknown as FastifyInstance
  apps.push(app)
  return app
}

async function expectConfigError(promise: PromiseLike<unknown>, option: string | RegExp): Promise<void> {
  const err = await Promise.resolve(promise).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(ClientCertConfigError)
  expect(err).toMatchObject({ code: 'ERR_CLIENT_CERT_INVALID_OPTION' })
  expect((err as ClientCertConfigError).option).toMatch(option)
}

describe('@clientcert/fastify registration', () => {
  it('fails ready() on bad plugin options, with the option named', async () => {
    const app = tlsApp()
    app.register(clientCert, { allow: { authenticated: true }, identity: 'common-name' } as never)
    await expectConfigError(app.ready(), 'identity')
  })

  it("fails ready() on a route's bad config.clientCert (routes in a plugin)", async () => {
    const app = tlsApp()
    app.register(clientCert, { allow: { authenticated: true } })
    app.register(async (routes) => {
      routes.get(
        '/x',
        { config: { clientCert: { allow: { ids: ['a'], groups: ['b'] } as never } } },
        async () => 'x',
      )
    })
    await expectConfigError(app.ready(), /config\.clientCert of GET \/x\.allow/)
  })

  it('throws when a route with an unknown key in config.clientCert is added', async () => {
    const app = tlsApp()
    await app.register(clientCert, { allow: { authenticated: true } })
    let thrown: unknown
    try {
      app.get('/x', { config: { clientCert: { alow: { ids: ['a'] } } as never } }, async () => 'x')
    } catch (err) {
      thrown = err
    }
    await expectConfigError(Promise.reject(thrown), /config\.clientCert of GET \/x\.alow/)
  })
})

describe('@clientcert/fastify registered after routes', () => {
  it('refuses at startup when a route was declared before the plugin (same scope)', async () => {
    const app = tlsApp()
    app.get('/early', { config: { clientCert: { alow: { ids: ['a'] } } as never } }, async () => 'x')
    app.register(clientCert, { allow: { authenticated: true } })
    await expectConfigError(app.ready(), '@clientcert/fastify')
  })

  it('refuses at startup when a sibling scope declared routes first (they would get no onRequest hook at all)', async () => {
    const app = tlsApp()
    app.register(async (early) => {
      early.get('/unprotected', async () => 'x')
    })
    app.register(clientCert, { allow: { authenticated: true } })
    app.get('/late', async () => 'ok')
    const err = await app.ready().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(ClientCertConfigError)
    // Also /late: app.get() on the root runs now, while register() only queues the plugin.
    expect((err as Error).message).toMatch(
      /registered after routes were declared \(.*\/unprotected \(GET, HEAD\)/,
    )
  })

  it('a route declared after the plugin, in the same or a child scope, is fine', async () => {
    const app = tlsApp()
    await app.register(clientCert, { allow: { authenticated: true } })
    app.get('/a', async () => 'ok')
    app.register(async (child) => {
      child.get('/b', async () => 'ok')
    })
    const url = await listenOnLoopback(app)
    const res = await requestWithUndici(`${url}/b`, { ca: pki.serverCa.pem })
    expect(res.status).toBe(401)
    expect(res.headers['content-type']).toBe('application/problem+json')
  })

  it("a logger option takes the lines instead of Fastify's logger", async () => {
    const lines: string[] = []
    const app = tlsApp()
    await app.register(clientCert, { allow: { authenticated: true }, logger: (m) => lines.push(m) })
    app.get('/', async () => 'ok')
    const url = await listenOnLoopback(app)
    expect((await requestWithUndici(url, { ca: pki.serverCa.pem })).status).toBe(401)
    expect(lines).toEqual([
      expect.stringMatching(/^clientcert: rejected GET \/: 401 ERR_CLIENT_CERT_MISSING/),
    ])
  })
})

describe('@clientcert/fastify before the body', () => {
  it('rejects malformed JSON and a slow 10 MB body with 401 before any content-type parser runs', async () => {
    const app = tlsApp()
    let parsed = 0
    app.removeContentTypeParser('application/json')
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
      parsed++
      done(null, JSON.parse(body as string))
    })
    await app.register(clientCert, { allow: { authenticated: true } })
    let handled = 0
    app.post('/echo', async (req) => {
      handled++
      return req.body
    })
    const url = await listenOnLoopback(app)
    const bad = await requestWithUndici(url, {
      path: '/echo',
      method: 'POST',
      body: '{"a":',
      headers: { 'content-type': 'application/json' },
      ca: pki.serverCa.pem,
    })
    expect(bad.status).toBe(401)
    expect(bad.json()).toEqual({
      type: 'about:blank',
      title: 'Unauthorized',
      status: 401,
      detail: 'A client certificate is required.',
      code: 'ERR_CLIENT_CERT_MISSING',
    })
    const slow = await slowBodyRequest(url, {
      path: '/echo',
      ca: pki.serverCa.pem,
      headers: { 'content-type': 'application/json' },
    })
    expect(slow.status).toBe(401)
    expect(parsed).toBe(0)
    expect(handled).toBe(0)
  })
})

describe('@clientcert/fastify errors and logging', () => {
  it('logs the rejection reason through the framework logger, never into the body', async () => {
    const logs: string[] = []
    const app = tlsApp(logs)
    await app.register(clientCert, { allow: { authenticated: true } })
    app.get('/', async () => 'ok')
    const url = await listenOnLoopback(app)
    const expired = await pki.issueClient({
      subject: 'CN=old',
      notBefore: new Date(Date.now() - 2 * 86_400_000),
      notAfter: new Date(Date.now() - 3_600_000),
    })
    const res = await requestWithUndici(url, { client: expired, ca: pki.serverCa.pem })
    expect(res.status).toBe(401)
    expect(res.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_EXPIRED' })
    expect(res.body).not.toMatch(/CERT_HAS_EXPIRED|expired at/)
    const line = logs
      .map((l) => JSON.parse(l) as { code?: string; reason?: string })
      .find((l) => l.code === 'ERR_CLIENT_CERT_EXPIRED')
    expect(line?.reason).toMatch(/expired/)
  })

  it("hands ClientCertErrors with code and statusCode to an application's own error handler", async () => {
    const app = tlsApp()
    await app.register(clientCert, { allow: { authenticated: true } })
    app.setErrorHandler((err: { code?: string; statusCode?: number }, _req, reply) => {
      reply.code(err.statusCode ?? 500).send({ mine: true, code: err.code })
    })
    app.get('/', async () => 'ok')
    const url = await listenOnLoopback(app)
    const res = await requestWithUndici(url, { ca: pki.serverCa.pem })
    expect(res.status).toBe(401)
    expect(res.json()).toEqual({ mine: true, code: 'ERR_CLIENT_CERT_MISSING' })
  })

  it('lets other errors through to Fastify', async () => {
    const app = tlsApp()
    await app.register(clientCert, { allow: { authenticated: true } })
    app.get('/boom', async () => {
      throw Object.assign(new Error('teapot'), { statusCode: 418 })
    })
    const url = await listenOnLoopback(app)
    const alice = await pki.issueClient({ subject: 'CN=alice' })
    const res = await requestWithUndici(url, { path: '/boom', client: alice, ca: pki.serverCa.pem })
    expect(res.status).toBe(418)
    expect(res.json()).toMatchObject({ statusCode: 418, message: 'teapot' })
  })
})

describe('@clientcert/fastify packaging', () => {
  it('loads from CommonJS and from ESM', () => {
    const cwd = new URL('..', import.meta.url)
    const cjs = execFileSync(
      process.execPath,
      ['-e', "const m = require('@clientcert/fastify'); console.log(typeof m.clientCert, typeof m.default)"],
      { cwd },
    )
    expect(cjs.toString().trim()).toBe('function function')
    const esm = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const m = await import('@clientcert/fastify'); console.log(typeof m.clientCert)",
      ],
      { cwd },
    )
    expect(esm.toString().trim()).toBe('function')
  })
})
