import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSecureContext, type TlsOptions } from 'node:tls'
import {
  type ClientCertError,
  type ClientCertOptions,
  type ClientPrincipal,
  createClientCertAuthenticator,
  createMtlsServerOptions,
} from '@clientcert/core'
import type { IssuedCertificate } from '@clientcert/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createFixtures, type Fixtures } from '../support/fixtures.js'
import type { Driver, Probes } from './driver.js'
import { drivers } from './drivers/index.js'
import { forwardedScenarios } from './forwarded-scenarios.js'
import { type Mode, misorderScenarios, revocationScenarios, type Scenario, scenarios } from './scenarios.js'
import { sniScenarios } from './sni-scenarios.js'

let f: Fixtures
/** Server certificate for a.test, b.test and the loopback addresses (SNI modes). */
let sniServer: IssuedCertificate
beforeAll(async () => {
  f = await createFixtures()
  sniServer = await f.pki.serverCa.issueServer({
    subject: 'CN=a.test',
    san: { dns: ['a.test', 'b.test', 'localhost'], ip: ['127.0.0.1', '::1'] },
  })
})

/** TLS options of the SNI modes: a.test trusts the client root, b.test an unrelated root. */
function sniTls(mode: 'sni' | 'sni-custom'): TlsOptions {
  const server = { cert: sniServer.chainPem, key: sniServer.keyPem }
  if (mode === 'sni') {
    return createMtlsServerOptions({
      ...server,
      clientCa: f.pki.root.pem,
      mode: 'verify-in-app',
      sni: {
        'a.test': { ...server, clientCa: f.pki.root.pem },
        'b.test': { ...server, clientCa: f.unknownRootPem },
      },
    })
  }
  const contexts: Record<string, ReturnType<typeof createSecureContext>> = {
    'a.test': createSecureContext({ ...server, ca: f.pki.root.pem }),
    'b.test': createSecureContext({ ...server, ca: f.unknownRootPem }),
  }
  return {
    ...server,
    ca: [f.pki.root.pem],
    requestCert: true,
    rejectUnauthorized: false,
    SNICallback: (name, done) => done(null, contexts[name.toLowerCase()]),
  }
}
afterAll(() => f.close())

const OPENSSL_WORDS =
  /BEGIN CERTIFICATE|CERT_HAS_EXPIRED|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|INVALID_PURPOSE|unable to get|\n\s+at /

function authFor(mode: Mode, fx: Fixtures): Partial<ClientCertOptions> {
  switch (mode) {
    case 'app':
    case 'forwarded':
    case 'forwarded-dual':
    case 'forwarded-unix':
    case 'forwarded-tls':
      return { trust: { anchors: fx.anchorsPem, intermediates: fx.intermediatesPem } }
    case 'pins':
      return { trust: { pins: [fx.clients.selfSigned.fingerprint256] } }
    default:
      return {}
  }
}

for (const driver of drivers) {
  describe(`conformance: ${driver.name}`, () => {
    const list = [
      ...scenarios,
      ...forwardedScenarios(),
      ...revocationScenarios,
      ...sniScenarios,
      ...(driver.canMisorder ? misorderScenarios : []),
    ]
    it('every scenario it declares not applicable exists', () => {
      const names = new Set(list.map((s) => s.name))
      for (const name of Object.keys(driver.notApplicable ?? {})) expect(names.has(name), name).toBe(true)
    })
    for (const scenario of list) {
      const why = driver.notApplicable?.[scenario.name]
      if (why !== undefined) {
        // Explicit and visible: the reason is in the skipped test's name.
        it.skip(`[${scenario.threat}] ${scenario.name} (not applicable: ${why})`, () => {})
        continue
      }
      it(`[${scenario.threat}] ${scenario.name}`, async () => {
        await runScenario(driver, scenario)
      })
    }
  })
}

async function runScenario(driver: Driver, scenario: Scenario): Promise<void> {
  const probes: Probes = { parsed: 0, handled: 0, logged: [] }
  const rejected: ClientCertError[] = []
  const authenticated: ClientPrincipal[] = []
  const auth = {
    identity: 'cn',
    allow: { authenticated: true },
    ...authFor(scenario.mode, f),
    ...(typeof scenario.auth === 'function' ? scenario.auth(f) : scenario.auth),
    onRejected: (e: ClientCertError) => rejected.push(e),
    ...(scenario.settles ? {} : { onAuthenticated: (p: ClientPrincipal) => authenticated.push(p) }),
  } as ClientCertOptions
  // Scenarios that change the rules at run time (rotation) get the authenticator itself.
  const authenticator = scenario.sharedAuthenticator ? createClientCertAuthenticator(auth) : undefined
  const plain =
    scenario.mode === 'plain' || (scenario.mode.startsWith('forwarded') && scenario.mode !== 'forwarded-tls')
  const tls = plain
    ? undefined
    : scenario.mode === 'sni' || scenario.mode === 'sni-custom'
      ? sniTls(scenario.mode)
      : { ...f.pki.server.tlsOptions(), ca: [f.pki.root.pem], requestCert: true, rejectUnauthorized: false }
  const app = await driver.start(
    {
      auth: authenticator ? ({ authenticator } as unknown as ClientCertOptions) : auth,
      ...(scenario.optional ? { optional: true } : {}),
      ...(scenario.adminPolicy ? { adminPolicy: scenario.adminPolicy } : {}),
      ...(scenario.misordered ? { misordered: true } : {}),
    },
    probes,
    {
      tls,
      host: scenario.mode === 'forwarded-dual' ? '::' : '127.0.0.1',
      ...(scenario.mode === 'forwarded-unix'
        ? { path: join(mkdtempSync(join(tmpdir(), 'cc-unix-')), 'app.sock') }
        : {}),
    },
  )
  try {
    const outcome = await scenario.run({
      url: app.url,
      f,
      probes,
      h2: driver.http2 === true,
      upgrade: driver.upgrade === true,
      authenticator,
    })
    if (process.env.CONFORMANCE_VERBOSE)
      console.log(`${scenario.name}\n  → ${outcome.status} ${rejected.at(-1)?.reason ?? ''}`)
    const want = scenario.expect
    expect(outcome.status, outcome.body).toBe(want.status)
    if (want.status === 200) {
      const body = JSON.parse(outcome.body) as { principal: { id: string } | null }
      if (want.id !== undefined) expect(body.principal?.id ?? null).toBe(want.id)
      // HTTP/2 drivers: a TLS request from an h2-offering client really ran over HTTP/2.
      const h = body as { httpVersion?: string }
      if (driver.http2 && tls !== undefined && h.httpVersion !== undefined && scenario.h1Only !== true)
        expect(h.httpVersion).toBe('2.0')
      if (want.id !== null && want.id !== undefined && !scenario.settles)
        expect(authenticated.length).toBeGreaterThan(0)
    } else if (want.code !== undefined || (want.status === 401 && outcome.body === '')) {
      // Rejected by clientcert: nothing after it ran, and the hook saw the same code with a reason.
      expect(probes.handled, 'a handler ran for a rejected request').toBe(0)
      if (!want.parsed) expect(probes.parsed, 'the body parser ran for a rejected request').toBe(0)
      expect(rejected.length, 'onRejected did not fire').toBeGreaterThan(0)
      expect(rejected.at(-1)?.reason.length).toBeGreaterThan(0)
      if (want.code) expect(rejected.at(-1)?.code).toBe(want.code)
      if (outcome.body !== '') {
        const problem = JSON.parse(outcome.body) as Record<string, unknown>
        expect(Object.keys(problem).sort()).toEqual(['code', 'detail', 'status', 'title', 'type'])
        expect(problem.code).toBe(want.code)
        expect(problem.status).toBe(want.status)
        // One media type, exactly, in every adapter; no validator on a no-store answer.
        expect(outcome.headers['content-type']).toBe('application/problem+json')
        expect(outcome.headers.etag, 'an ETag on a problem response').toBeUndefined()
        expect(outcome.headers['cache-control']).toBe('no-store')
        // RFC 9110 §11.6.1: a 401 carries a challenge (docs/errors/README.md, "WWW-Authenticate").
        if (want.status === 401) expect(outcome.headers['www-authenticate']).toBe('ClientCertificate')
        else expect(outcome.headers['www-authenticate']).toBeUndefined()
        // A request without a body has nothing unread: its connection is kept.
        if (outcome.sentBody === false) expect(outcome.headers.connection).not.toBe('close')
        expect(outcome.body).not.toMatch(OPENSSL_WORDS)
        expect(outcome.body).not.toContain(rejected.at(-1)?.reason ?? '\u0000')
      }
    }
    if (want.parsed) expect(probes.parsed, 'control: the parser should have run').toBeGreaterThan(0)
    await scenario.check?.(outcome, {
      url: app.url,
      f,
      probes,
      h2: driver.http2 === true,
      upgrade: driver.upgrade === true,
      authenticator,
    })
  } finally {
    await app.close()
  }
}

afterAll(() => {
  // Every threat class this issue covers has scenarios (guards against a list edited down to nothing).
  const classes = new Set(scenarios.map((s) => s.threat))
  for (const s of [...forwardedScenarios(), ...revocationScenarios, ...sniScenarios]) classes.add(s.threat)
  for (const c of ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'ok'] as const)
    expect(classes.has(c)).toBe(true)
})
