import {
  ClientCertConfigError,
  createClientCertAuthenticator,
  createWebRequestAuthenticator,
  readCloudflareTlsClientAuth,
} from '@clientcert/core'
import { requireClientCert, type WebClientCertEnv, webClientCert } from '@clientcert/hono'
import { createSelfSigned, createTestPki, type TestPki } from '@clientcert/testing'
import { Hono } from 'hono'
import { beforeAll, describe, expect, it } from 'vitest'

/**
 * Hono on a Web `Request` (what Bun, Deno and Workers hand an app): no socket, so forwarded
 * headers are believed only behind the explicit trust boundary. Requests go through
 * `app.request()`, the same path as `app.fetch()` on those runtimes.
 */
let pki: TestPki
let aliceHeader: string
let adminHeader: string
let chainHeader: string
let strangerHeader: string
const SECRET = 'q3J0bWFwLXNoYXJlZC1zZWNyZXQtZm9yLXRlc3RzLW9ubHk'
const sf = (der: Uint8Array): string => `:${Buffer.from(der).toString('base64')}:`

beforeAll(async () => {
  pki = await createTestPki()
  aliceHeader = sf((await pki.issueClient({ subject: 'CN=alice' })).der)
  adminHeader = sf((await pki.issueClient({ subject: 'CN=admin' })).der)
  chainHeader = sf(pki.intermediate.der)
  strangerHeader = sf((await createSelfSigned({ subject: 'CN=alice' })).der)
})

function app(boundary: Parameters<typeof webClientCert>[0]['trustedBoundary'], logged: string[] = []) {
  const a = new Hono<WebClientCertEnv>()
  a.use(
    webClientCert({
      trust: { anchors: pki.root.pem, intermediates: pki.intermediate.pem },
      identity: 'cn',
      allow: { authenticated: true },
      forwarded: { format: 'rfc9440' },
      trustedBoundary: boundary,
      logger: (m) => logged.push(m),
    }),
  )
  a.get('/whoami', (c) =>
    c.json({ id: c.get('clientCert')?.id ?? null, source: c.get('clientCert')?.source }),
  )
  a.get('/admin', requireClientCert({ ids: ['admin'] }), (c) => c.json({ id: c.get('clientCert')?.id }))
  return a
}

const shared = { sharedSecretHeader: 'x-proxy-auth', secret: SECRET }

async function call(
  a: Hono<WebClientCertEnv>,
  headers: Record<string, string> | [string, string][],
  path = '/whoami',
) {
  const res = await a.request(path, { headers })
  const text = await res.text()
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    cache: res.headers.get('cache-control'),
    body: text,
    json: JSON.parse(text) as Record<string, unknown>,
  }
}

describe('Hono on a Web Request: explicit trust boundary', () => {
  it('refuses to start without a trust boundary, or with Node-only options', () => {
    const base = { trust: { anchors: 'x' }, allow: { authenticated: true }, forwarded: { format: 'rfc9440' } }
    const cases: Array<[() => unknown, string]> = [
      [() => webClientCert({ ...base } as never), 'trustedBoundary'],
      [() => webClientCert({ ...base, trustedBoundary: 'anywhere' } as never), 'trustedBoundary'],
      [
        () =>
          webClientCert({
            ...base,
            trustedBoundary: { sharedSecretHeader: 'x-proxy-auth', secret: 'short' },
          } as never),
        'trustedBoundary.secret',
      ],
      [
        () =>
          webClientCert({
            ...base,
            trustedBoundary: { sharedSecretHeader: 'bad header', secret: SECRET },
          } as never),
        'trustedBoundary.sharedSecretHeader',
      ],
      [
        () =>
          webClientCert({
            ...base,
            trustedBoundary: 'cloudflare',
            forwarded: { format: 'rfc9440', trustedProxies: ['10.0.0.1'] },
          } as never),
        'forwarded.trustedProxies',
      ],
      [() => webClientCert({ ...base, trustedBoundary: 'cloudflare', source: 'tls' } as never), 'source'],
    ]
    for (const [fn, option] of cases) {
      let caught: unknown
      try {
        fn()
      } catch (err) {
        caught = err
      }
      expect(caught, option).toBeInstanceOf(ClientCertConfigError)
      expect(caught).toMatchObject({ option })
    }
  })

  it('a stranger without the shared secret sending a certificate header → 401 UNTRUSTED_PROXY', async () => {
    const r = await call(app(shared), { 'client-cert': aliceHeader })
    expect(r.status).toBe(401)
    expect(r.json.code).toBe('ERR_CLIENT_CERT_UNTRUSTED_PROXY')
    expect(r.type).toMatch(/^application\/problem\+json/)
    expect(r.cache).toBe('no-store')
  })

  it('a wrong, truncated or repeated secret → 401 UNTRUSTED_PROXY', async () => {
    for (const secret of [`${SECRET}x`, SECRET.slice(0, -1), '', `${SECRET}, ${SECRET}`]) {
      const r = await call(app(shared), { 'x-proxy-auth': secret, 'client-cert': aliceHeader })
      expect(r.status, secret).toBe(401)
      expect(r.json.code).toBe('ERR_CLIENT_CERT_UNTRUSTED_PROXY')
    }
  })

  it('the right secret and a valid certificate → 200, the boundary named as the proxy', async () => {
    const r = await call(app(shared), {
      'x-proxy-auth': SECRET,
      'client-cert': aliceHeader,
      'client-cert-chain': chainHeader,
    })
    expect(r.status).toBe(200)
    expect(r.json).toEqual({
      id: 'alice',
      source: { type: 'forwarded', format: 'rfc9440', proxy: 'boundary:shared-secret:x-proxy-auth' },
    })
  })

  it('behind the boundary the certificate is fully re-validated: untrusted issuer → 401 UNTRUSTED', async () => {
    const r = await call(app(shared), { 'x-proxy-auth': SECRET, 'client-cert': strangerHeader })
    expect(r.status).toBe(401)
    expect(r.json.code).toBe('ERR_CLIENT_CERT_UNTRUSTED')
  })

  it('the right secret without a certificate → 401 MISSING', async () => {
    const r = await call(app(shared), { 'x-proxy-auth': SECRET })
    expect(r.json.code).toBe('ERR_CLIENT_CERT_MISSING')
  })

  it('a repeated certificate header (joined with ", " by Web Headers) → 401 MALFORMED, named as a repeat', async () => {
    const reasons: string[] = []
    const a = new Hono<WebClientCertEnv>()
    a.use(
      webClientCert({
        trust: { anchors: pki.root.pem, intermediates: pki.intermediate.pem },
        allow: { authenticated: true },
        forwarded: { format: 'rfc9440' },
        trustedBoundary: shared,
        onRejected: (e) => reasons.push(e.reason),
      }),
    )
    a.get('/whoami', (c) => c.text('ran'))
    const r = await call(a, [
      ['x-proxy-auth', SECRET],
      ['client-cert', aliceHeader],
      ['client-cert', adminHeader],
    ])
    expect(r.status).toBe(401)
    expect(r.json.code).toBe('ERR_CLIENT_CERT_MALFORMED')
    expect(reasons.at(-1)).toMatch(/repeated header/)
  })

  it('another spelling of the certificate header (client_cert) → 401 UNTRUSTED_PROXY', async () => {
    const r = await call(app(shared), {
      'x-proxy-auth': SECRET,
      client_cert: adminHeader,
      'client-cert': aliceHeader,
    })
    expect(r.json.code).toBe('ERR_CLIENT_CERT_UNTRUSTED_PROXY')
  })

  it('per-route guard: alice on /admin → 403 NOT_ALLOWED, admin → 200', async () => {
    const a = app(shared)
    expect((await call(a, { 'x-proxy-auth': SECRET, 'client-cert': aliceHeader }, '/admin')).json.code).toBe(
      'ERR_CLIENT_CERT_NOT_ALLOWED',
    )
    expect((await call(a, { 'x-proxy-auth': SECRET, 'client-cert': adminHeader }, '/admin')).json).toEqual({
      id: 'admin',
    })
  })

  it('cloudflare boundary: an RFC 9440 header from a Transform Rule → 200', async () => {
    const r = await call(app('cloudflare'), { 'client-cert': aliceHeader })
    expect(r.status).toBe(200)
    expect(r.json.source).toMatchObject({ proxy: 'boundary:cloudflare' })
  })

  it('a boundary view is trusted only by the authenticator of that boundary, never by an address allowlist', async () => {
    const web = createWebRequestAuthenticator({
      trust: { anchors: pki.root.pem, intermediates: pki.intermediate.pem },
      identity: 'cn',
      allow: { authenticated: true },
      forwarded: { format: 'rfc9440' },
      trustedBoundary: shared,
    })
    const request = new Request('http://x/', {
      headers: { 'x-proxy-auth': SECRET, 'client-cert': aliceHeader },
    })
    const view = web.viewOf(request)
    const node = createClientCertAuthenticator({
      trust: { anchors: pki.root.pem, intermediates: pki.intermediate.pem },
      identity: 'cn',
      allow: { authenticated: true },
      source: {
        forwarded: { format: 'rfc9440', trustedProxies: ['127.0.0.1', '::1'], allowUnixSocket: true },
      },
    })
    expect(await node.authenticate(view)).toMatchObject({
      ok: false,
      error: { code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
    })
    const cloudflare = createWebRequestAuthenticator({
      trust: { anchors: pki.root.pem, intermediates: pki.intermediate.pem },
      allow: { authenticated: true },
      forwarded: { format: 'rfc9440' },
      trustedBoundary: 'cloudflare',
    })
    expect(await cloudflare.authenticator.authenticate(view)).toMatchObject({
      ok: false,
      error: { code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
    })
    expect(await web.authenticator.authenticate(view)).toMatchObject({ ok: true })
  })

  it('a middleware that read the body first → 500 BODY_ALREADY_READ, logged', async () => {
    const logged: string[] = []
    const a = new Hono<WebClientCertEnv>()
    a.use(async (c, next) => {
      await c.req.raw.clone().text()
      await c.req.raw.text()
      await next()
    })
    a.use(
      webClientCert({
        trust: { anchors: pki.root.pem },
        allow: { authenticated: true },
        forwarded: { format: 'rfc9440' },
        trustedBoundary: shared,
        logger: (m) => logged.push(m),
      }),
    )
    a.post('/echo', (c) => c.text('ran'))
    const res = await a.request('/echo', {
      method: 'POST',
      body: '{}',
      headers: { 'x-proxy-auth': SECRET, 'client-cert': aliceHeader },
    })
    expect(res.status).toBe(500)
    expect(((await res.json()) as { code: string }).code).toBe('ERR_CLIENT_CERT_BODY_ALREADY_READ')
    expect(logged.join()).toMatch(/body parser/)
  })
})

describe('Cloudflare request.cf.tlsClientAuth (the weaker source)', () => {
  const read = readCloudflareTlsClientAuth({ identity: 'subject', allow: { ids: ['CN=alice'] } })
  const fingerprint = 'ab'.repeat(32)
  const auth = (over: Record<string, string>) => {
    const request = new Request('https://x/')
    Object.defineProperty(request, 'cf', {
      value: {
        tlsClientAuth: {
          certPresented: '1',
          certVerified: 'SUCCESS',
          certRevoked: '0',
          certSubjectDNRFC2253: 'CN=alice',
          certIssuerDNRFC2253: 'CN=Test Intermediate',
          certSerial: '0A1B',
          certFingerprintSHA256: fingerprint,
          ...over,
        },
      },
    })
    return read(request)
  }

  it('SUCCESS, not revoked, allowed → the client (subject, fingerprint, serial; no certificate)', () => {
    expect(auth({})).toEqual({
      ok: true,
      client: {
        id: 'CN=alice',
        kind: 'subject',
        subjectDn: 'CN=alice',
        issuerDn: 'CN=Test Intermediate',
        serialNumber: 'a1b',
        fingerprint256: fingerprint,
        source: { type: 'cloudflare-tls-client-auth' },
      },
    })
  })

  it.each([
    [{ certVerified: 'FAILED:self signed certificate' }, 'ERR_CLIENT_CERT_UNTRUSTED'],
    [{ certVerified: 'NONE' }, 'ERR_CLIENT_CERT_UNTRUSTED'],
    [{ certVerified: 'success' }, 'ERR_CLIENT_CERT_UNTRUSTED'],
    [{ certRevoked: '1' }, 'ERR_CLIENT_CERT_REVOKED'],
    [{ certRevoked: 'true' }, 'ERR_CLIENT_CERT_REVOKED'],
    [{ certPresented: '0' }, 'ERR_CLIENT_CERT_MISSING'],
    [{ certSubjectDNRFC2253: 'CN=mallory' }, 'ERR_CLIENT_CERT_NOT_ALLOWED'],
    [{ certFingerprintSHA256: 'zz' }, 'ERR_CLIENT_CERT_MALFORMED'],
  ])('%o → %s', (over, code) => {
    expect(auth(over)).toMatchObject({ ok: false, error: { code } })
  })

  it('no request.cf (not on Cloudflare, or a client-made object) → MISCONFIGURED', () => {
    expect(read(new Request('https://x/', { headers: { cf: '{}' } }))).toMatchObject({
      ok: false,
      error: { code: 'ERR_CLIENT_CERT_MISCONFIGURED' },
    })
  })

  it('fires onRejected on every rejection, with the full error and the request, like every other path', () => {
    const seen: Array<[string, string, unknown]> = []
    const hooked = readCloudflareTlsClientAuth({
      identity: 'subject',
      allow: { ids: ['CN=alice'] },
      onRejected: (error, context) => seen.push([error.code, error.reason, context.request]),
    })
    const cases: Array<[Record<string, string> | null, string]> = [
      [null, 'ERR_CLIENT_CERT_MISCONFIGURED'],
      [{ certPresented: '0' }, 'ERR_CLIENT_CERT_MISSING'],
      [{ certVerified: 'FAILED:self signed certificate' }, 'ERR_CLIENT_CERT_UNTRUSTED'],
      [{ certRevoked: '1' }, 'ERR_CLIENT_CERT_REVOKED'],
      [{ certFingerprintSHA256: 'zz' }, 'ERR_CLIENT_CERT_MALFORMED'],
      [{ certSubjectDNRFC2253: 'CN=mallory' }, 'ERR_CLIENT_CERT_NOT_ALLOWED'],
    ]
    for (const [over, code] of cases) {
      const request = new Request('https://x/')
      if (over)
        Object.defineProperty(request, 'cf', {
          value: {
            tlsClientAuth: {
              certPresented: '1',
              certVerified: 'SUCCESS',
              certRevoked: '0',
              certSubjectDNRFC2253: 'CN=alice',
              certIssuerDNRFC2253: 'CN=Test Intermediate',
              certSerial: '0A1B',
              certFingerprintSHA256: fingerprint,
              ...over,
            },
          },
        })
      seen.length = 0
      const result = hooked(request)
      expect(result).toMatchObject({ ok: false, error: { code } })
      expect(seen).toEqual([[code, (result as { error: { reason: string } }).error.reason, request]])
    }
    // An accepted client is not reported as rejected.
    seen.length = 0
    expect(auth({}).ok).toBe(true)
    expect(seen).toEqual([])
  })

  it('a throwing onRejected does not turn a rejection into anything else', () => {
    const throwing = readCloudflareTlsClientAuth({
      identity: 'subject',
      allow: { ids: ['CN=alice'] },
      onRejected: () => {
        throw new Error('audit log down')
      },
    })
    expect(throwing(new Request('https://x/'))).toMatchObject({
      ok: false,
      error: { code: 'ERR_CLIENT_CERT_MISCONFIGURED' },
    })
  })

  it('refuses a non-function onRejected at construction, naming the option', () => {
    expect(() =>
      readCloudflareTlsClientAuth({
        identity: 'subject',
        allow: { ids: ['CN=alice'] },
        onRejected: 'log' as never,
      }),
    ).toThrow(expect.objectContaining({ name: 'ClientCertConfigError', option: 'onRejected' }))
  })

  it('refuses to start without allow.ids or with an unknown identity', () => {
    expect(() => readCloudflareTlsClientAuth({ identity: 'subject', allow: { ids: [] } })).toThrow(
      ClientCertConfigError,
    )
    expect(() => readCloudflareTlsClientAuth({ identity: 'cn' as never, allow: { ids: ['a'] } })).toThrow(
      ClientCertConfigError,
    )
  })
})
