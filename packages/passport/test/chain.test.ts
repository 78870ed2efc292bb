import type { ClientCertOptions } from '@clientcert/core'
import { ClientCertStrategy, clientCertErrorHandler } from '@clientcert/passport'
import {
  createTestPki,
  type IssuedCertificate,
  type RunningServer,
  requestWithUndici,
  startMtlsServer,
  type TestPki,
} from '@clientcert/testing'
import express, { type Request } from 'express'
import { Passport } from 'passport'
import { Strategy } from 'passport-strategy'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/** The contract of passport-http-bearer, reduced: `Authorization: Bearer <token>`. */
class BearerStrategy extends Strategy {
  readonly name = 'bearer'
  constructor(private readonly tokens: Record<string, { name: string }>) {
    super()
  }
  override authenticate(req: Request): void {
    const match = /^Bearer ([\w.~+/-]+=*)$/.exec(req.headers.authorization ?? '')
    const user = match !== null && Object.hasOwn(this.tokens, match[1]!) ? this.tokens[match[1]!] : undefined
    if (user !== undefined) this.success(user)
    else this.fail(match === null ? 'Bearer realm="api"' : 'Bearer realm="api", error="invalid_token"', 401)
  }
}

/** The contract of passport-anonymous: always `pass()`. */
class AnonymousStrategy extends Strategy {
  readonly name = 'anonymous'
  override authenticate(): void {
    this.pass()
  }
}

let pki: TestPki
let alice: IssuedCertificate
let expired: IssuedCertificate
const servers: RunningServer[] = []
beforeAll(async () => {
  pki = await createTestPki()
  alice = await pki.issueClient({ subject: 'CN=alice' })
  expired = await pki.issueClient({
    subject: 'CN=old',
    notBefore: new Date(Date.now() - 2 * 86_400_000),
    notAfter: new Date(Date.now() - 3_600_000),
  })
})
afterAll(async () => {
  for (const s of servers.splice(0)) await s.close()
})

const base: ClientCertOptions = { identity: 'cn', allow: { authenticated: true } }

async function serveChain(optional: boolean, chain: string[]): Promise<string> {
  const passport = new Passport()
  passport.use(
    new ClientCertStrategy({ ...base, optional }, (principal, done) =>
      done(null, { name: principal.id, via: 'certificate' }),
    ),
  )
  passport.use(new BearerStrategy({ 'token-of-tom': { name: 'tom' } }))
  passport.use(new AnonymousStrategy())
  const app = express()
  app.use(passport.authenticate(chain, { session: false, failWithError: true }))
  app.get('/', (req, res) => {
    res.json({ user: req.user ?? null })
  })
  app.use(clientCertErrorHandler({ logger: () => {} }))
  const server = await startMtlsServer(app, { pki, rejectUnauthorized: false })
  servers.push(server)
  return server.url
}

function get(url: string, client: IssuedCertificate | null, token?: string) {
  return requestWithUndici(url, {
    path: '/',
    client,
    ca: pki.serverCa.pem,
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  })
}

for (const optional of [false, true]) {
  describe(`certificate or token: passport.authenticate(['client-cert', 'bearer']), optional: ${optional}`, () => {
    let url: string
    beforeAll(async () => {
      url = await serveChain(optional, ['client-cert', 'bearer'])
    })

    it('no certificate + a valid token → the token user', async () => {
      const res = await get(url, null, 'token-of-tom')
      expect(res.status).toBe(200)
      expect(res.json()).toEqual({ user: { name: 'tom' } })
    })

    it('no certificate + a wrong token → 401', async () => {
      const res = await get(url, null, 'token-of-nobody')
      expect(res.status).toBe(401)
    })

    it('no certificate + no token → 401', async () => {
      const res = await get(url, null)
      expect(res.status).toBe(401)
    })

    it('a valid certificate → the certificate user', async () => {
      const res = await get(url, alice)
      expect(res.status).toBe(200)
      expect(res.json()).toEqual({ user: { name: 'alice', via: 'certificate' } })
    })

    it(
      optional
        ? 'a presented but expired certificate is final: 401 even with a valid token'
        : 'a failed certificate lets the next strategy decide: a valid token logs in',
      async () => {
        const res = await get(url, expired, 'token-of-tom')
        if (optional) {
          expect(res.status).toBe(401)
          expect(res.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_EXPIRED' })
        } else {
          expect(res.status).toBe(200)
          expect(res.json()).toEqual({ user: { name: 'tom' } })
        }
      },
    )
  })
}

describe("certificate or anonymous: passport.authenticate(['client-cert', 'anonymous']), optional: true", () => {
  let url: string
  beforeAll(async () => {
    url = await serveChain(true, ['client-cert', 'anonymous'])
  })

  it('no certificate → the route runs without a user', async () => {
    const res = await get(url, null)
    expect(res.status).toBe(200)
    expect(res.json()).toEqual({ user: null })
  })

  it('a presented but expired certificate is not downgraded to anonymous → 401', async () => {
    const res = await get(url, expired)
    expect(res.status).toBe(401)
    expect(res.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_EXPIRED' })
  })

  it('a valid certificate → the certificate user', async () => {
    const res = await get(url, alice)
    expect(res.json()).toEqual({ user: { name: 'alice', via: 'certificate' } })
  })
})

describe("optional: true alone (passport.authenticate('client-cert'))", () => {
  it('no certificate → 401: the strategy never pass()es, so it can never end a chain', async () => {
    const url = await serveChain(true, ['client-cert'])
    const res = await get(url, null)
    expect(res.status).toBe(401)
    expect(res.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_MISSING' })
  })
})
