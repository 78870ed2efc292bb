import { requireClientCert, withClientCert } from '@clientcert/express'
import express, { type RequestHandler } from 'express'
import { type Driver, serveNode, summarise } from '../driver.js'

/**
 * Express 5 behind `withClientCert(app, options)`: the authentication stage is the server's
 * request listener, in front of the whole app. Nothing can be mounted before it, so the
 * misordering refusal does not apply (`canMisorder: false`).
 */
export const expressFrontDriver: Driver = {
  name: 'express (withClientCert)',
  canMisorder: false,
  async start(spec, probes, listen) {
    const app = express()
    const json = express.json()
    const parser: RequestHandler = (req, res, next) => {
      probes.parsed++
      json(req, res, next)
    }
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
    const listener = withClientCert(app, {
      ...spec.auth,
      optional: spec.optional ?? false,
      logger: { info: () => {}, warn: (m) => probes.logged.push(m), error: (m) => probes.logged.push(m) },
    })
    return serveNode(listener, listen)
  },
}
