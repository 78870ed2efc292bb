/**
 * @clientcert/otel against the real OpenTelemetry SDK (sdk-trace-base, sdk-metrics) and its
 * in-memory exporters, with an HTTPS server on loopback and certificates generated at test time.
 */
import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import {
  type ClientCertAuthenticator,
  createClientCertAuthenticator,
  createMtlsServerOptions,
} from '@clientcert/core'
import {
  CLIENTCERT_ATTRIBUTES,
  CLIENTCERT_METRICS,
  type ClientCertInstrumentation,
  instrumentClientCert,
  SEMCONV_ATTRIBUTES,
} from '@clientcert/otel'
import {
  createCrl,
  createRootCA,
  createTestPki,
  type IssuedCertificate,
  requestWithHttps,
  type TestPki,
} from '@clientcert/testing'
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'

let pki: TestPki
let alice: IssuedCertificate
let server: https.Server
let url: string
let auth: ClientCertAuthenticator
let spans: InMemorySpanExporter
let tracerProvider: BasicTracerProvider
let metricExporter: InMemoryMetricExporter
let reader: PeriodicExportingMetricReader
let meterProvider: MeterProvider
let otel: ClientCertInstrumentation | undefined

beforeAll(async () => {
  pki = await createTestPki()
  alice = await pki.issueClient({ subject: 'CN=alice' })
  server = https.createServer(
    createMtlsServerOptions({
      cert: pki.server.chainPem,
      key: pki.server.keyPem,
      clientCa: pki.clientCaPem,
      mode: 'verify-in-app',
    }),
    (req, res) => {
      auth.authenticate(req).then((r) => {
        res.statusCode = r.ok ? 200 : r.error.status
        res.end(r.ok ? r.principal.id : r.error.code)
      })
    },
  )
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise((r) => server.close(r))
})

function setUp(enduserId = false): void {
  spans = new InMemorySpanExporter()
  tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] })
  metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 })
  meterProvider = new MeterProvider({ readers: [reader] })
  auth = createClientCertAuthenticator({
    trust: { anchors: pki.root.pem, intermediates: pki.intermediate.pem },
    identity: 'cn',
    allow: { ids: ['alice'] },
  })
  otel = instrumentClientCert({ tracerProvider, meterProvider, enduserId, authenticators: [auth] })
}
afterEach(async () => {
  otel?.close()
  otel = undefined
  await tracerProvider.shutdown()
  await meterProvider.shutdown()
})

const get = (client: IssuedCertificate | null) =>
  requestWithHttps(url, { path: '/', ca: pki.serverCa.pem, client })

async function collected() {
  await reader.forceFlush()
  const all = metricExporter.getMetrics()
  const last = all[all.length - 1]
  return last?.scopeMetrics.flatMap((s) => s.metrics) ?? []
}

const judged = (): ReadableSpan[] =>
  spans.getFinishedSpans().filter((s) => s.name === 'clientcert.authenticate')

/** Every attribute name a span carries is a pinned registry name or one of this package's own. */
function expectPinnedNames(list: readonly ReadableSpan[]): void {
  const allowed = new Set<string>([
    ...Object.values(SEMCONV_ATTRIBUTES),
    ...Object.values(CLIENTCERT_ATTRIBUTES),
  ])
  for (const s of list) for (const name of Object.keys(s.attributes)) expect(allowed).toContain(name)
}

describe('spans', () => {
  it('accepted: tls.* attributes from the registry, no enduser.id by default', async () => {
    setUp()
    expect((await get(alice)).status).toBe(200)
    await expect.poll(() => judged().length).toBe(1)
    const [span] = judged()
    const cert = alice.certificate
    expect(span!.attributes).toMatchObject({
      'tls.client.subject': expect.stringContaining('CN=alice'),
      'tls.client.issuer': 'CN=Test Client Intermediate CA',
      'tls.client.hash.sha256': alice.fingerprint256.replaceAll(':', '').toUpperCase(),
      'tls.client.not_before': cert.notBefore.toISOString(),
      'tls.client.not_after': cert.notAfter.toISOString(),
      'tls.resumed': false,
      'tls.protocol.name': 'tls',
      'tls.protocol.version': expect.stringMatching(/^1\.[23]$/),
      'clientcert.source': 'tls',
      'clientcert.cached': 'none',
      'clientcert.principal.kind': 'cn',
    })
    expect(span!.attributes).not.toHaveProperty('enduser.id')
    expect(span!.attributes).not.toHaveProperty('error.type')
    expect(span!.status.code).toBe(0)
    expectPinnedNames(judged())
  })

  it('enduser.id only when asked', async () => {
    setUp(true)
    await get(alice)
    await expect.poll(() => judged().length).toBe(1)
    expect(judged()[0]!.attributes['enduser.id']).toBe('alice')
  })

  it('rejected: error.type is the code, status ERROR, reason kept for operators', async () => {
    setUp()
    const bob = await pki.intermediate.issueClient({ subject: 'CN=bob' })
    expect((await get(bob)).body).toBe('ERR_CLIENT_CERT_NOT_ALLOWED')
    expect((await get(null)).body).toBe('ERR_CLIENT_CERT_MISSING')
    await expect.poll(() => judged().length).toBe(2)
    expect(judged().map((s) => s.attributes['error.type'])).toEqual([
      'ERR_CLIENT_CERT_NOT_ALLOWED',
      'ERR_CLIENT_CERT_MISSING',
    ])
    expect(judged().every((s) => s.status.code === 2)).toBe(true)
    expect(String(judged()[0]!.attributes['clientcert.reason'])).toContain('not allowed')
    expectPinnedNames(judged())
  })
})

describe('metrics', () => {
  it('decisions by outcome and code, latency cached vs cold, days to expiry, trust and CRL gauges', async () => {
    setUp()
    await get(alice)
    await get(alice)
    await get(null)
    const crl = createCrl(pki.intermediate, { nextUpdate: new Date(Date.now() + 3 * 86_400_000) })
    auth.updateTrust({ revocation: { crls: { sources: [crl.pem, createCrl(pki.root).pem] } } })
    const m = await collected()
    const byName = (n: string) => m.find((x) => x.descriptor.name === n)
    const decisions = byName(CLIENTCERT_METRICS.DECISIONS)!
    const points = decisions.dataPoints.map((p) => [p.attributes, p.value])
    expect(points).toEqual(
      expect.arrayContaining([
        [expect.objectContaining({ 'clientcert.outcome': 'accepted', 'clientcert.cached': 'none' }), 1],
        [expect.objectContaining({ 'clientcert.outcome': 'accepted', 'clientcert.cached': 'cache' }), 1],
        [
          expect.objectContaining({
            'clientcert.outcome': 'rejected',
            'error.type': 'ERR_CLIENT_CERT_MISSING',
          }),
          1,
        ],
      ]),
    )
    const latency = byName(CLIENTCERT_METRICS.DURATION)!
    expect(latency.descriptor.unit).toBe('s')
    expect(new Set(latency.dataPoints.map((p) => p.attributes['clientcert.cached']))).toEqual(
      new Set(['none', 'cache']),
    )
    const days = byName(CLIENTCERT_METRICS.CLIENT_DAYS_TO_EXPIRY)!
    const expected = (alice.certificate.notAfter.getTime() - Date.now()) / 86_400_000
    const hist = days.dataPoints[0]!.value as { count: number; min?: number }
    expect(hist.count).toBe(2)
    expect(hist.min).toBeCloseTo(expected, 1)

    const trust = byName(CLIENTCERT_METRICS.TRUST_DAYS_TO_EXPIRY)!
    const earliest = Math.min(
      pki.root.certificate.notAfter.getTime(),
      pki.intermediate.certificate.notAfter.getTime(),
    )
    expect(trust.dataPoints).toHaveLength(1)
    expect(trust.dataPoints[0]!.value as number).toBeCloseTo((earliest - Date.now()) / 86_400_000, 1)
    const crls = byName(CLIENTCERT_METRICS.CRL_DAYS_TO_NEXT_UPDATE)!
    const intermediateCrl = crls.dataPoints.find(
      (p) => p.attributes['clientcert.trust.name'] === 'CN=Test Client Intermediate CA',
    )!
    expect(intermediateCrl.value as number).toBeCloseTo(3, 1)
    expect(intermediateCrl.attributes['clientcert.crl.origin']).toBe('configured')
  })
})

describe('expiry gauges follow watch()', () => {
  it('a watched authenticator with an expiring anchor is reported', async () => {
    setUp()
    const soon = await createRootCA({
      subject: 'CN=Short Root',
      notAfter: new Date(Date.now() + 2 * 86_400_000),
    })
    const other = createClientCertAuthenticator({
      trust: { anchors: soon.pem },
      allow: { authenticated: true },
    })
    otel!.watch(other)
    const m = await collected()
    const trust = m.find((x) => x.descriptor.name === CLIENTCERT_METRICS.TRUST_DAYS_TO_EXPIRY)!
    const point = trust.dataPoints.find((p) => p.attributes['clientcert.trust.name'] === 'CN=Short Root')!
    expect(point.value as number).toBeCloseTo(2, 1)
    expect(() => otel!.watch({} as ClientCertAuthenticator)).toThrow(/authenticator/)
  })
})
