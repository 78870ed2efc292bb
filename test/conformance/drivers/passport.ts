import { createRequire } from 'node:module'
import { compilePolicy, resolveAuthenticator } from '@clientcert/core'
import { ClientCertStrategy, clientCertErrorHandler } from '@clientcert/passport'
import express, { type RequestHandler } from 'express'
import { type Driver, serveNode } from '../driver.js'
import { expressRoutes, instrumentedParser } from './express.js'

/**
 * The part of Passport 0.7 this driver uses. Loaded with require: `@types/passport` is a dev
 * dependency of @clientcert/passport, not of the root, so `import 'passport'` has no types here.
 */
interface PassportLike {
  use(strategy: ClientCertStrategy | AnonymousLike): unknown
  authenticate(name: string | string[], options: { session: false; failWithError: true }): RequestHandler
}
interface AnonymousLike {
  readonly name: string
  authenticate(): void
}
const { Passport } = createRequire(import.meta.url)('passport') as { Passport: new () => PassportLike }

/**
 * passport-anonymous's contract, the last link of an optional chain. Passport gives each request
 * an Object.create() copy of the strategy with `pass` attached.
 */
class AnonymousStrategy implements AnonymousLike {
  readonly name = 'anonymous'
  declare pass: () => void
  authenticate(): void {
    this.pass()
  }
}

/**
 * Express 5 + Passport 0.7 with `passport.authenticate('client-cert', { session: false,
 * failWithError: true })` (optional mode: `['client-cert', 'anonymous']`) mounted first, as the docs tell users to, and the package's error
 * handler rendering failures. `/admin` is guarded by `authorize()` on the strategy's own
 * authenticator, so route denials reach the same hooks and the same error handler.
 */
export const passportDriver: Driver = {
  name: 'passport',
  canMisorder: true,
  async start(spec, probes, listen) {
    const app = express()
    // A Passport instance per app, so parallel drivers never share registered strategies.
    const passport = new Passport()
    const authenticator = resolveAuthenticator(spec.auth as unknown as Record<string, unknown>)
    const strategy = new ClientCertStrategy(
      { authenticator, optional: spec.optional ?? false },
      (principal, done) => done(null, principal),
    )
    passport.use(strategy)
    const adminPolicy = compilePolicy(spec.adminPolicy ?? { ids: ['admin'] })
    const requireAdmin: RequestHandler = (req, _res, next) => {
      const principal = req.clientCert
      if (principal === undefined) {
        next(authenticator.reject('ERR_CLIENT_CERT_MISSING', 'this route requires a client certificate', req))
        return
      }
      authenticator.authorize(principal, adminPolicy, req).then(
        (result) => (result.ok ? next() : next(result.error)),
        (err: unknown) => next(authenticator.reject('ERR_CLIENT_CERT_INTERNAL', String(err), req)),
      )
    }

    if (spec.misordered) app.use(instrumentedParser(probes))
    // Optional mode is the documented chain: without a certificate the strategy fails and the
    // anonymous strategy lets the request through; a bad certificate is final.
    if (spec.optional) passport.use(new AnonymousStrategy())
    app.use(
      passport.authenticate(spec.optional ? ['client-cert', 'anonymous'] : 'client-cert', {
        session: false,
        failWithError: true,
      }),
    )
    expressRoutes(app, spec, probes, requireAdmin)
    app.use(clientCertErrorHandler({ logger: (m) => probes.logged.push(m) }))

    return serveNode(app, listen)
  },
}
