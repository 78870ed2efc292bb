import type { ForwardedFormat } from '@clientcert/core'
import { type ClientIdentity, forwardedHeaders, requestHttp, requestWithHttps } from '@clientcert/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Listeners } from './configs.js'
import {
  attempt,
  createMaterial,
  describeOutcome,
  findBinary,
  freePort,
  type Material,
  type Outcome,
  problemCode,
  type RunningApp,
  type RunningProxy,
  STRANGER,
  startApp,
  startProxy,
  versionOf,
} from './harness.js'

/** One real proxy in front of the Express app. */
export interface ProxySpec {
  /** Display name and binary name. */
  readonly name: 'nginx' | 'haproxy' | 'caddy'
  readonly format: Extract<ForwardedFormat, 'nginx' | 'haproxy' | 'caddy'>
  /** Debian package that provides the binary. */
  readonly debPackage: string
  readonly versionArgs: readonly string[]
  /** Address the app sees the proxy connect from (and trusts). */
  readonly proxyAddress: string
  /**
   * Writes the configuration into `m.dir` and returns the command line. `extraPorts` are
   * additional listeners the spec asked for with `extraListeners`.
   */
  launch(
    m: Material,
    ports: Listeners,
    appPort: number,
    extraPorts: readonly number[],
  ): { args: string[]; env?: NodeJS.ProcessEnv }
  readonly extraListeners?: number
  /**
   * Who stops an expired certificate on the lax listener: nginx's `optional_no_ca` only waives
   * the issuer check and still refuses an expired certificate itself.
   */
  readonly laxExpired: 'proxy' | 'app'
  /**
   * The app's code when the optional listener forwards a request without a client certificate:
   * nginx omits the header (`$ssl_client_escaped_cert` is empty), HAProxy sends it empty, and
   * Caddy 2.6 leaves the unknown placeholder in place, sending the literal text
   * `{http.request.tls.client.certificate_der_base64}`, which is not base64.
   */
  readonly optionalNoCertCode: 'ERR_CLIENT_CERT_MISSING' | 'ERR_CLIENT_CERT_MALFORMED'
  /** How a proxy-generated rejection page is recognised (a 4xx that is not the app's). */
  readonly rejectionPage?: RegExp
  /** Tests only this proxy has. */
  readonly extra?: (ctx: () => SuiteContext) => void
}

export interface SuiteContext {
  /** Log a labelled outcome (PROXIES_VERBOSE=1). */
  log(label: string, o: Outcome): void
  snapshot(): ReturnType<typeof snapshot>
  readonly m: Material
  readonly app: RunningApp
  readonly proxy: RunningProxy
  readonly ports: Listeners
  readonly extraPorts: readonly number[]
  readonly spec: ProxySpec
  /** Sends an HTTPS request through a listener of the proxy. */
  via(
    port: number,
    opts: {
      client?: ClientIdentity | null
      path?: string
      method?: string
      headers?: Record<string, string | string[]>
      body?: string
    },
  ): Promise<Outcome>
}

const JSON_HEADERS = { 'content-type': 'application/json' }
const INVALID_JSON = '{"this is": not json'

/** Counters of the app, to prove that nothing ran for a rejected request. */
function snapshot(app: RunningApp) {
  const p = app.probes
  return { handled: p.handled, parsed: p.parsed, authenticated: p.authenticated.length }
}

export function proxySuite(spec: ProxySpec): void {
  describe(`real proxy: ${spec.name}`, () => {
    let ctx: SuiteContext | undefined
    const c = (): SuiteContext => {
      if (ctx === undefined) throw new Error(`${spec.name} suite did not start (see the beforeAll error)`)
      return ctx
    }

    // Whatever beforeAll got to start, so afterAll can stop it even when a later step failed.
    const started: { m?: Material; app?: RunningApp; proxy?: RunningProxy } = {}

    beforeAll(async () => {
      const binary = findBinary(spec.name, spec.debPackage)
      console.log(`[proxies] ${spec.name}: ${versionOf(binary, [...spec.versionArgs])} (${binary})`)
      const m = await createMaterial(spec.name)
      started.m = m
      const app = await startApp(spec.format, spec.proxyAddress, m)
      started.app = app
      const ports: Listeners = { strict: await freePort(), optional: await freePort(), lax: await freePort() }
      const extraPorts: number[] = []
      for (let i = 0; i < (spec.extraListeners ?? 0); i++) extraPorts.push(await freePort())
      const { args, env } = spec.launch(m, ports, app.port, extraPorts)
      const proxy = await startProxy(
        spec.name,
        binary,
        args,
        [ports.strict, ports.optional, ports.lax, ...extraPorts],
        { cwd: m.dir, ...(env ? { env } : {}) },
      )
      started.proxy = proxy
      ctx = {
        m,
        app,
        proxy,
        ports,
        extraPorts,
        spec,
        log: (label, o) => log(label, o),
        snapshot: () => snapshot(app),
        via: (port, opts) =>
          attempt(
            // Connect to 127.0.0.1 with SNI and Host `localhost` (a name of pki.server): Caddy
            // answers 421 when SNI and Host differ, and Node sends no SNI for an IP address.
            requestWithHttps(`https://127.0.0.1:${port}`, {
              ca: m.pki.serverCa.pem,
              servername: 'localhost',
              path: opts.path ?? '/whoami',
              client: opts.client ?? null,
              ...(opts.method === undefined ? {} : { method: opts.method }),
              headers: { host: `localhost:${port}`, ...opts.headers },
              ...(opts.body === undefined ? {} : { body: opts.body }),
              timeoutMs: 5000,
            }),
          ),
      }
    })

    afterAll(async () => {
      await started.proxy?.stop()
      await started.app?.close()
      if (process.env.PROXIES_VERBOSE && started.proxy)
        console.log(`[proxies] ${spec.name} output:\n${started.proxy.output()}`)
      started.m?.cleanup()
    })

    const log = (label: string, o: Outcome) => {
      if (process.env.PROXIES_VERBOSE) console.log(`[proxies] ${spec.name} ${label} → ${describeOutcome(o)}`)
    }

    /** Rejected by the proxy (handshake error or its own 4xx page) or by clientcert; nothing in the app ran. */
    const expectNoAccess = (o: Outcome, before: ReturnType<typeof snapshot>) => {
      const { app } = c()
      if (o.kind === 'response') {
        expect(o.status, describeOutcome(o)).toBeGreaterThanOrEqual(400)
        expect(o.status, describeOutcome(o)).toBeLessThan(500)
        if (o.status !== 401 && o.status !== 403) {
          // Not clientcert's answer: must be the proxy's own rejection page.
          expect(o.body, describeOutcome(o)).toMatch(spec.rejectionPage ?? /^\b$/)
        }
      }
      expect(app.probes.handled, 'a handler ran for a rejected request').toBe(before.handled)
      expect(app.probes.parsed, 'the body parser ran for a rejected request').toBe(before.parsed)
      expect(app.probes.authenticated.length, 'clientcert authenticated a rejected request').toBe(
        before.authenticated,
      )
    }

    /** Rejected by clientcert in the app (the proxy let the request through). */
    const expectAppRejects = (o: Outcome, before: ReturnType<typeof snapshot>, codes: string[]) => {
      expect(o.kind, describeOutcome(o)).toBe('response')
      if (o.kind !== 'response') return
      expect(o.status, describeOutcome(o)).toBe(401)
      expect(codes, describeOutcome(o)).toContain(problemCode(o))
      expectNoAccess(o, before)
      expect(c().app.probes.rejected.at(-1)?.code).toBe(problemCode(o))
    }

    const whoami = (o: Outcome) => {
      expect(o.kind, describeOutcome(o)).toBe('response')
      if (o.kind !== 'response') throw new Error('unreachable')
      expect(o.status, describeOutcome(o)).toBe(200)
      return JSON.parse(o.body) as { id: string | null; fingerprint256: string; source: unknown }
    }

    const forged = () => forwardedHeaders(spec.format, c().m.bob)

    describe('strict listener (client certificate required)', () => {
      it('1. a valid client (chain sent) gets through with its own identity and a forwarded source', async () => {
        const { m, ports, via } = c()
        const o = await via(ports.strict, { client: m.alice })
        log('strict alice', o)
        const body = whoami(o)
        expect(body.id).toBe('alice')
        expect(body.fingerprint256).toBe(m.alice.fingerprint256)
        expect(body.source).toEqual({ type: 'forwarded', format: spec.format, proxy: spec.proxyAddress })
      })

      it('1b. POST with a JSON body reaches the parser after authentication (control)', async () => {
        const { m, ports, via, app } = c()
        const before = snapshot(app)
        const o = await via(ports.strict, {
          client: m.alice,
          path: '/echo',
          headers: JSON_HEADERS,
          body: '{"hello":"world"}',
        })
        expect(o.kind === 'response' && o.status, describeOutcome(o)).toBe(200)
        expect(o.kind === 'response' && JSON.parse(o.body)).toEqual({ id: 'alice', body: { hello: 'world' } })
        expect(app.probes.parsed).toBe(before.parsed + 1)
      })

      it('2a. a client certificate from an unknown CA is refused', async () => {
        const { m, ports, via, app } = c()
        const before = snapshot(app)
        const o = await via(ports.strict, { client: m.unknownCa })
        log('strict unknown CA', o)
        expectNoAccess(o, before)
      })

      it('2b. an expired client certificate is refused', async () => {
        const { m, ports, via, app } = c()
        const before = snapshot(app)
        const o = await via(ports.strict, { client: m.expired })
        log('strict expired', o)
        expectNoAccess(o, before)
      })

      it('3. no client certificate is refused', async () => {
        const { ports, via, app } = c()
        const before = snapshot(app)
        const o = await via(ports.strict, { client: null })
        log('strict no cert', o)
        expectNoAccess(o, before)
      })

      it("4. a client-sent certificate header (bob's) never replaces the TLS client's identity", async () => {
        const { m, ports, via } = c()
        const headers = forged()
        const shouted = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]))
        const twice = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v, v]]))
        for (const [label, h] of [
          ['lower-case', headers],
          ['upper-case', shouted],
          ['two lines', twice],
        ] as const) {
          const o = await via(ports.strict, { client: m.alice, headers: h })
          log(`strict alice + forged bob (${label})`, o)
          const body = whoami(o)
          expect(body.id, label).toBe('alice')
          expect(body.fingerprint256, label).toBe(m.alice.fingerprint256)
        }
      })

      it('5. the same header sent straight to the app by a stranger → 401 ERR_CLIENT_CERT_UNTRUSTED_PROXY', async () => {
        const { m, app } = c()
        const spoofed: Record<string, string> = {
          'x-forwarded-for': spec.proxyAddress,
          'x-real-ip': spec.proxyAddress,
          forwarded: `for=${spec.proxyAddress}`,
        }
        for (const extra of [{}, spoofed]) {
          const before = snapshot(app)
          const o = await attempt(
            requestHttp(app.url, {
              path: '/whoami',
              localAddress: STRANGER,
              headers: { ...forwardedHeaders(spec.format, m.alice), ...extra },
            }),
          )
          log('stranger direct', o)
          expectAppRejects(o, before, ['ERR_CLIENT_CERT_UNTRUSTED_PROXY'])
        }
      })

      it('6. no client certificate + an invalid JSON body → never 400 from the app, parser never ran', async () => {
        const { ports, via, app } = c()
        const before = snapshot(app)
        const o = await via(ports.strict, {
          client: null,
          path: '/echo',
          method: 'POST',
          headers: JSON_HEADERS,
          body: INVALID_JSON,
        })
        log('strict no cert + bad JSON', o)
        expectNoAccess(o, before)
        if (o.kind === 'response' && o.status === 400) expect(o.body).toMatch(spec.rejectionPage ?? /^\b$/)
      })
    })

    describe('optional listener (certificate verified when sent)', () => {
      it('a valid client still gets through', async () => {
        const { m, ports, via } = c()
        expect(whoami(await via(ports.optional, { client: m.alice })).id).toBe('alice')
      })

      it('3b. no client certificate → the proxy forwards none and the app answers 401', async () => {
        const { ports, via, app } = c()
        const before = snapshot(app)
        const o = await via(ports.optional, { client: null })
        log('optional no cert', o)
        log(`optional no cert reason: ${app.probes.rejected.at(-1)?.reason}`, o)
        expectAppRejects(o, before, [spec.optionalNoCertCode])
      })

      it("3c. no client certificate + forged headers (bob's, 'verified') → 401, never bob", async () => {
        const { ports, via, app } = c()
        const before = snapshot(app)
        const o = await via(ports.optional, { client: null, headers: forged() })
        log('optional no cert + forged bob', o)
        expectAppRejects(o, before, [spec.optionalNoCertCode])
      })

      it('2c. a client certificate from an unknown CA is refused', async () => {
        const { m, ports, via, app } = c()
        const before = snapshot(app)
        const o = await via(ports.optional, { client: m.unknownCa })
        log('optional unknown CA', o)
        expectNoAccess(o, before)
      })

      it('6b. no client certificate + an invalid JSON body → 401, the parser never ran', async () => {
        const { ports, via, app } = c()
        const before = snapshot(app)
        const o = await via(ports.optional, {
          client: null,
          path: '/echo',
          method: 'POST',
          headers: JSON_HEADERS,
          body: INVALID_JSON,
        })
        log('optional no cert + bad JSON', o)
        expectAppRejects(o, before, [spec.optionalNoCertCode])
      })
    })

    describe('lax listener (proxy forwards certificates that failed its verification)', () => {
      it('a valid client still gets through', async () => {
        const { m, ports, via } = c()
        expect(whoami(await via(ports.lax, { client: m.alice })).id).toBe('alice')
      })

      it(`2d. an expired certificate on the lax listener → refused by the ${spec.laxExpired}`, async () => {
        const { m, ports, via, app } = c()
        const before = snapshot(app)
        const o = await via(ports.lax, { client: m.expired })
        log('lax expired', o)
        if (spec.laxExpired === 'proxy') {
          expect(o.kind === 'error' || problemCode(o) === undefined, describeOutcome(o)).toBe(true)
          expectNoAccess(o, before)
        } else {
          expectAppRejects(o, before, ['ERR_CLIENT_CERT_UNTRUSTED', 'ERR_CLIENT_CERT_EXPIRED'])
          log(`lax expired reason: ${app.probes.rejected.at(-1)?.reason}`, o)
        }
      })

      it('2e. an unknown-CA certificate forwarded by the proxy → 401 from the app', async () => {
        const { m, ports, via, app } = c()
        const before = snapshot(app)
        const o = await via(ports.lax, { client: m.unknownCa })
        log('lax unknown CA', o)
        expectAppRejects(o, before, ['ERR_CLIENT_CERT_UNTRUSTED'])
        log(`lax unknown CA reason: ${app.probes.rejected.at(-1)?.reason}`, o)
      })

      it("4b. an unverified client adding bob's headers → 401, never bob", async () => {
        const { m, ports, via, app } = c()
        const before = snapshot(app)
        const o = await via(ports.lax, { client: m.unknownCa, headers: forged() })
        log('lax unknown CA + forged bob', o)
        expectAppRejects(o, before, ['ERR_CLIENT_CERT_UNTRUSTED'])
      })
    })

    spec.extra?.(c)
  })
}
