/**
 * The diagnostics_channel events (issue 17): every channel is subscribed to and its payloads
 * asserted for an accepted request, each rejection class of the conformance matrix, cache hits
 * (connection memo and validation cache) and revocation fetches, over real HTTPS/HTTP servers
 * on loopback and certificates generated at test time. One test serialises every message and
 * searches it for the certificate's bytes.
 */
import diagnostics_channel from 'node:diagnostics_channel'
import * as http from 'node:http'
import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import {
  type AuthenticateContext,
  CLIENTCERT_CHANNELS,
  type ClientCertAuthenticator,
  type ClientCertOptions,
  createClientCertAuthenticator,
  createMtlsServerOptions,
  type ForwardedRefusedMessage,
  type RevocationFetchContext,
  type TrustUpdatedMessage,
} from '@clientcert/core'
import {
  createCrl,
  createUndiciAgent,
  forwardedHeaders,
  type IssuedCertificate,
  nginxEscape,
  requestWithHttps,
  requestWithUndici,
  revocationExtensions,
} from '@clientcert/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { PROXY, STRANGER } from '../conformance/forwarded-scenarios.js'
import { type ClientName, createFixtures, type Fixtures } from '../support/fixtures.js'

let f: Fixtures
let tlsServer: https.Server
let httpServer: http.Server
let tlsUrl: string
let httpUrl: string
/** The authenticator the servers use; each test sets its own. */
let auth: ClientCertAuthenticator
/** A client from the intermediate that names a CRL distribution point. */
let viaCdp: IssuedCertificate

const handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
  auth.authenticate(req).then((r) => {
    res.statusCode = r.ok ? 200 : r.error.status
    res.end(r.ok ? (r.principal?.id ?? '') : r.error.code)
  })
}

beforeAll(async () => {
  f = await createFixtures()
  viaCdp = await f.pki.intermediate.issueClient({
    subject: 'CN=carol',
    extensions: revocationExtensions({ crlUrl: 'http://crl.test/intermediate.crl' }),
  })
  tlsServer = https.createServer(
    createMtlsServerOptions({
      cert: f.pki.server.chainPem,
      key: f.pki.server.keyPem,
      clientCa: f.pki.root.pem,
      mode: 'verify-in-app',
    }),
    handle,
  )
  httpServer = http.createServer(handle)
  await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r))
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r))
  tlsUrl = `https://127.0.0.1:${(tlsServer.address() as AddressInfo).port}`
  httpUrl = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`
})
afterAll(async () => {
  tlsServer.closeAllConnections()
  httpServer.closeAllConnections()
  await new Promise((r) => tlsServer.close(r))
  await new Promise((r) => httpServer.close(r))
  await f.close()
})

/** Every message of every channel, in order, while a test runs. */
const seen: Array<{ channel: string; message: unknown }> = []
const judgements: AuthenticateContext[] = []
const fetches: RevocationFetchContext[] = []
const record = (channel: string) => (message: unknown) => seen.push({ channel, message })
const authTrace = diagnostics_channel.tracingChannel<unknown, AuthenticateContext>(
  CLIENTCERT_CHANNELS.authenticate,
)
const fetchTrace = diagnostics_channel.tracingChannel<unknown, RevocationFetchContext>(
  CLIENTCERT_CHANNELS.revocationFetch,
)
const authHandlers = {
  start: record('authenticate:start'),
  end: (ctx: AuthenticateContext) => {
    seen.push({ channel: 'authenticate:end', message: ctx })
    if (ctx.outcome !== undefined) judgements.push(ctx)
  },
  asyncStart: record('authenticate:asyncStart'),
  asyncEnd: (ctx: AuthenticateContext) => {
    seen.push({ channel: 'authenticate:asyncEnd', message: ctx })
    judgements.push(ctx)
  },
  error: record('authenticate:error'),
}
const fetchHandlers = {
  start: record('fetch:start'),
  end: record('fetch:end'),
  asyncStart: record('fetch:asyncStart'),
  asyncEnd: (ctx: RevocationFetchContext) => {
    seen.push({ channel: 'fetch:asyncEnd', message: ctx })
    fetches.push(ctx)
  },
  error: record('fetch:error'),
}
const onTrust = record(CLIENTCERT_CHANNELS.trustUpdated)
const onRefused = record(CLIENTCERT_CHANNELS.forwardedRefused)

beforeAll(() => {
  authTrace.subscribe(authHandlers)
  fetchTrace.subscribe(fetchHandlers)
  diagnostics_channel.subscribe(CLIENTCERT_CHANNELS.trustUpdated, onTrust)
  diagnostics_channel.subscribe(CLIENTCERT_CHANNELS.forwardedRefused, onRefused)
})
afterAll(() => {
  authTrace.unsubscribe(authHandlers)
  fetchTrace.unsubscribe(fetchHandlers)
  diagnostics_channel.unsubscribe(CLIENTCERT_CHANNELS.trustUpdated, onTrust)
  diagnostics_channel.unsubscribe(CLIENTCERT_CHANNELS.forwardedRefused, onRefused)
})
afterEach(() => {
  seen.length = 0
  judgements.length = 0
  fetches.length = 0
})

const appTrust = (fx: Fixtures): Partial<ClientCertOptions> => ({
  trust: { anchors: fx.anchorsPem, intermediates: [fx.intermediatesPem, fx.revocation.ocspIntermediatePem] },
})
const use = (extra: Partial<ClientCertOptions> = {}): void => {
  auth = createClientCertAuthenticator({ ...appTrust(f), allow: { authenticated: true }, ...extra })
}
const tlsGet = (client: ClientName | IssuedCertificate | null) =>
  requestWithHttps(tlsUrl, {
    path: '/',
    ca: f.pki.serverCa.pem,
    client: typeof client === 'string' ? f.clients[client] : client,
  })

/** The one judgement a test made, once it is over. */
async function onlyJudgement(): Promise<AuthenticateContext> {
  await expect.poll(() => judgements.length).toBe(1)
  return judgements[0]!
}

describe('clientcert.authenticate', () => {
  it('accept: source, principal, certificate facts, TLS facts, timing, validated now', async () => {
    use({ identity: 'cn' })
    const res = await tlsGet('alice')
    expect(res.status).toBe(200)
    const ctx = await onlyJudgement()
    const alice = f.clients.alice.certificate
    expect(ctx).toMatchObject({
      source: { type: 'tls' },
      cached: 'none',
      tls: { resumed: false },
      outcome: { ok: true, principal: { id: 'alice', kind: 'cn' } },
      certificate: {
        subject: expect.stringContaining('CN=alice'),
        sha256: f.clients.alice.fingerprint256.replaceAll(':', '').toLowerCase(),
        serialNumber: alice.serialNumber.toLowerCase().replace(/^(00)+/, ''),
        notAfter: alice.notAfter.toISOString(),
        notBefore: alice.notBefore.toISOString(),
      },
    })
    expect(ctx.tls?.protocol).toMatch(/^TLSv1\.[23]$/)
    expect(ctx.certificate).not.toHaveProperty('der')
    expect(ctx.durationMs).toBeGreaterThanOrEqual(0)
    // start, then end (and asyncStart/asyncEnd when the judgement was asynchronous).
    expect(seen[0]?.channel).toBe('authenticate:start')
    expect(seen.map((s) => s.channel)).toContain('authenticate:end')
  })

  const rejections: Array<
    [string, ClientName | null, string, ((fx: Fixtures) => Partial<ClientCertOptions>)?]
  > = [
    ['no certificate', null, 'ERR_CLIENT_CERT_MISSING'],
    ['unknown CA', 'unknownCa', 'ERR_CLIENT_CERT_UNTRUSTED'],
    ['expired leaf', 'expired', 'ERR_CLIENT_CERT_EXPIRED'],
    ['not yet valid', 'notYetValid', 'ERR_CLIENT_CERT_NOT_YET_VALID'],
    ['serverAuth-only EKU', 'ekuServerOnly', 'ERR_CLIENT_CERT_EKU'],
    ['CA:TRUE leaf', 'caLeaf', 'ERR_CLIENT_CERT_BASIC_CONSTRAINTS'],
    ['no digitalSignature', 'kuNoDigitalSignature', 'ERR_CLIENT_CERT_KEY_USAGE'],
    ['name constraints', 'nameConstraintViolation', 'ERR_CLIENT_CERT_NAME_CONSTRAINTS'],
    ['unknown critical extension', 'unknownCritical', 'ERR_CLIENT_CERT_CRITICAL_EXTENSION'],
    ['two CNs', 'twoCns', 'ERR_CLIENT_CERT_IDENTITY', () => ({ identity: 'cn' })],
    [
      'not allowed',
      'bob',
      'ERR_CLIENT_CERT_NOT_ALLOWED',
      () => ({ identity: 'cn', allow: { ids: ['alice'] } }),
    ],
    [
      'policy throws',
      'alice',
      'ERR_CLIENT_CERT_INTERNAL',
      () => ({
        allow: {
          predicate: () => {
            throw new Error('policy store down')
          },
        },
      }),
    ],
    [
      'revoked (configured CRL)',
      'revoked',
      'ERR_CLIENT_CERT_REVOKED',
      (fx) => ({ revocation: { crls: { sources: [...fx.revocation.crls] } } }),
    ],
    [
      'OCSP responder down',
      'ocspDown',
      'ERR_CLIENT_CERT_REVOCATION_UNAVAILABLE',
      () => ({ revocation: { ocsp: { timeoutMs: 2000 } } }),
    ],
  ]
  for (const [name, client, code, extra] of rejections) {
    it(`${name} → ${code}, with its reason, no principal and no certificate bytes`, async () => {
      use(extra?.(f))
      const res = await tlsGet(client)
      expect(res.body).toBe(code)
      const ctx = await onlyJudgement()
      expect(ctx.source).toEqual({ type: 'tls' })
      expect(ctx.outcome).toMatchObject({ ok: false, code, status: res.status })
      expect(ctx.outcome?.ok === false && ctx.outcome.reason.length > 0).toBe(true)
      expect(ctx.certificate).toBeUndefined()
    })
  }

  it('misdirected: refused before any source is read', async () => {
    use({ requireServernameMatch: true })
    const res = await requestWithHttps(tlsUrl, {
      path: '/',
      ca: f.pki.serverCa.pem,
      servername: 'localhost',
      headers: { host: 'other.test' },
      client: f.clients.alice,
    })
    expect(res.status).toBe(421)
    const ctx = await onlyJudgement()
    expect(ctx.source).toBeUndefined()
    expect(ctx.outcome).toMatchObject({ ok: false, code: 'ERR_CLIENT_CERT_MISDIRECTED', status: 421 })
  })

  it('optional mode without a certificate: ok with no principal', async () => {
    use()
    const a = auth
    auth = {
      ...a,
      authenticate: (req: never) => a.authenticate(req, { optional: true }),
    } as ClientCertAuthenticator
    await tlsGet(null)
    const ctx = await onlyJudgement()
    expect(ctx.outcome).toEqual({ ok: true, principal: undefined })
  })

  it('cache hits: the connection memo on keep-alive, the validation cache on a new connection', async () => {
    use()
    const agent = createUndiciAgent({ client: f.clients.alice, ca: f.pki.serverCa.pem })
    try {
      for (let i = 0; i < 2; i++)
        await requestWithUndici(tlsUrl, { dispatcher: agent, ca: f.pki.serverCa.pem })
    } finally {
      await agent.close()
    }
    await tlsGet('alice')
    await expect.poll(() => judgements.length).toBe(3)
    expect(judgements.map((j) => j.cached)).toEqual(['none', 'connection', 'cache'])
    expect(judgements.every((j) => j.outcome?.ok === true)).toBe(true)
  })

  it('a rejection remembered by the connection is reported as such', async () => {
    use()
    const agent = createUndiciAgent({ client: f.clients.expired, ca: f.pki.serverCa.pem })
    try {
      for (let i = 0; i < 2; i++)
        await requestWithUndici(tlsUrl, { dispatcher: agent, ca: f.pki.serverCa.pem })
    } finally {
      await agent.close()
    }
    await expect.poll(() => judgements.length).toBe(2)
    expect(judgements.map((j) => [j.cached, j.outcome?.ok === false && j.outcome.code])).toEqual([
      ['none', 'ERR_CLIENT_CERT_EXPIRED'],
      ['connection', 'ERR_CLIENT_CERT_EXPIRED'],
    ])
  })
})

describe('forwarded source', () => {
  const forwarded = (): void =>
    use({ source: { forwarded: { format: 'nginx', trustedProxies: [PROXY] } }, identity: 'cn' })
  const agentFrom = (from: string) => new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: from })
  const send = (agent: http.Agent | undefined, headers: Record<string, string>, from = PROXY) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request(
        `${httpUrl}/`,
        { headers, ...(agent ? { agent } : { localAddress: from, agent: false }) },
        (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode ?? 0))
        },
      )
      req.on('error', reject)
      req.end()
    })

  it('accept from the proxy: forwarded source with preset and proxy; memo, then cache', async () => {
    forwarded()
    const headers = forwardedHeaders('nginx', f.clients.alice)
    const agent = agentFrom(PROXY)
    try {
      expect(await send(agent, headers)).toBe(200)
      expect(await send(agent, headers)).toBe(200)
    } finally {
      agent.destroy()
    }
    expect(await send(undefined, headers)).toBe(200)
    await expect.poll(() => judgements.length).toBe(3)
    expect(judgements[0]).toMatchObject({
      source: { type: 'forwarded', preset: 'nginx', proxy: PROXY },
      outcome: { ok: true, principal: { id: 'alice', kind: 'cn' } },
    })
    expect(judgements.map((j) => j.cached)).toEqual(['none', 'connection', 'cache'])
  })

  it('a header from a stranger → clientcert.forwarded.refused (no value) and UNTRUSTED_PROXY', async () => {
    forwarded()
    const headers = forwardedHeaders('nginx', f.clients.alice)
    expect(await send(undefined, headers, STRANGER)).toBe(401)
    const refused = seen.filter((s) => s.channel === CLIENTCERT_CHANNELS.forwardedRefused)
    expect(refused.map((s) => s.message)).toEqual([
      {
        peer: STRANGER,
        header: 'x-ssl-client-cert',
        preset: 'nginx',
        why: 'untrusted-peer',
      } satisfies ForwardedRefusedMessage,
    ])
    const ctx = await onlyJudgement()
    expect(ctx).toMatchObject({
      source: { type: 'forwarded', preset: 'nginx', proxy: STRANGER },
      outcome: { ok: false, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
    })
  })

  it('a header on a TLS-only server → refused with no preset', async () => {
    use()
    const res = await requestWithHttps(tlsUrl, {
      path: '/',
      ca: f.pki.serverCa.pem,
      headers: { 'x-ssl-client-cert': 'whatever' },
    })
    expect(res.body).toBe('ERR_CLIENT_CERT_UNTRUSTED_PROXY')
    const refused = seen.filter((s) => s.channel === CLIENTCERT_CHANNELS.forwardedRefused)
    expect(refused.map((s) => s.message)).toEqual([
      { peer: '127.0.0.1', header: 'x-ssl-client-cert', preset: undefined, why: 'untrusted-peer' },
    ])
  })

  it('another spelling from the proxy → refused as a spelling, never its value', async () => {
    forwarded()
    const value = forwardedHeaders('nginx', f.clients.alice)['x-ssl-client-cert']!
    expect(await send(undefined, { x_ssl_client_cert: value })).toBe(401)
    const refused = seen.filter((s) => s.channel === CLIENTCERT_CHANNELS.forwardedRefused)
    expect(refused.map((s) => s.message)).toEqual([
      { peer: PROXY, header: 'x_ssl_client_cert', preset: 'nginx', why: 'spelling' },
    ])
    expect(JSON.stringify(refused)).not.toContain(value.slice(40, 80))
  })

  it('a malformed header from the proxy → ERR_CLIENT_CERT_MALFORMED', async () => {
    forwarded()
    const headers = forwardedHeaders('nginx', f.clients.alice)
    const junk = nginxEscape(`subject=CN=admin\n${f.clients.alice.pem}`)
    expect(await send(undefined, { ...headers, 'x-ssl-client-cert': junk })).toBe(401)
    const ctx = await onlyJudgement()
    expect(ctx).toMatchObject({
      source: { type: 'forwarded', preset: 'nginx', proxy: PROXY },
      outcome: { ok: false, code: 'ERR_CLIENT_CERT_MALFORMED' },
    })
  })
})

describe('clientcert.revocation.fetch', () => {
  it('OCSP: a good answer and a responder that is down', async () => {
    use({ revocation: { ocsp: { timeoutMs: 2000 } } })
    expect((await tlsGet('ocspGood')).status).toBe(200)
    await expect.poll(() => fetches.length).toBeGreaterThanOrEqual(2)
    expect(fetches.every((x) => x.kind === 'ocsp' && x.outcome?.ok === true)).toBe(true)
    expect(fetches[0]?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+/)
    fetches.length = 0
    expect((await tlsGet('ocspDown')).body).toBe('ERR_CLIENT_CERT_REVOCATION_UNAVAILABLE')
    await expect.poll(() => fetches.some((x) => x.outcome?.ok === false)).toBe(true)
    const down = fetches.find((x) => x.outcome?.ok === false)!
    expect(down).toMatchObject({ kind: 'ocsp', url: 'http://127.0.0.1:9/' })
    expect(down.durationMs).toBeGreaterThanOrEqual(0)
    expect(seen.some((s) => s.channel === 'fetch:error')).toBe(true)
  })

  it('CRL distribution point: url, kind, bytes', async () => {
    const crl = createCrl(f.pki.intermediate)
    use({
      revocation: {
        crls: { sources: [createCrl(f.pki.root).pem] },
        crlDistributionPoints: true,
        fetch: async () => ({ status: 200, body: crl.der }),
      },
    })
    expect((await tlsGet(viaCdp)).status).toBe(200)
    await expect.poll(() => fetches.length).toBe(1)
    expect(fetches[0]).toMatchObject({
      kind: 'crl',
      url: 'http://crl.test/intermediate.crl',
      outcome: { ok: true, bytes: crl.der.length },
    })
  })
})

describe('clientcert.trust.updated', () => {
  it('reports anchors, intermediates and CRLs with their expiry, no key material', async () => {
    use()
    const crl = createCrl(f.pki.intermediate)
    auth.updateTrust({ revocation: { crls: { sources: [crl.pem] } } })
    const messages = seen.filter((s) => s.channel === CLIENTCERT_CHANNELS.trustUpdated)
    expect(messages).toHaveLength(1)
    const { trust } = messages[0]!.message as TrustUpdatedMessage
    expect(trust.anchors.map((a) => a.subject)).toContain('CN=Test Client Root CA')
    expect(trust.anchors[0]?.notAfter).toBe(f.pki.root.certificate.notAfter.toISOString())
    expect(trust.intermediates.map((a) => a.subject)).toContain('CN=Test Client Intermediate CA')
    expect(trust.pins).toBe(0)
    expect(trust.crls).toEqual([
      expect.objectContaining({ issuer: 'CN=Test Client Intermediate CA', origin: 'configured' }),
    ])
    expect(Date.parse(trust.crls[0]!.nextUpdate!)).toBeGreaterThan(Date.now())
  })
})

describe('no certificate bytes in any message unless asked', () => {
  const bytesOf = (c: IssuedCertificate): string[] => {
    const der = Buffer.from(c.der)
    const b64 = der.toString('base64')
    // Fragments from the middle of each encoding: any copy of the certificate contains them.
    return [b64.slice(60, 120), der.toString('hex').slice(100, 200), der.toString('base64url').slice(60, 120)]
  }
  const serialise = (): string =>
    JSON.stringify(
      seen.map((s) => s.message),
      (_k, v: unknown) =>
        v instanceof Uint8Array
          ? { b64: Buffer.from(v).toString('base64'), hex: Buffer.from(v).toString('hex') }
          : v instanceof Error
            ? { message: v.message, stack: v.stack }
            : v,
    )

  async function everyKindOfMessage(extra: Partial<ClientCertOptions>): Promise<void> {
    use({ ...extra, revocation: { ocsp: { timeoutMs: 2000 } } })
    await tlsGet('ocspGood')
    await tlsGet('ocspGood')
    await tlsGet('expired')
    auth.updateTrust({ allow: { ids: ['nobody'] } })
    await tlsGet('ocspGood')
    await expect.poll(() => judgements.length).toBe(4)
  }

  it('default: neither DER, base64, PEM body nor hex of the client certificate', async () => {
    await everyKindOfMessage({})
    const text = serialise()
    expect(text).toContain('ERR_CLIENT_CERT_EXPIRED')
    for (const c of [f.clients.ocspGood, f.clients.expired])
      for (const fragment of bytesOf(c)) expect(text).not.toContain(fragment)
  })

  it('diagnostics.includeCertificate: the DER is added (and the search above would find it)', async () => {
    await everyKindOfMessage({ diagnostics: { includeCertificate: true } })
    const text = serialise()
    for (const fragment of bytesOf(f.clients.ocspGood)) expect(text).toContain(fragment)
    expect(() => use({ diagnostics: { includeCertificate: 'yes' as never } })).toThrow(
      /diagnostics\.includeCertificate/,
    )
  })
})
