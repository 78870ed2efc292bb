import type { ClientPrincipal } from '@clientcert/core'
import type {} from '@clientcert/express'
import {
  ClientCertStrategy,
  type ClientCertStrategyOptions,
  clientCertErrorHandler,
  type VerifiedCallback,
} from '@clientcert/passport'
import express, { type Request } from 'express'
import passport from 'passport'
import { describe, expectTypeOf, it } from 'vitest'

describe('@clientcert/passport types', () => {
  it('ties passReqToCallback to the verify signature', () => {
    new ClientCertStrategy({ allow: { authenticated: true } }, (principal, done) => {
      expectTypeOf(principal).toEqualTypeOf<ClientPrincipal>()
      expectTypeOf(done).toEqualTypeOf<VerifiedCallback>()
      done(null, { id: principal.id })
    })
    new ClientCertStrategy(
      { allow: { authenticated: true }, passReqToCallback: true },
      (req, principal, done) => {
        expectTypeOf(req).toEqualTypeOf<Request>()
        expectTypeOf(principal).toEqualTypeOf<ClientPrincipal>()
        done(null, false, { message: 'unknown device' })
      },
    )
    const plain = { allow: { authenticated: true } } as const
    const withRequest = { allow: { authenticated: true }, passReqToCallback: true } as const
    const requestFirst = (_req: Request, _p: ClientPrincipal, _done: VerifiedCallback) => {}
    const principalFirst = (_p: ClientPrincipal, _done: VerifiedCallback) => {}
    // @ts-expect-error without passReqToCallback, verify does not take the request
    new ClientCertStrategy(plain, requestFirst)
    // @ts-expect-error with passReqToCallback: true, the first argument is the request
    new ClientCertStrategy(withRequest, principalFirst)
    // @ts-expect-error verify is required
    new ClientCertStrategy({ allow: { authenticated: true } })
  })

  it('checks adapter and core options', () => {
    new ClientCertStrategy(
      { identity: 'spiffe', allow: { spiffe: { trustDomain: 'example.org' } }, optional: true, name: 'svc' },
      (_p, done) => done(null, {}),
    )
    // @ts-expect-error allow is required
    new ClientCertStrategy({ identity: 'cn' }, (_p, done) => done(null, {}))
    // @ts-expect-error optional is a boolean
    new ClientCertStrategy({ allow: { authenticated: true }, optional: 'yes' }, (_p, done) => done(null, {}))
    // @ts-expect-error done's info is an object
    new ClientCertStrategy({ allow: { authenticated: true } }, (_p, done) => done(null, false, 'nope'))
  })

  it('types hook contexts with the Express request, and the logger option', () => {
    new ClientCertStrategy(
      {
        allow: { authenticated: true },
        logger: { info() {}, warn() {}, error() {} },
        onRejected: (err, { request }) => {
          expectTypeOf(err.code).toBeString()
          // No cast to read the path of the rejected request.
          expectTypeOf(request).toEqualTypeOf<Request>()
          expectTypeOf(request.originalUrl).toBeString()
        },
        onAuthenticated: (_principal, { request }) => expectTypeOf(request).toEqualTypeOf<Request>(),
      },
      (_p, done) => done(null, {}),
    )
    new ClientCertStrategy({ allow: { authenticated: true }, logger: false }, (_p, done) => done(null, {}))
    clientCertErrorHandler({ logger: (m: string) => void m })
    clientCertErrorHandler({ logger: false })
    // @ts-expect-error a logger needs info, warn and error
    new ClientCertStrategy({ allow: { authenticated: true }, logger: { info() {} } }, (_p, done) =>
      done(null, {}),
    )
  })

  it('fits a mixin that drops the trailing verify from the constructor parameters', () => {
    // What @nestjs/passport's PassportStrategy() offers subclasses: each overload's parameters
    // without the callback, so `super({ ...options })` type-checks.
    type Overloads<T> = T extends {
      new (...args: infer A): unknown
      new (...args: infer B): unknown
    }
      ? A | B
      : never
    type WithoutLast<T> = T extends [...infer Head, infer Last] ? (Last extends Function ? Head : T) : T
    type SuperArgs = WithoutLast<Overloads<typeof ClientCertStrategy>>
    expectTypeOf<[ClientCertStrategyOptions]>().toExtend<SuperArgs>()
    expectTypeOf<[{ allow: { ids: string[] }; passReqToCallback: true }]>().toExtend<SuperArgs>()
  })

  it('is a Passport strategy; req.user stays Passport’s, req.clientCert matches @clientcert/express', () => {
    const strategy = new ClientCertStrategy({ allow: { authenticated: true } }, (p, done) => done(null, p))
    passport.use(strategy)
    passport.use('other-name', strategy)
    expectTypeOf(strategy.name).toBeString()
    const app = express()
    app.use(passport.authenticate('client-cert', { session: false, failWithError: true }))
    app.get('/', (req) => {
      expectTypeOf(req.clientCert).toEqualTypeOf<ClientPrincipal | undefined>()
      expectTypeOf(req.user).toEqualTypeOf<Express.User | undefined>()
    })
    app.use(clientCertErrorHandler())
    expectTypeOf<Request['clientCert']>().toEqualTypeOf<ClientPrincipal | undefined>()
  })
})
