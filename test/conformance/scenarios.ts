import { createHash, X509Certificate } from 'node:crypto'
import type {
  AllowPolicy,
  ClientCertAuthenticator,
  ClientCertErrorCode,
  ClientCertOptions,
} from '@clientcert/core'
import {
  type ClientIdentity,
  createUndiciAgent,
  forwardedHeaders,
  requestHttp,
  requestUpgrade,
  requestWithHttps,
  requestWithUndici,
  slowBodyRequest,
} from '@clientcert/testing'
import { expect } from 'vitest'
import type { ClientName, Fixtures } from '../support/fixtures.js'
import type { PrincipalSummary, Probes } from './driver.js'

/**
 * The conformance scenarios: one list, run against every adapter by `matrix.test.ts`.
 * Threat classes refer to ../shared/THREATS.md. Every rejection is also checked, by the
 * runner, for: the problem body shape, no certificate/OpenSSL/stack text, the `onRejected`
 * hook having fired with the same code, and neither the body parser nor a handler running.
 */

export type Mode =
  /** HTTPS with requestCert, rejectUnauthorized:false, client root as `ca`; no app-level trust. */
  | 'socket'
  /** Same server; the app validates paths itself (trust.anchors + trust.intermediates). */
  | 'app'
  /** Same server; the app pins self-signed clients (trust.pins). */
  | 'pins'
  /** Plain HTTP listener. */
  | 'plain'
  /** Plain HTTP listener on 127.0.0.1, forwarded source (scenario.auth.source), app trust. */
  | 'forwarded'
  /** Same on a dual-stack `::` listener. */
  | 'forwarded-dual'
  /** Same on a Unix socket. */
  | 'forwarded-unix'
  /** HTTPS listener (rejectUnauthorized:false), forwarded source, app trust. */
  | 'forwarded-tls'
  /**
   * HTTPS from `createMtlsServerOptions({ mode: 'verify-in-app', sni })`: a.test trusts the
   * client root, b.test an unrelated root, the default context the client root; no app trust.
   */
  | 'sni'
  /** The same trust per name through a hand-made SNICallback (no createMtlsServerOptions). */
  | 'sni-custom'

export interface ScenarioContext {
  readonly url: string
  /** The adapter speaks HTTP/2 on TLS listeners: clients offer h2. */
  readonly h2: boolean
  /** The driver serves WebSocket upgrades: GETs go as handshakes (`requestUpgrade`). */
  readonly upgrade: boolean
  /** The app's authenticator, for scenarios with `sharedAuthenticator`. */
  readonly authenticator?: ClientCertAuthenticator | undefined
  readonly f: Fixtures
  readonly probes: Probes
}

export interface Outcome {
  readonly status: number
  readonly body: string
  readonly headers: Record<string, string | string[] | undefined>
  /** Whether the request had a body (set by the plain request helper; unknown otherwise). */
  readonly sentBody?: boolean
}

export interface Scenario {
  readonly name: string
  /** THREATS.md class (or 'ok' for positive controls). */
  readonly threat: 'A' | 'B' | 'C' | 'D' | 'E' | 'F' | 'G' | 'H' | 'I' | 'J' | 'ok'
  readonly mode: Mode
  /** Core options merged over the mode's defaults (identity 'cn', allow authenticated). */
  readonly auth?: Partial<ClientCertOptions> | ((f: Fixtures) => Partial<ClientCertOptions>)
  /** Build the authenticator in the test and hand it to the adapter (`{ authenticator }`), to change its rules mid-scenario. */
  readonly sharedAuthenticator?: boolean
  readonly optional?: boolean
  readonly adminPolicy?: AllowPolicy
  readonly misordered?: boolean
  readonly run: (ctx: ScenarioContext) => Promise<Outcome>
  readonly expect: {
    readonly status: number
    readonly code?: ClientCertErrorCode
    /** Principal id on success (`null`: anonymous in optional mode). */
    readonly id?: string | null
    /** The body parser must have run (positive controls only). */
    readonly parsed?: boolean
  }
  /** The client speaks HTTP/1.1 only (node:https), also against HTTP/2 drivers. */
  readonly h1Only?: boolean
  /**
   * Leave out the matrix's `onAuthenticated` hook, which keeps every connection unsettled, so a
   * keep-alive connection settles (authenticator.ts, `#settle`) and its later requests take the
   * short path: that path is then what the scenario judges.
   */
  readonly settles?: boolean
  /** Extra assertions. */
  readonly check?: (outcome: Outcome, ctx: ScenarioContext) => void | Promise<void>
}

const get =
  (
    path: string,
    client: ClientName | null,
    extra: { method?: string; body?: string; headers?: Record<string, string> } = {},
  ) =>
  async ({ url, f, h2, upgrade }: ScenarioContext): Promise<Outcome> => {
    if (upgrade) {
      if (extra.method !== undefined || extra.body !== undefined)
        throw new Error(
          'a request with a method or body cannot be an upgrade: list the scenario in notApplicable',
        )
      return requestUpgrade(url, {
        path,
        client: client === null ? null : f.clients[client],
        ca: f.pki.serverCa.pem,
        ...(extra.headers ? { headers: extra.headers } : {}),
      })
    }
    return {
      ...(await requestWithUndici(url, {
        path,
        client: client === null ? null : f.clients[client],
        ca: f.pki.serverCa.pem,
        allowH2: h2 && url.startsWith('https'),
        ...extra,
      })),
      sentBody: extra.body !== undefined,
    }
  }

/**
 * Two requests from alice on ONE connection (HTTP/2: one session): the first must pass (200,
 * one handler run); `between` may change the rules; the second is the scenario's outcome.
 */
/**
 * A keep-alive scenario twice: as written (the matrix's `onAuthenticated` hook keeps every
 * connection unsettled, so later requests take the full judgement with the connection's memo),
 * and on a settled connection (no hook: later requests take the short path).
 */
export const onBothPaths = (scenario: Scenario): Scenario[] => [
  scenario,
  { ...scenario, name: `${scenario.name} [settled connection]`, settles: true },
]

/** The clock of the keep-alive expiry scenario: undefined = real time. */
const keepAliveClock: { at: number | undefined } = { at: undefined }

const onOneConnection =
  (
    secondPath: string,
    between: (ctx: ScenarioContext) => void = () => {},
    secondHeaders: Record<string, string> = {},
  ) =>
  async (ctx: ScenarioContext): Promise<Outcome> => {
    const { url, f, probes, h2 } = ctx
    const agent = createUndiciAgent({ client: f.clients.alice, ca: f.pki.serverCa.pem, allowH2: h2 })
    try {
      const first = await requestWithUndici(url, {
        path: '/whoami',
        ca: f.pki.serverCa.pem,
        dispatcher: agent,
      })
      expect(first.status).toBe(200)
      expect(probes.handled).toBe(1)
      probes.handled = 0
      between(ctx)
      return await requestWithUndici(url, {
        path: secondPath,
        ca: f.pki.serverCa.pem,
        dispatcher: agent,
        headers: secondHeaders,
      })
    } finally {
      await agent.close()
    }
  }

const reject = (
  client: ClientName,
  code: ClientCertErrorCode,
  mode: Mode = 'socket',
  auth?: Partial<ClientCertOptions>,
): Omit<Scenario, 'name' | 'threat'> => ({
  mode,
  ...(auth ? { auth } : {}),
  run: get('/whoami', client),
  expect: { status: code === 'ERR_CLIENT_CERT_NOT_ALLOWED' ? 403 : 401, code },
})

const allow = (
  client: ClientName,
  id: string,
  mode: Mode = 'socket',
  auth?: Partial<ClientCertOptions>,
): Omit<Scenario, 'name' | 'threat'> => ({
  mode,
  ...(auth ? { auth } : {}),
  run: get('/whoami', client),
  expect: { status: 200, id },
})

const both = (
  name: string,
  threat: Scenario['threat'],
  make: (mode: Mode) => Omit<Scenario, 'name' | 'threat'>,
): Scenario[] =>
  (['socket', 'app'] as const).map((mode) => ({ name: `${name} [${mode}]`, threat, ...make(mode) }))

/** example.org trusts the client root; evil.test (federated) the unrelated root. */
const spiffeBundles = (f: Fixtures): NonNullable<ClientCertOptions['trust']> => ({
  spiffe: { bundles: { 'example.org': f.pki.root.pem, 'evil.test': f.unknownRootPem } },
  intermediates: f.intermediatesPem,
})

const spiffeAuth: Partial<ClientCertOptions> = {
  identity: 'spiffe',
  allow: { spiffe: { trustDomain: 'example.org', pathPrefix: '/ns/prod' } },
}

export const scenarios: readonly Scenario[] = [
  // ── positive controls ────────────────────────────────────────────────────────────────
  ...both('valid client certificate → 200 with its principal', 'ok', (mode) => ({
    ...allow('alice', 'alice', mode),
    check: (o, { f }) => {
      const p = JSON.parse(o.body).principal as PrincipalSummary
      const der = f.clients.alice.der
      expect(p.fingerprint256).toBe(createHash('sha256').update(der).digest('hex'))
      expect(p.x5tS256).toBe(createHash('sha256').update(der).digest('base64url'))
      expect(p.subject).toBe('O=acme,CN=alice')
    },
  })),
  {
    name: 'SPIFFE principal: id, spiffeId, fingerprint256 and x5tS256 match an independent computation',
    threat: 'ok',
    mode: 'app',
    auth: spiffeAuth,
    run: get('/whoami', 'spiffeProdSa'),
    expect: { status: 200, id: 'spiffe://example.org/ns/prod/sa/api' },
    check: (o, { f }) => {
      const p = JSON.parse(o.body).principal as PrincipalSummary
      const x = new X509Certificate(f.clients.spiffeProdSa.pem)
      expect(p.kind).toBe('spiffe')
      expect(p.spiffeId).toBe('spiffe://example.org/ns/prod/sa/api')
      expect(p.fingerprint256).toBe(x.fingerprint256.replace(/:/g, '').toLowerCase())
      expect(p.x5tS256).toBe(Buffer.from(x.fingerprint256.replace(/:/g, ''), 'hex').toString('base64url'))
    },
  },
  {
    name: 'valid JSON body from an authenticated client is parsed (the parser is live)',
    threat: 'ok',
    mode: 'socket',
    run: get('/echo', 'alice', {
      method: 'POST',
      body: '{"hello":"world"}',
      headers: { 'content-type': 'application/json' },
    }),
    expect: { status: 200, id: 'alice', parsed: true },
    check: (o) => expect(JSON.parse(o.body).body).toEqual({ hello: 'world' }),
  },
  {
    name: 'invalid JSON from an authenticated client → 400 from the parser (control for the I cases)',
    threat: 'ok',
    mode: 'socket',
    run: get('/echo', 'alice', {
      method: 'POST',
      body: '{"hello":',
      headers: { 'content-type': 'application/json' },
    }),
    expect: { status: 400, parsed: true },
  },

  // ── D. socket mode ───────────────────────────────────────────────────────────────────
  {
    name: 'no client certificate → 401',
    threat: 'D',
    ...reject('alice', 'ERR_CLIENT_CERT_MISSING'),
    run: get('/whoami', null),
  },
  {
    name: 'no client certificate, app trust → 401',
    threat: 'D',
    ...reject('alice', 'ERR_CLIENT_CERT_MISSING', 'app'),
    run: get('/whoami', null),
  },
  {
    name: 'certificate from an unknown CA on a rejectUnauthorized:false server → 401',
    threat: 'D',
    ...reject('unknownCa', 'ERR_CLIENT_CERT_UNTRUSTED'),
  },
  {
    name: 'certificate from an unknown CA, app trust → 401',
    threat: 'D',
    ...reject('unknownCa', 'ERR_CLIENT_CERT_UNTRUSTED', 'app'),
  },
  {
    name: "self-signed certificate with the trusted intermediate's name (issuer spoof) → 401",
    threat: 'D',
    ...reject('issuerSpoof', 'ERR_CLIENT_CERT_UNTRUSTED'),
  },
  {
    name: 'issuer spoof, app trust (signature check, not name match) → 401',
    threat: 'D',
    ...reject('issuerSpoof', 'ERR_CLIENT_CERT_UNTRUSTED', 'app'),
  },
  {
    name: 'plain HTTP (no TLS at all) → 401',
    threat: 'D',
    ...reject('alice', 'ERR_CLIENT_CERT_MISSING', 'plain'),
    run: ({ url, upgrade }) => (upgrade ? requestUpgrade : requestHttp)(url, { path: '/whoami' }),
  },
  {
    name: 'self-signed client pinned by certificate SHA-256 → 200',
    threat: 'ok',
    ...allow('selfSigned', 'self-signed device', 'pins'),
  },
  {
    name: 'self-signed client with the same name but another key (not pinned) → 401',
    threat: 'D',
    ...reject('selfSignedOther', 'ERR_CLIENT_CERT_UNTRUSTED', 'pins'),
  },
  {
    name: 'TLS 1.3 session resumed without a certificate → 401',
    threat: 'D',
    mode: 'socket',
    run: async ({ url, f }) => {
      const first = await requestWithHttps(url, {
        path: '/whoami',
        ca: f.pki.serverCa.pem,
        maxVersion: 'TLSv1.3',
      })
      expect(first.status).toBe(401)
      expect(first.session).toBeDefined()
      const second = await requestWithHttps(url, {
        path: '/whoami',
        ca: f.pki.serverCa.pem,
        session: first.session,
      })
      expect(second.sessionReused).toBe(true)
      return second
    },
    expect: { status: 401, code: 'ERR_CLIENT_CERT_MISSING' },
  },
  {
    name: 'session from a certificate-less connection resumed with a certificate offered → never authenticated as that certificate',
    threat: 'D',
    mode: 'socket',
    run: async ({ url, f }) => {
      const first = await requestWithHttps(url, { path: '/whoami', ca: f.pki.serverCa.pem })
      const second = await requestWithHttps(url, {
        path: '/whoami',
        ca: f.pki.serverCa.pem,
        session: first.session,
        client: f.clients.alice,
      })
      expect(second.sessionReused).toBe(true)
      return second
    },
    expect: { status: 401, code: 'ERR_CLIENT_CERT_MISSING' },
  },
  ...onBothPaths({
    name: 'keep-alive: each request on one connection is judged on its own (200 then 403 on /admin)',
    threat: 'D',
    mode: 'socket',
    run: onOneConnection('/admin'),
    expect: { status: 403, code: 'ERR_CLIENT_CERT_NOT_ALLOWED' },
  }),
  // A connection admitted once is answered from its memo; these must still be judged per request.
  ...['x-forwarded-client-cert', 'client-cert', 'x-ssl-client-cert'].flatMap((header) =>
    onBothPaths({
      name: `keep-alive: a later request on an admitted connection carrying ${header} → 401`,
      threat: 'A',
      mode: 'socket',
      run: onOneConnection('/whoami', () => {}, { [header]: ':AAAA:' }),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
    }),
  ),
  ...onBothPaths({
    name: 'keep-alive: the validity window is judged on every request (clock past notAfter → 401)',
    threat: 'D',
    mode: 'socket',
    auth: { now: () => keepAliveClock.at ?? Date.now() },
    run: (ctx) => {
      keepAliveClock.at = undefined
      return onOneConnection('/whoami', ({ f }) => {
        keepAliveClock.at = f.clients.alice.certificate.notAfter.getTime() + 86_400_000
      })(ctx)
    },
    expect: { status: 401, code: 'ERR_CLIENT_CERT_EXPIRED' },
  }),

  // ── E. chain and identity ────────────────────────────────────────────────────────────
  ...both('EKU serverAuth only → 401', 'E', (m) => reject('ekuServerOnly', 'ERR_CLIENT_CERT_EKU', m)),
  ...both('EKU emailProtection only → 401', 'E', (m) => reject('ekuEmailOnly', 'ERR_CLIENT_CERT_EKU', m)),
  ...both('no EKU extension → 401 by default', 'E', (m) => reject('ekuMissing', 'ERR_CLIENT_CERT_EKU', m)),
  ...both('anyExtendedKeyUsage only → 401 by default', 'E', (m) =>
    reject('ekuAnyOnly', 'ERR_CLIENT_CERT_EKU', m),
  ),
  ...both('no EKU extension, eku.allowMissing → 200', 'ok', (m) =>
    allow('ekuMissing', 'alice', m, { eku: { allowMissing: true } }),
  ),
  ...both('leaf with CA:TRUE → 401', 'E', (m) => reject('caLeaf', 'ERR_CLIENT_CERT_BASIC_CONSTRAINTS', m)),
  ...both('leaf keyUsage without digitalSignature → 401', 'E', (m) =>
    reject('kuNoDigitalSignature', 'ERR_CLIENT_CERT_KEY_USAGE', m),
  ),
  // In socket mode OpenSSL judges the chain and Node reports these failures without detail
  // (INVALID_PURPOSE / UNSPECIFIED), so the code is the generic UNTRUSTED; app trust names the rule.
  ...both('issued by a non-CA certificate → 401', 'E', (m) =>
    reject(
      'issuedByNonCa',
      m === 'app' ? 'ERR_CLIENT_CERT_BASIC_CONSTRAINTS' : 'ERR_CLIENT_CERT_UNTRUSTED',
      m,
    ),
  ),
  ...both('issuer expired → 401', 'E', (m) => reject('expiredIssuer', 'ERR_CLIENT_CERT_EXPIRED', m)),
  ...both('leaf expired → 401', 'E', (m) => reject('expired', 'ERR_CLIENT_CERT_EXPIRED', m)),
  ...both('leaf not yet valid → 401', 'E', (m) => reject('notYetValid', 'ERR_CLIENT_CERT_NOT_YET_VALID', m)),
  ...both('name-constraint violation → 401', 'E', (m) =>
    reject(
      'nameConstraintViolation',
      m === 'app' ? 'ERR_CLIENT_CERT_NAME_CONSTRAINTS' : 'ERR_CLIENT_CERT_UNTRUSTED',
      m,
    ),
  ),
  ...both('within the name constraints → 200', 'ok', (m) => allow('nameConstraintOk', 'alice', m)),
  ...both('unknown critical extension → 401', 'E', (m) =>
    reject('unknownCritical', 'ERR_CLIENT_CERT_CRITICAL_EXTENSION', m),
  ),
  {
    name: 'two CN attributes with identity "cn" → 401 (never an array)',
    threat: 'E',
    ...reject('twoCns', 'ERR_CLIENT_CERT_IDENTITY'),
  },
  {
    name: 'CN inside a multi-valued RDN with identity "cn" → 401',
    threat: 'E',
    ...reject('multiValuedCn', 'ERR_CLIENT_CERT_IDENTITY'),
  },
  {
    name: 'CN with a control character → 401',
    threat: 'E',
    ...reject('cnControlChar', 'ERR_CLIENT_CERT_IDENTITY'),
  },
  {
    name: 'CN "bob,CN=admin" does not become the subject DN "CN=admin" (identity injection) → 403',
    threat: 'E',
    ...reject('cnInjection', 'ERR_CLIENT_CERT_NOT_ALLOWED', 'socket', {
      identity: 'subject',
      allow: { ids: ['CN=admin', 'CN=bob,CN=admin'] },
    }),
  },
  {
    name: 'CN "admin " (trailing space) does not match "admin" → 403',
    threat: 'E',
    ...reject('cnTrailingSpace', 'ERR_CLIENT_CERT_NOT_ALLOWED', 'socket', { allow: { ids: ['admin'] } }),
  },
  {
    name: 'CN "Admin" does not match "admin" (exact ids) → 403',
    threat: 'E',
    ...reject('aliceUpper', 'ERR_CLIENT_CERT_NOT_ALLOWED', 'socket', { allow: { ids: ['admin'] } }),
  },
  {
    name: 'SPIFFE ID within the allowed path prefix → 200',
    threat: 'ok',
    ...allow('spiffeProdSa', 'spiffe://example.org/ns/prod/sa/api', 'socket', spiffeAuth),
  },
  {
    name: 'SPIFFE path prefix matches on segment boundaries only (/ns/production) → 403',
    threat: 'E',
    ...reject('spiffeProduction', 'ERR_CLIENT_CERT_NOT_ALLOWED', 'socket', spiffeAuth),
  },
  {
    name: 'SPIFFE trust domain is exact (example.org.evil.test) → 403',
    threat: 'E',
    ...reject('spiffeOtherDomain', 'ERR_CLIENT_CERT_NOT_ALLOWED', 'socket', spiffeAuth),
  },
  ...(
    [
      'spiffeUpperDomain',
      'spiffeDotDot',
      'spiffeTrailingSlash',
      'spiffePercent',
      'spiffePort',
      'spiffeTwoUris',
    ] as const
  ).map(
    (c): Scenario => ({
      name: `SPIFFE ID breaking the syntax (${c}) → 401`,
      threat: 'E',
      ...reject(c, 'ERR_CLIENT_CERT_IDENTITY', 'socket', spiffeAuth),
    }),
  ),
  {
    name: 'DNS suffix on label boundaries: api.example.com → 200',
    threat: 'ok',
    ...allow('dnsApi', 'api.example.com', 'socket', {
      identity: 'san-dns',
      allow: { dnsSuffix: 'example.com' },
    }),
  },
  {
    name: 'DNS suffix on label boundaries: evilexample.com → 403',
    threat: 'E',
    ...reject('dnsEvilSuffix', 'ERR_CLIENT_CERT_NOT_ALLOWED', 'socket', {
      identity: 'san-dns',
      allow: { dnsSuffix: 'example.com' },
    }),
  },
  {
    name: 'Kubernetes CN/O: O=system:masters allowed → 200',
    threat: 'ok',
    ...allow('k8sMaster', 'jane', 'socket', {
      identity: 'kubernetes',
      allow: { groups: ['system:masters'] },
    }),
    check: (o) => expect(JSON.parse(o.body).principal.groups).toEqual(['system:masters']),
  },
  {
    name: 'Kubernetes CN/O: O=dev not in allowed groups → 403',
    threat: 'E',
    ...reject('k8sDev', 'ERR_CLIENT_CERT_NOT_ALLOWED', 'socket', {
      identity: 'kubernetes',
      allow: { groups: ['system:masters'] },
    }),
  },
  ...([1, 'true', {}, Promise.resolve(1)] as const).map(
    (value, i): Scenario => ({
      name: `predicate returning a truthy non-true value (#${i}) → 403`,
      threat: 'E',
      ...reject('alice', 'ERR_CLIENT_CERT_NOT_ALLOWED', 'socket', {
        allow: { predicate: () => value as never },
      }),
    }),
  ),
  {
    name: 'predicate returning exactly true → 200',
    threat: 'ok',
    ...allow('alice', 'alice', 'socket', { allow: { predicate: (p) => p.id === 'alice' } }),
  },
  {
    name: 'predicate that throws → 500, nothing runs',
    threat: 'E',
    mode: 'socket',
    auth: {
      allow: {
        predicate: () => {
          throw new Error('db down')
        },
      },
    },
    run: get('/whoami', 'alice'),
    expect: { status: 500, code: 'ERR_CLIENT_CERT_INTERNAL' },
  },
  {
    name: 'ids list without the client denies → 403 (an empty list is refused at startup)',
    threat: 'E',
    ...reject('alice', 'ERR_CLIENT_CERT_NOT_ALLOWED', 'socket', { allow: { ids: ['nobody'] } }),
  },
  {
    name: 'any() with no allowing member denies → 403',
    threat: 'E',
    ...reject('alice', 'ERR_CLIENT_CERT_NOT_ALLOWED', 'socket', { allow: { any: [{ ids: ['nobody'] }] } }),
  },
  {
    name: 'all() with one denying member denies → 403',
    threat: 'E',
    ...reject('alice', 'ERR_CLIENT_CERT_NOT_ALLOWED', 'socket', {
      allow: { all: [{ authenticated: true }, { ids: ['nobody'] }] },
    }),
  },
  {
    name: 'custom identity function that throws → 401',
    threat: 'E',
    ...reject('alice', 'ERR_CLIENT_CERT_IDENTITY', 'socket', {
      identity: () => {
        throw new Error('lookup failed')
      },
    }),
  },
  {
    name: 'custom identity function returning a non-string → 401',
    threat: 'E',
    ...reject('alice', 'ERR_CLIENT_CERT_IDENTITY', 'socket', { identity: async () => 42 as never }),
  },
  {
    name: 'async custom identity function → 200',
    threat: 'ok',
    ...allow('alice', 'user:alice.example.com', 'socket', { identity: async (c) => `user:${c.san.dns[0]}` }),
  },
  {
    name: 'per-route policy: admin on /admin → 200',
    threat: 'ok',
    mode: 'socket',
    run: get('/admin', 'admin'),
    expect: { status: 200, id: 'admin' },
  },
  {
    name: 'per-route policy: alice on /admin → 403',
    threat: 'E',
    mode: 'socket',
    run: get('/admin', 'alice'),
    expect: { status: 403, code: 'ERR_CLIENT_CERT_NOT_ALLOWED' },
  },
  {
    name: 'status option: unauthenticated answered 403',
    threat: 'D',
    mode: 'socket',
    auth: { status: { unauthenticated: 403 } },
    run: get('/whoami', null),
    expect: { status: 403, code: 'ERR_CLIENT_CERT_MISSING' },
  },

  // ── optional mode ────────────────────────────────────────────────────────────────────
  {
    name: 'optional mode: no certificate reaches the route anonymously',
    threat: 'ok',
    mode: 'socket',
    optional: true,
    run: get('/whoami', null),
    expect: { status: 200, id: null },
  },
  {
    name: 'optional mode: a presented but expired certificate is still rejected',
    threat: 'D',
    mode: 'socket',
    optional: true,
    run: get('/whoami', 'expired'),
    expect: { status: 401, code: 'ERR_CLIENT_CERT_EXPIRED' },
  },
  {
    name: 'optional mode: guarded route without a certificate → 401',
    threat: 'D',
    mode: 'socket',
    optional: true,
    run: get('/admin', null),
    expect: { status: 401, code: 'ERR_CLIENT_CERT_MISSING' },
  },
  {
    name: 'optional mode: valid client → 200',
    threat: 'ok',
    mode: 'socket',
    optional: true,
    run: get('/whoami', 'alice'),
    expect: { status: 200, id: 'alice' },
  },

  // ── I. before the body ───────────────────────────────────────────────────────────────
  {
    name: 'no certificate + invalid JSON body → 401, not 400; the parser never runs',
    threat: 'I',
    mode: 'socket',
    run: get('/echo', null, {
      method: 'POST',
      body: '{"a":',
      headers: { 'content-type': 'application/json' },
    }),
    expect: { status: 401, code: 'ERR_CLIENT_CERT_MISSING' },
  },
  {
    name: 'not-allowed client + invalid JSON body → 403, not 400',
    threat: 'I',
    mode: 'socket',
    auth: { allow: { ids: ['admin'] } },
    run: get('/echo', 'alice', {
      method: 'POST',
      body: '{"a":',
      headers: { 'content-type': 'application/json' },
    }),
    expect: { status: 403, code: 'ERR_CLIENT_CERT_NOT_ALLOWED' },
  },
  {
    name: 'route policy: not-allowed client + invalid JSON body → 403 before parser, middleware, pipe and handler',
    threat: 'I',
    mode: 'socket',
    run: get('/admin', 'alice', {
      method: 'POST',
      body: '{"a":',
      headers: { 'content-type': 'application/json' },
    }),
    expect: { status: 403, code: 'ERR_CLIENT_CERT_NOT_ALLOWED' },
  },
  {
    name: 'route policy: allowed client + JSON body → 200, parsed (control)',
    threat: 'ok',
    mode: 'socket',
    adminPolicy: { ids: ['alice'] },
    run: get('/admin', 'alice', {
      method: 'POST',
      body: '{"a":1}',
      headers: { 'content-type': 'application/json' },
    }),
    expect: { status: 200, id: 'alice', parsed: true },
  },
  {
    name: 'optional mode: route policy, no certificate + invalid JSON body → 401 before the parser',
    threat: 'I',
    mode: 'socket',
    optional: true,
    run: get('/admin', null, {
      method: 'POST',
      body: '{"a":',
      headers: { 'content-type': 'application/json' },
    }),
    expect: { status: 401, code: 'ERR_CLIENT_CERT_MISSING' },
  },
  {
    name: 'no certificate + a 10 MB body trickled slowly → 401 before the body is sent',
    threat: 'I',
    mode: 'socket',
    run: async ({ url, f }) => {
      const r = await slowBodyRequest(url, {
        path: '/echo',
        ca: f.pki.serverCa.pem,
        headers: { 'content-type': 'application/json' },
      })
      return { status: r.status, body: '', headers: r.headers }
    },
    expect: { status: 401 },
    // The announced body is unread: the connection must not be kept (nor drained).
    check: (o) => expect(o.headers.connection).toBe('close'),
  },
  {
    name: 'expired certificate + slow body → 401 before the body is sent',
    threat: 'I',
    mode: 'app',
    run: async ({ url, f }) => {
      const r = await slowBodyRequest(url, {
        path: '/echo',
        ca: f.pki.serverCa.pem,
        client: f.clients.expired as ClientIdentity,
        headers: { 'content-type': 'application/json' },
      })
      return { status: r.status, body: '', headers: r.headers }
    },
    expect: { status: 401 },
    // The announced body is unread: the connection must not be kept (nor drained).
    check: (o) => expect(o.headers.connection).toBe('close'),
  },
]

/** J. Revocation (app-level trust), and F. rules changing under open connections. */
const crlAuth =
  (pick: (f: Fixtures) => readonly string[]) =>
  (f: Fixtures): Partial<ClientCertOptions> => ({
    revocation: { crls: { sources: [...pick(f)] } },
  })
const ocspAuth = (f: Fixtures): Partial<ClientCertOptions> => ({
  trust: { anchors: f.anchorsPem, intermediates: [f.intermediatesPem, f.revocation.ocspIntermediatePem] },
  revocation: { ocsp: { timeoutMs: 2000 } },
})

export const revocationScenarios: readonly Scenario[] = [
  {
    name: 'CRL: a valid, unrevoked client → 200',
    threat: 'ok',
    mode: 'app',
    auth: crlAuth((f) => f.revocation.crls),
    run: get('/whoami', 'alice'),
    expect: { status: 200, id: 'alice' },
  },
  {
    name: 'CRL: revoked client certificate → 401',
    threat: 'J',
    mode: 'app',
    auth: crlAuth((f) => f.revocation.crls),
    run: get('/whoami', 'revoked'),
    expect: { status: 401, code: 'ERR_CLIENT_CERT_REVOKED' },
  },
  {
    name: 'CRL past its nextUpdate (stale) → 401 by default',
    threat: 'J',
    mode: 'app',
    auth: crlAuth((f) => f.revocation.staleCrls),
    run: get('/whoami', 'alice'),
    expect: { status: 401, code: 'ERR_CLIENT_CERT_REVOCATION_UNAVAILABLE' },
  },
  {
    name: 'CRL signed by another key → 401 by default',
    threat: 'J',
    mode: 'app',
    auth: crlAuth((f) => f.revocation.wronglySignedCrls),
    run: get('/whoami', 'alice'),
    expect: { status: 401, code: 'ERR_CLIENT_CERT_REVOCATION_UNAVAILABLE' },
  },
  {
    name: 'CRL missing for an issuer in the path → 401 by default',
    threat: 'J',
    mode: 'app',
    auth: crlAuth((f) => f.revocation.crls.slice(1)),
    run: get('/whoami', 'alice'),
    expect: { status: 401, code: 'ERR_CLIENT_CERT_REVOCATION_UNAVAILABLE' },
  },
  {
    name: 'OCSP (responders named in AIA): good → 200',
    threat: 'ok',
    mode: 'app',
    auth: ocspAuth,
    run: get('/whoami', 'ocspGood'),
    expect: { status: 200, id: 'alice' },
  },
  {
    name: 'OCSP: revoked → 401',
    threat: 'J',
    mode: 'app',
    auth: ocspAuth,
    run: get('/whoami', 'ocspRevoked'),
    expect: { status: 401, code: 'ERR_CLIENT_CERT_REVOKED' },
  },
  {
    name: 'OCSP: responder down → 401 by default',
    threat: 'J',
    mode: 'app',
    auth: ocspAuth,
    run: get('/whoami', 'ocspDown'),
    expect: { status: 401, code: 'ERR_CLIENT_CERT_REVOCATION_UNAVAILABLE' },
  },
  {
    name: 'forwarded mode: a revoked certificate through the proxy → 401',
    threat: 'J',
    mode: 'forwarded',
    auth: (f) => ({
      ...crlAuth((x) => x.revocation.crls)(f),
      source: { forwarded: { format: 'rfc9440', trustedProxies: ['127.0.0.2'] } },
    }),
    run: async ({ url, f, upgrade }) =>
      (upgrade ? requestUpgrade : requestHttp)(url, {
        path: '/whoami',
        localAddress: '127.0.0.2',
        headers: forwardedHeaders('rfc9440', f.clients.revoked),
      }),
    expect: { status: 401, code: 'ERR_CLIENT_CERT_REVOKED' },
  },
  {
    name: 'spiffe bundles: control — the cross-domain mint passes when both trust domains are pooled in trust.anchors',
    threat: 'ok',
    mode: 'app',
    auth: (f) => ({
      ...spiffeAuth,
      trust: { anchors: [f.pki.root.pem, f.unknownRootPem], intermediates: f.intermediatesPem },
    }),
    run: get('/whoami', 'spiffeCrossDomain'),
    expect: { status: 200, id: 'spiffe://example.org/ns/prod/sa/api' },
  },
  {
    name: "spiffe bundles: an ID in example.org minted by another trust domain's CA is refused",
    threat: 'E',
    mode: 'app',
    auth: (f) => ({ ...spiffeAuth, trust: spiffeBundles(f) }),
    run: get('/whoami', 'spiffeCrossDomain'),
    expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED' },
  },
  {
    name: "spiffe bundles: an ID in example.org under example.org's bundle → 200",
    threat: 'ok',
    mode: 'app',
    auth: (f) => ({ ...spiffeAuth, trust: spiffeBundles(f) }),
    run: get('/whoami', 'spiffeProdSa'),
    expect: { status: 200, id: 'spiffe://example.org/ns/prod/sa/api' },
  },
  {
    name: 'spiffe bundles: a leaf without a SPIFFE ID is not judged against any bundle',
    threat: 'E',
    mode: 'app',
    auth: (f) => ({ trust: spiffeBundles(f) }),
    run: get('/whoami', 'alice'),
    expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED' },
  },
  {
    name: 'spiffe bundles: an X509-SVID leaf that is a CA is refused',
    threat: 'E',
    mode: 'app',
    auth: (f) => ({ ...spiffeAuth, trust: spiffeBundles(f) }),
    run: get('/whoami', 'spiffeCaLeaf'),
    expect: { status: 401, code: 'ERR_CLIENT_CERT_BASIC_CONSTRAINTS' },
  },
  {
    name: 'rotation: after updateTrust() removes the CA, the next request on the same keep-alive connection is rejected',
    threat: 'F',
    mode: 'app',
    sharedAuthenticator: true,
    // The client root goes away; only an unrelated CA stays trusted.
    run: onOneConnection('/whoami', ({ f, authenticator }) =>
      authenticator!.updateTrust({ trust: { anchors: f.unknownRootPem } }),
    ),
    expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED' },
  },
  {
    name: 'rotation: updateTrust() with a new policy applies to an open connection',
    threat: 'F',
    mode: 'app',
    sharedAuthenticator: true,
    run: onOneConnection('/whoami', ({ authenticator }) =>
      authenticator!.updateTrust({ allow: { ids: ['bob'] } }),
    ),
    expect: { status: 403, code: 'ERR_CLIENT_CERT_NOT_ALLOWED' },
  },
  {
    name: 'rotation: a bad update throws and leaves the old rules in force',
    threat: 'F',
    mode: 'app',
    sharedAuthenticator: true,
    run: async (ctx) => {
      expect(() => ctx.authenticator!.updateTrust({ trust: { anchors: 'not a certificate' } })).toThrow(
        /trust\.anchors/,
      )
      return get('/whoami', 'alice')(ctx)
    },
    expect: { status: 200, id: 'alice' },
  },
]

/** Scenarios only for drivers that can build the unsafe order. */
export const misorderScenarios: readonly Scenario[] = [
  {
    name: 'body parser mounted before authentication → fails closed with 500 and logs the misconfiguration',
    threat: 'I',
    mode: 'socket',
    misordered: true,
    run: get('/echo', null, {
      method: 'POST',
      body: '{"a":1}',
      headers: { 'content-type': 'application/json' },
    }),
    expect: { status: 500, code: 'ERR_CLIENT_CERT_BODY_ALREADY_READ', parsed: true },
    check: (_o, { probes }) => {
      expect(probes.logged.join('\n')).toMatch(/before express\.json\(\)|before the body|body parser/i)
    },
  },
  {
    // The body-read evidence is the stream (data emitted or its end reached): a parser that
    // read an empty body emitted no data, only the end.
    name: 'body parser mounted before authentication, empty JSON body → still fails closed',
    threat: 'I',
    mode: 'socket',
    misordered: true,
    run: get('/echo', null, {
      method: 'POST',
      body: '',
      headers: { 'content-type': 'application/json', 'content-length': '0' },
    }),
    expect: { status: 500, code: 'ERR_CLIENT_CERT_BODY_ALREADY_READ', parsed: true },
  },
]
