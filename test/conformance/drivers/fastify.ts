import type { AddressInfo } from 'node:net'
import { clientCert } from '@clientcert/fastify'
import Fastify, { type FastifyInstance } from 'fastify'
import { type AppSpec, type Driver, type ListenOptions, type Probes, summarise, urlOf } from '../driver.js'

/**
 * Fastify 5 with the plugin registered before the routes. The JSON content-type parser is
 * wrapped to count runs; authentication happens in onRequest, before any parser.
 */
function build(spec: AppSpec, probes: Probes, listen: ListenOptions, http2: boolean): FastifyInstance {
  const tlsOpts = listen.tls
  const app = (tlsOpts && http2
    ? Fastify({ http2: true, https: { ...tlsOpts, allowHTTP1: true } })
    : tlsOpts
      ? Fastify({ https: tlsOpts })
      : Fastify()) as unknown as FastifyInstance
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    probes.parsed++
    parseJson(req, body as string, done)
  })
  app.register(clientCert, { ...spec.auth, optional: spec.optional ?? false })
  app.register(async (routes) => {
    routes.get('/whoami', async (req) => {
      probes.handled++
      return { principal: summarise(req.clientCert), httpVersion: req.raw.httpVersion }
    })
    routes.post('/echo', async (req) => {
      probes.handled++
      return { principal: summarise(req.clientCert), body: req.body }
    })
    const admin = { config: { clientCert: { allow: spec.adminPolicy ?? { ids: ['admin'] } } } }
    routes.get('/admin', admin, async (req) => {
      probes.handled++
      return { principal: summarise(req.clientCert) }
    })
    routes.post('/admin', admin, async (req) => {
      probes.handled++
      return { principal: summarise(req.clientCert), body: req.body }
    })
  })
  return app
}

function driver(name: string, http2: boolean): Driver {
  return {
    name,
    canMisorder: false,
    http2,
    async start(spec, probes, listen) {
      const app = build(spec, probes, listen, http2)
      if (listen.path) await app.listen({ path: listen.path })
      else await app.listen({ port: 0, host: listen.host })
      return {
        url: listen.path ? `unix:${listen.path}` : urlOf(app.server.address() as AddressInfo, listen),
        close: async () => {
          const server = app.server as { closeAllConnections?: () => void }
          server.closeAllConnections?.()
          await app.close()
        },
      }
    },
  }
}

export const fastifyDriver = driver('fastify', false)
export const fastifyHttp2Driver = driver('fastify-http2', true)
