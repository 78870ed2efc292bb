import {
  type ClientCertAuthenticator,
  type ClientCertOptions,
  compilePolicy,
  createClientCertAuthenticator,
} from '@clientcert/core'
import { ClientCertStrategy, clientCertErrorHandler } from '@clientcert/passport'
import express, { type Express, type RequestHandler } from 'express'
import { Passport } from 'passport'

export interface ExampleAppOptions {
  /** Principal IDs allowed on GET /admin. */
  readonly adminIds: readonly string[]
  /** Extra core options (trust, identity, hooks...). */
  readonly auth?: Partial<ClientCertOptions>
}

/**
 * The example app. `passport.authenticate('client-cert')` is mounted first, so a request
 * without a valid client certificate is rejected before `express.json()` reads a single body
 * byte; `failWithError` hands failures to `clientCertErrorHandler()`, which answers with the
 * same problem body as every clientcert adapter.
 */
export function createApp(options: ExampleAppOptions): Express {
  const authenticator = createClientCertAuthenticator({
    identity: 'cn',
    allow: { authenticated: true },
    onRejected: (err) => console.warn(`rejected: ${err.code} (${err.reason})`),
    ...options.auth,
  })
  // One Passport instance per app (the tests build several); an app of its own would use the
  // `passport` default export the same way.
  const passport = new Passport()
  passport.use(
    new ClientCertStrategy({ authenticator }, (principal, done) => {
      // Look the client up in your user store here; `done(null, false)` refuses it (401).
      done(null, { id: principal.id })
    }),
  )

  const app = express()
  app.use(passport.authenticate('client-cert', { session: false, failWithError: true }))
  app.use(express.json({ limit: '100kb' }))

  app.get('/whoami', (req, res) => {
    const p = req.clientCert!
    res.json({
      principal: {
        id: p.id,
        kind: p.kind,
        subject: p.subject.dn,
        spiffeId: p.spiffeId ?? null,
        fingerprint256: p.fingerprint256,
      },
    })
  })
  app.post('/echo', (req, res) => {
    res.json({ principal: { id: req.clientCert!.id }, body: req.body })
  })
  app.get('/admin', allowOnly(authenticator, options.adminIds), (req, res) => {
    res.json({ principal: { id: req.clientCert!.id }, admin: true })
  })
  app.use(clientCertErrorHandler())
  return app
}

/**
 * A per-route policy on the strategy's authenticator: a denial is a 403 ClientCertError that
 * reaches `onRejected` and the error handler like any other.
 */
function allowOnly(authenticator: ClientCertAuthenticator, ids: readonly string[]): RequestHandler {
  const policy = compilePolicy({ ids: [...ids] })
  return (req, _res, next) => {
    authenticator.authorize(req.clientCert!, policy, req).then(
      (result) => next(result.ok ? undefined : result.error),
      (err: unknown) => next(err),
    )
  }
}
