import { execFileSync } from 'node:child_process'
import {
  type ClientCertAuthenticator,
  ClientCertConfigError,
  type ClientCertError,
  type ClientCertOptions,
  type ClientPrincipal,
  createClientCertAuthenticator,
} from '@clientcert/core'
import {
  ClientCertStrategy,
  clientCertErrorHandler,
  getClientCertError,
  type VerifyFunction,
} from '@clientcert/passport'
import {
  createTestPki,
  type IssuedCertificate,
  type RunningServer,
  requestWithUndici,
  slowBodyRequest,
  startMtlsServer,
  type TestPki,
} from '@clientcert/testing'
import express, { type Express, type NextFunction, type Request, type Response } from 'express'
import { Passport } from 'passport'
import { Strategy } from 'passport-strategy'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'

let pki: TestPki
let alice: IssuedCertificate
let expired: IssuedCertificate
beforeAll(async () => {
  pki = await createTestPki()
  alice = await pki.issueClient({ subject: 'CN=alice' })
  expired = await pki.issueClient({
    subject: 'CN=old',
    notBefore: new Date(Date.now() - 2 * 86_400_000),
    notAfter: new Date(Date.now() - 3_600_000),
  })
})

const servers: RunningServer[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close()
})

const base: ClientCertOptions = { identity: 'cn', allow: { authenticated: true } }
const asUser: VerifyFunction = (principal, done) => done(null, { name: principal.id })

async function serve(app: Express): Promise<string> {
  const server = await startMtlsServer(app, { pki, rejectUnauthorized: false })
  servers.push(server)
  return server.url
}

function get(url: string, path: string, client: IssuedCertificate | null = alice) {
  return requestWithUndici(url, { path, client, ca: pki.serverCa.pem })
}

/** An app with the strategy first, a JSON route after the parser, and the package's error handler. */
function appWith(
  strategy: ClientCertStrategy,
  opts: { failWithError?: boolean; logged?: string[] } = {},
): { app: Express; ran: { handled: number; parsed: number } } {
  const passport = new Passport()
  passport.use(strategy)
  const ran = { handled: 0, parsed: 0 }
  const app = express()
  app.use(passport.authenticate(strategy.name, { session: false, failWithError: opts.failWithError ?? true }))
  const json = express.json()
  app.use((req, res, next) => {
    ran.parsed++
    json(req, res, next)
  })
  app.all('/', (req, res) => {
    ran.handled++
    res.json({ user: req.user ?? null, clientCert: req.clientCert?.id ?? null, body: req.body ?? null })
  })
  app.use(clientCertErrorHandler({ logger: (m) => opts.logged?.push(m) }))
  return { app, ran }
}

function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  return undefined
}

describe('ClientCertStrategy construction', () => {
  it('validates options at construction with coded errors naming the option', () => {
    const authenticator = createClientCertAuthenticator(base)
    const cases: Array<[() => unknown, string]> = [
      [() => new ClientCertStrategy(null as never, asUser), 'options'],
      [() => new ClientCertStrategy({ ...base, name: '' }, asUser), 'name'],
      [() => new ClientCertStrategy({ ...base, optional: 'yes' } as never, asUser), 'optional'],
      [() => new ClientCertStrategy({ ...base, passReqToCallback: 1 } as never, asUser), 'passReqToCallback'],
      [() => new ClientCertStrategy(base, undefined as never), 'verify'],
      [() => new ClientCertStrategy({ identity: 'cn' } as never, asUser), 'allow'],
      [() => new ClientCertStrategy({ ...base, identity: 'common-name' } as never, asUser), 'identity'],
      // A misspelt adapter option reaches the core, which rejects unknown keys.
      [
        () => new ClientCertStrategy({ ...base, passReqToCallbak: true } as never, asUser),
        'passReqToCallbak',
      ],
      [() => new ClientCertStrategy({ authenticator, allow: { ids: ['x'] } } as never, asUser), 'allow'],
      [() => new ClientCertStrategy({ authenticator: {} } as never, asUser), 'authenticator'],
    ]
    for (const [fn, option] of cases) {
      const err = thrown(fn)
      expect(err, option).toBeInstanceOf(ClientCertConfigError)
      expect(err).toMatchObject({ code: 'ERR_CLIENT_CERT_INVALID_OPTION', option })
    }
  })

  it("is named 'client-cert' unless options.name says otherwise, and exposes its authenticator", () => {
    const authenticator = createClientCertAuthenticator(base)
    expect(new ClientCertStrategy(base, asUser).name).toBe('client-cert')
    const named = new ClientCertStrategy({ authenticator, name: 'mtls', optional: true }, asUser)
    expect(named).toMatchObject({ name: 'mtls', optional: true })
    expect(named.authenticator).toBe(authenticator)
  })
})

describe('ClientCertStrategy outcomes', () => {
  it('a valid client goes through verify: req.user is its result, req.clientCert the principal', async () => {
    const { app, ran } = appWith(new ClientCertStrategy(base, asUser))
    const res = await get(await serve(app), '/')
    expect(res.status).toBe(200)
    expect(res.json()).toEqual({ user: { name: 'alice' }, clientCert: 'alice', body: null })
    expect(ran.handled).toBe(1)
  })

  it('a missing or invalid certificate fails with the error status and a coded problem body', async () => {
    const rejected: ClientCertError[] = []
    const strategy = new ClientCertStrategy(
      { ...base, allow: { ids: ['admin'] }, onRejected: (e) => rejected.push(e) },
      asUser,
    )
    const { app, ran } = appWith(strategy)
    const url = await serve(app)
    const missing = await get(url, '/', null)
    expect(missing.status).toBe(401)
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(missing.json()).toEqual({
      type: 'about:blank',
      title: 'Unauthorized',
      status: 401,
      detail: 'A client certificate is required.',
      code: 'ERR_CLIENT_CERT_MISSING',
    })
    const old = await get(url, '/', expired)
    expect(old.status).toBe(401)
    expect(old.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_EXPIRED' })
    expect(old.body).not.toContain(rejected.at(-1)!.reason)
    const denied = await get(url, '/')
    expect(denied.status).toBe(403)
    expect(denied.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_NOT_ALLOWED', status: 403 })
    expect(rejected.map((e) => e.code)).toEqual([
      'ERR_CLIENT_CERT_MISSING',
      'ERR_CLIENT_CERT_EXPIRED',
      'ERR_CLIENT_CERT_NOT_ALLOWED',
    ])
    expect(ran).toEqual({ handled: 0, parsed: 0 })
  })

  it("without failWithError, Passport answers the failure itself with the error's status", async () => {
    const strategy = new ClientCertStrategy({ ...base, allow: { ids: ['admin'] } }, asUser)
    const { app } = appWith(strategy, { failWithError: false })
    const url = await serve(app)
    expect((await get(url, '/', null)).status).toBe(401)
    const denied = await get(url, '/')
    expect(denied.status).toBe(403)
    expect(denied.body).toBe('Forbidden')
  })

  it('hands a custom callback { code, message } as info, with the status, and no reason', async () => {
    const passport = new Passport()
    passport.use(new ClientCertStrategy(base, asUser))
    const app = express()
    app.get('/', (req, res, next) => {
      passport.authenticate(
        'client-cert',
        { session: false },
        (err: unknown, user: unknown, info: unknown, status: unknown) => {
          if (err) return next(err)
          res.json({ user: user || null, info: info ?? null, status: status ?? null })
        },
      )(req, res, next)
    })
    const res = await get(await serve(app), '/', expired)
    expect(res.json()).toEqual({
      user: null,
      info: {
        code: 'ERR_CLIENT_CERT_EXPIRED',
        message: 'The client certificate or one of its issuers has expired.',
      },
      status: 401,
    })
  })

  it("verify's done(err) is an error (500), done(null, false, info) a 401; neither reaches the route", async () => {
    const boom = new ClientCertStrategy({ ...base, name: 'boom' }, (_p, done) =>
      done(new Error('directory down')),
    )
    const nope = new ClientCertStrategy({ ...base, name: 'nope' }, (_p, done) =>
      done(null, false, { message: 'unknown device' }),
    )
    for (const [strategy, status] of [
      [boom, 500],
      [nope, 401],
    ] as const) {
      const { app, ran } = appWith(strategy)
      const seen: unknown[] = []
      // Not clientcert failures: the package's handler passes them on.
      app.use((err: { status?: number }, _req: Request, res: Response, _next: NextFunction) => {
        seen.push(err)
        res.status(err.status ?? 500).json({ mine: true })
      })
      const res = await get(await serve(app), '/')
      expect(res.status, strategy.name).toBe(status)
      expect(res.json()).toEqual({ mine: true })
      expect(ran.handled).toBe(0)
      expect(seen).toHaveLength(1)
    }
  })

  it('a verify that throws or rejects before done is an error, never a pass', async () => {
    const throws = new ClientCertStrategy({ ...base, name: 'throws' }, () => {
      throw new Error('bug')
    })
    const rejects = new ClientCertStrategy({ ...base, name: 'rejects' }, async () => {
      throw new Error('async bug')
    })
    for (const strategy of [throws, rejects]) {
      const { app, ran } = appWith(strategy)
      const res = await get(await serve(app), '/')
      expect(res.status, strategy.name).toBe(500)
      expect(ran.handled).toBe(0)
    }
  })

  it('passReqToCallback: verify gets the request first', async () => {
    let seenReq: unknown
    const strategy = new ClientCertStrategy({ ...base, passReqToCallback: true }, (req, principal, done) => {
      seenReq = req
      done(null, { name: principal.id, path: req.path })
    })
    const passport = new Passport()
    passport.use(strategy)
    const app = express()
    let routeReq: unknown
    app.use(passport.authenticate('client-cert', { session: false }))
    app.get('/x', (req, res) => {
      routeReq = req
      res.json(req.user)
    })
    const res = await get(await serve(app), '/x')
    expect(res.json()).toEqual({ name: 'alice', path: '/x' })
    expect(seenReq).toBe(routeReq)
  })

  it('an authenticator fault is an error with ERR_CLIENT_CERT_INTERNAL, reported to onRejected', async () => {
    const rejected: ClientCertError[] = []
    const real = createClientCertAuthenticator({ ...base, onRejected: (e) => rejected.push(e) })
    // The adapter kit reaches the judgement through registered symbols (see JUDGE in core).
    const judge = Symbol.for('clientcert.judge')
    const decide = Symbol.for('clientcert.decide')
    const realDecide = (real as unknown as Record<symbol, (...a: unknown[]) => unknown>)[decide]!
    const broken = {
      authenticate: () => Promise.reject(new Error('socket exploded')),
      [judge]: () => Promise.reject(new Error('socket exploded')),
      authorize: real.authorize.bind(real),
      [decide]: realDecide.bind(real),
      updateTrust: real.updateTrust.bind(real),
      reject: real.reject.bind(real),
    } as unknown as ClientCertAuthenticator
    const logged: string[] = []
    const { app } = appWith(new ClientCertStrategy({ authenticator: broken }, asUser), { logged })
    const res = await get(await serve(app), '/')
    expect(res.status).toBe(500)
    expect(res.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_INTERNAL', status: 500 })
    expect(res.body).not.toContain('socket exploded')
    expect(rejected.at(-1)?.reason).toMatch(/socket exploded/)
    expect(logged.join('\n')).toMatch(/ERR_CLIENT_CERT_INTERNAL.*socket exploded/)
  })
})

/** passport-anonymous's contract: always `pass()`, the usual last link of an optional chain. */
class AnonymousStrategy extends Strategy {
  readonly name = 'anonymous'
  override authenticate(): void {
    this.pass()
  }
}

describe('ClientCertStrategy optional mode', () => {
  it("fails a request without a certificate so that ['client-cert', 'anonymous'] lets it through; an invalid one stays refused", async () => {
    let verified = 0
    const strategy = new ClientCertStrategy({ ...base, optional: true }, (p, done) => {
      verified++
      done(null, { name: p.id })
    })
    const passport = new Passport()
    passport.use(strategy)
    passport.use(new AnonymousStrategy())
    const app = express()
    app.use(passport.authenticate(['client-cert', 'anonymous'], { session: false, failWithError: true }))
    app.get('/', (req, res) => {
      res.json({ user: req.user ?? null, clientCert: req.clientCert?.id ?? null })
    })
    app.use(clientCertErrorHandler())
    const url = await serve(app)
    const anonymous = await get(url, '/', null)
    expect(anonymous.status).toBe(200)
    expect(anonymous.json()).toEqual({ user: null, clientCert: null })
    expect(verified).toBe(0)
    expect((await get(url, '/', expired)).status).toBe(401)
    expect((await get(url, '/')).json()).toMatchObject({ user: { name: 'alice' } })
    // Alone, the optional strategy never pass()es.
    expect((await get(await serve(appWith(strategy).app), '/', null)).status).toBe(401)
  })
})

describe('ClientCertStrategy before the body', () => {
  it('refuses an unauthenticated request before the parser: invalid JSON is 401, a slow 10 MB body too', async () => {
    const { app, ran } = appWith(new ClientCertStrategy(base, asUser))
    const url = await serve(app)
    const bad = await requestWithUndici(url, {
      path: '/',
      method: 'POST',
      body: '{"a":',
      headers: { 'content-type': 'application/json' },
      ca: pki.serverCa.pem,
    })
    expect(bad.status).toBe(401)
    expect(bad.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_MISSING' })
    const slow = await slowBodyRequest(url, { path: '/', ca: pki.serverCa.pem })
    expect(slow.status).toBe(401)
    expect(ran).toEqual({ handled: 0, parsed: 0 })
  })

  it('mounted after a body parser it fails closed with ERR_CLIENT_CERT_BODY_ALREADY_READ and says why', async () => {
    const rejected: ClientCertError[] = []
    const strategy = new ClientCertStrategy({ ...base, onRejected: (e) => rejected.push(e) }, asUser)
    const passport = new Passport()
    passport.use(strategy)
    const app = express()
    let handled = 0
    app.use(express.json())
    app.use(passport.authenticate('client-cert', { session: false }))
    app.post('/', (_req, res) => {
      handled++
      res.end()
    })
    const logged: string[] = []
    app.use(clientCertErrorHandler({ logger: (m) => logged.push(m) }))
    const res = await requestWithUndici(await serve(app), {
      path: '/',
      method: 'POST',
      body: '{"a":1}',
      headers: { 'content-type': 'application/json' },
      client: alice,
      ca: pki.serverCa.pem,
    })
    expect(res.status).toBe(500)
    expect(res.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_BODY_ALREADY_READ', status: 500 })
    expect(handled).toBe(0)
    expect(rejected.at(-1)?.code).toBe('ERR_CLIENT_CERT_BODY_ALREADY_READ')
    expect(logged.join('\n')).toMatch(
      /Mount passport\.authenticate\('client-cert'\) before express\.json\(\)/,
    )
  })

  it('a second run after the parser, with the same authenticator, reuses the pre-parse outcome', async () => {
    const authenticated: ClientPrincipal[] = []
    const authenticator = createClientCertAuthenticator({
      ...base,
      onAuthenticated: (p) => authenticated.push(p),
    })
    const early = new ClientCertStrategy({ authenticator, name: 'early', optional: true }, asUser)
    const late = new ClientCertStrategy({ authenticator, name: 'late' }, (p, done) =>
      done(null, { name: p.id, late: true }),
    )
    const passport = new Passport()
    passport.use(early)
    passport.use(late)
    const app = express()
    passport.use(new AnonymousStrategy())
    app.use(passport.authenticate(['early', 'anonymous'], { session: false, failWithError: true }))
    app.use(express.json())
    app.post('/', passport.authenticate('late', { session: false, failWithError: true }), (req, res) => {
      res.json({ user: req.user, body: req.body })
    })
    app.use(clientCertErrorHandler())
    const url = await serve(app)
    const post = (client: IssuedCertificate | null) =>
      requestWithUndici(url, {
        path: '/',
        method: 'POST',
        body: '{"n":1}',
        headers: { 'content-type': 'application/json' },
        client,
        ca: pki.serverCa.pem,
      })
    const ok = await post(alice)
    expect(ok.status).toBe(200)
    expect(ok.json()).toEqual({ user: { name: 'alice', late: true }, body: { n: 1 } })
    expect(authenticated).toHaveLength(1)
    // The optional stage let an anonymous request through; the route's strategy needs a client.
    const anonymous = await post(null)
    expect(anonymous.status).toBe(401)
    expect(anonymous.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_MISSING' })
  })
})

describe('ClientCertStrategy with Passport and @nestjs/passport idioms', () => {
  it('keeps concurrent requests apart when the instance itself is passed to passport.authenticate', async () => {
    const slowFirst: VerifyFunction = (p, done) => {
      setTimeout(() => done(null, { name: p.id }), p.id === 'alice' ? 150 : 0)
    }
    const strategy = new ClientCertStrategy(base, slowFirst)
    const passport = new Passport()
    const app = express()
    app.use(passport.authenticate(strategy, { session: false }))
    app.get('/', (req, res) => {
      res.json(req.user)
    })
    const url = await serve(app)
    const bob = await pki.issueClient({ subject: 'CN=bob' })
    const [a, b] = await Promise.all([get(url, '/', alice), get(url, '/', bob)])
    expect(a.json()).toEqual({ name: 'alice' })
    expect(b.json()).toEqual({ name: 'bob' })
  })

  it("works as the base of a mixin that adds verify as super's last argument and maps validate()", async () => {
    // The shape of @nestjs/passport's PassportStrategy(): the subclass's constructor calls
    // super(options) and the mixin appends an async callback that awaits validate(...params).
    const passport = new Passport()
    function Mixin(Base: typeof ClientCertStrategy) {
      abstract class WithValidate extends Base {
        abstract validate(...params: unknown[]): unknown
        constructor(...args: unknown[]) {
          const callback = async (...params: unknown[]) => {
            const done = params.at(-1) as (err: unknown, user?: unknown) => void
            try {
              done(null, await this.validate(...params))
            } catch (err) {
              done(err, null)
            }
          }
          super(...([...args, callback] as [never, never]))
          passport.use(this)
        }
      }
      return WithValidate
    }
    class CertStrategy extends Mixin(ClientCertStrategy) {
      constructor() {
        super({ ...base, allow: { ids: ['alice', 'bob'] } })
      }
      validate(principal: ClientPrincipal) {
        return principal.id === 'bob' ? null : { id: principal.id, roles: ['reader'] }
      }
    }
    new CertStrategy()
    const app = express()
    app.use(passport.authenticate('client-cert', { session: false }))
    app.get('/', (req, res) => {
      res.json(req.user)
    })
    const url = await serve(app)
    expect((await get(url, '/')).json()).toEqual({ id: 'alice', roles: ['reader'] })
    const bob = await pki.issueClient({ subject: 'CN=bob' })
    expect((await get(url, '/', bob)).status).toBe(401)
  })

  it('getClientCertError(req) gives an error handler the code behind an AuthenticationError', async () => {
    const passport = new Passport()
    passport.use(new ClientCertStrategy(base, asUser))
    const app = express()
    app.use(passport.authenticate('client-cert', { session: false, failWithError: true }))
    app.get('/', (_req, res) => {
      res.end()
    })
    app.use((err: { name: string; status: number }, req: Request, res: Response, _next: NextFunction) => {
      const cause = getClientCertError(req)
      res
        .status(err.status)
        .json({ name: err.name, code: cause?.code, reasonLogged: cause?.reason !== undefined })
    })
    const res = await get(await serve(app), '/', null)
    expect(res.status).toBe(401)
    expect(res.json()).toEqual({
      name: 'AuthenticationError',
      code: 'ERR_CLIENT_CERT_MISSING',
      reasonLogged: true,
    })
  })

  it('is customised by overriding failureInfo() and bodyAlreadyRead()', async () => {
    class Challenging extends ClientCertStrategy {
      override failureInfo(error: ClientCertError): string {
        return `ClientCert error="${error.code}"`
      }
      override bodyAlreadyRead(req: Request): boolean {
        return super.bodyAlreadyRead(req) || req.headers['x-parsed'] === 'yes'
      }
    }
    const { app } = appWith(new Challenging(base, asUser), { failWithError: false })
    const url = await serve(app)
    const missing = await get(url, '/', null)
    expect(missing.status).toBe(401)
    // Passport turns string challenges into WWW-Authenticate on 401s.
    expect(missing.headers['www-authenticate']).toBe('ClientCert error="ERR_CLIENT_CERT_MISSING"')
    const flagged = await requestWithUndici(url, {
      path: '/',
      headers: { 'x-parsed': 'yes' },
      client: alice,
      ca: pki.serverCa.pem,
    })
    expect(flagged.status).toBe(500)
    expect(flagged.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_BODY_ALREADY_READ' })
  })

  it('clientCertErrorHandler validates its options', () => {
    expect(thrown(() => clientCertErrorHandler({ logger: 'x' } as never))).toMatchObject({ option: 'logger' })
    expect(thrown(() => clientCertErrorHandler({ log: () => {} } as never))).toMatchObject({
      code: 'ERR_CLIENT_CERT_INVALID_OPTION',
      option: 'log',
    })
  })
})

describe('@clientcert/passport packaging', () => {
  it('loads from CommonJS and from ESM', () => {
    const cwd = new URL('..', import.meta.url)
    const cjs = execFileSync(
      process.execPath,
      [
        '-e',
        "const m = require('@clientcert/passport'); console.log(typeof m.ClientCertStrategy, typeof m.clientCertErrorHandler, typeof m.getClientCertError)",
      ],
      { cwd },
    )
    expect(cjs.toString().trim()).toBe('function function function')
    const esm = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const m = await import('@clientcert/passport'); const s = new m.ClientCertStrategy({ allow: { authenticated: true } }, () => {}); console.log(typeof m.ClientCertStrategy, s.name, typeof s.authenticate)",
      ],
      { cwd },
    )
    expect(esm.toString().trim()).toBe('function client-cert function')
  })
})
