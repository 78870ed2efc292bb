import { clientCert, requireClientCert } from '@clientcert/express'
import express, { type RequestHandler } from 'express'
import { type Driver, serveNode, summarise } from '../driver.js'

/** Express 5 with `clientCert()` mounted first, as the docs tell users to. */
export const expressDriver: Driver = {
  name: 'express',
  canMisorder: true,
  async start(spec, probes, listen) {
    const app = express()
    const json = express.json()
    const parser: RequestHandler = (req, res, next) => {
      probes.parsed++
      json(req, res, next)
    }
    const auth = clientCert({
      ...spec.auth,
      optional: spec.optional ?? false,
      logger: { info: () => {}, warn: (m) => probes.logged.push(m), error: (m) => probes.logged.push(m) },
    })
    if (spec.misordered) app.use(parser)
    app.use(auth)
    app.get('/whoami', (req, res) => {
      probes.handled++
      res.json({ principal: summarise(req.clientCert), httpVersion: req.httpVersion })
    })
    app.post('/echo', parser, (req, res) => {
      probes.handled++
      res.json({ principal: summarise(req.clientCert), body: req.body })
    })
    const admin = requireClientCert(spec.adminPolicy ?? { ids: ['admin'] })
    app.get('/admin', admin, (req, res) => {
      probes.handled++
      res.json({ principal: summarise(req.clientCert) })
    })
    app.post('/admin', admin, parser, (req, res) => {
      probes.handled++
      res.json({ principal: summarise(req.clientCert), body: req.body })
    })
    return serveNode(app, listen)
  },
}
