import * as http2 from 'node:http2'
import type { AddressInfo, Socket } from 'node:net'
import type { ClientCertEnv } from '@clientcert/hono'
import { clientCert, requireClientCert } from '@clientcert/hono'
import { getRequestListener } from '@hono/node-server'
import { Hono, type MiddlewareHandler } from 'hono'
import { type AppSpec, type Driver, type Probes, serveNode, summarise, urlOf } from '../driver.js'

function build(spec: AppSpec, probes: Probes): Hono<ClientCertEnv> {
  const app = new Hono<ClientCertEnv>()
  const readJson = async (c: { req: { json(): Promise<unknown> } }): Promise<unknown> => {
    probes.parsed++
    return c.req.json()
  }
  if (spec.misordered) {
    const early: MiddlewareHandler<ClientCertEnv> = async (c, next) => {
      if (c.req.method === 'POST') await readJson(c).catch(() => undefined)
      await next()
    }
    app.use(early)
  }
  app.use(
    clientCert({ ...spec.auth, optional: spec.optional ?? false, logger: (m) => probes.logged.push(m) }),
  )
  app.get('/whoami', (c) => {
    probes.handled++
    return c.json({ principal: summarise(c.get('clientCert')), httpVersion: c.env.incoming.httpVersion })
  })
  app.post('/echo', async (c) => {
    const body = await readJson(c).catch(() => undefined)
    if (body === undefined) return c.json({ error: 'bad json' }, 400)
    probes.handled++
    return c.json({ principal: summarise(c.get('clientCert')), body })
  })
  const admin = requireClientCert(spec.adminPolicy ?? { ids: ['admin'] })
  app.get('/admin', admin, (c) => {
    probes.handled++
    return c.json({ principal: summarise(c.get('clientCert')) })
  })
  app.post('/admin', admin, async (c) => {
    const body = await readJson(c).catch(() => undefined)
    if (body === undefined) return c.json({ error: 'bad json' }, 400)
    probes.handled++
    return c.json({ principal: summarise(c.get('clientCert')), body })
  })
  return app
}

/** Hono on `@hono/node-server` (HTTP/1.1), with `clientCert()` mounted first. */
export const honoDriver: Driver = {
  name: 'hono (node-server)',
  canMisorder: true,
  async start(spec, probes, listen) {
    // As `serve({ hostname })` does: a request without Host is given the listening host name (and
    // then reaches clientcert, which answers 421 where trust depends on the server name).
    const listener = getRequestListener(build(spec, probes).fetch, { hostname: listen.host })
    return serveNode(listener as Parameters<typeof serveNode>[0], listen)
  },
}

/** The same app on an HTTP/2 TLS server (`allowHTTP1`), as `serve({ createServer: http2.createSecureServer })` runs it. */
export const honoHttp2Driver: Driver = {
  name: 'hono-http2 (node-server)',
  canMisorder: true,
  http2: true,
  async start(spec, probes, listen) {
    const listener = getRequestListener(build(spec, probes).fetch, { hostname: listen.host })
    if (!listen.tls) return serveNode(listener as Parameters<typeof serveNode>[0], listen)
    const server = http2.createSecureServer({ ...listen.tls, allowHTTP1: true }, listener)
    const sessions = new Set<http2.ServerHttp2Session>()
    server.on('session', (s) => {
      sessions.add(s)
      s.on('close', () => sessions.delete(s))
    })
    const sockets = new Set<Socket>()
    server.on('secureConnection', (s) => {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
    })
    await new Promise<void>((resolve) => server.listen(0, listen.host, resolve))
    return {
      url: urlOf(server.address() as AddressInfo, listen),
      close: () =>
        new Promise<void>((resolve) => {
          for (const s of sessions) s.destroy()
          for (const s of sockets) s.destroy()
          server.close(() => resolve())
        }),
    }
  },
}
