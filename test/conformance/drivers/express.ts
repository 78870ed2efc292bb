import { clientCert, requireClientCert } from '@clientcert/express'
import express, { type Express, type RequestHandler } from 'express'
import { type AppSpec, type Driver, type Probes, serveNode, summarise } from '../driver.js'

/** Express 5 with `clientCert()` mounted first, as the docs tell users to. */
export const expressDriver: Driver = {
  name: 'express',
  canMisorder: true,
  async start(spec, probes, listen) {
    const app = express()
    const auth = clientCert({
      ...spec.auth,
      optional: spec.optional ?? false,
      logger: driverLogger(probes),
    })
    if (spec.misordered) app.use(instrumentedParser(probes))
    app.use(auth)
    return serveNode(expressRoutes(app, spec, probes), listen)
  },
}

/**
 * The driver contract's routes on an Express app; `/admin` behind `admin` (default:
 * `requireClientCert(spec.adminPolicy)`).
 */
export function expressRoutes(
  app: Express,
  spec: AppSpec,
  probes: Probes,
  admin: RequestHandler = requireClientCert(spec.adminPolicy ?? { ids: ['admin'] }),
): Express {
  const parser = instrumentedParser(probes)
  app.get('/whoami', (req, res) => {
    probes.handled++
    res.json({ principal: summarise(req.clientCert), httpVersion: req.httpVersion })
  })
  app.post('/echo', parser, (req, res) => {
    probes.handled++
    res.json({ principal: summarise(req.clientCert), body: req.body })
  })
  app.get('/admin', admin, (req, res) => {
    probes.handled++
    res.json({ principal: summarise(req.clientCert) })
  })
  app.post('/admin', admin, parser, (req, res) => {
    probes.handled++
    res.json({ principal: summarise(req.clientCert), body: req.body })
  })
  return app
}

/** `express.json()`, counting every request it starts on. */
export function instrumentedParser(probes: Probes): RequestHandler {
  const json = express.json()
  return (req, res, next) => {
    probes.parsed++
    json(req, res, next)
  }
}

/** Configuration errors go to the probes; per-request rejections are not logged. */
export function driverLogger(probes: Probes) {
  return {
    info: () => {},
    warn: (m: string) => probes.logged.push(m),
    error: (m: string) => probes.logged.push(m),
  }
}
