import type { ClientCertEnv } from '@clientcert/hono'
import { clientCert, requireClientCert } from '@clientcert/hono'
import { getRequestListener } from '@hono/node-server'
import { Hono, type MiddlewareHandler } from 'hono'
import { type Driver, serveNode, summarise } from '../driver.js'

/** Hono on `@hono/node-server` (HTTP/1.1), with `clientCert()` mounted first. */
export const honoDriver: Driver = {
  name: 'hono (node-server)',
  canMisorder: true,
  async start(spec, probes, listen) {
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
    // As `serve({ hostname })` does: a request without Host is given the listening host name (and
    // then reaches clientcert, which answers 421 where trust depends on the server name).
    const listener = getRequestListener(app.fetch, { hostname: listen.host })
    return serveNode(listener as Parameters<typeof serveNode>[0], listen)
  },
}
