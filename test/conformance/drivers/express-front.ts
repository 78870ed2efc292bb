import { withClientCert } from '@clientcert/express'
import express from 'express'
import { type Driver, serveNode } from '../driver.js'
import { driverLogger, expressRoutes } from './express.js'

/**
 * Express 5 behind `withClientCert(app, options)`: the authentication stage is the server's
 * request listener, in front of the whole app. Nothing can be mounted before it, so the
 * misordering refusal does not apply (`canMisorder: false`).
 */
export const expressFrontDriver: Driver = {
  name: 'express (withClientCert)',
  canMisorder: false,
  async start(spec, probes, listen) {
    const app = expressRoutes(express(), spec, probes)
    const listener = withClientCert(app, {
      ...spec.auth,
      optional: spec.optional ?? false,
      logger: driverLogger(probes),
    })
    return serveNode(listener, listen)
  },
}
