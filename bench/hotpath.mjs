// In-process per-request cost of the keep-alive (memo hit) and forwarded warm (cache hit) paths,
// next to the pieces they are made of. Diagnostic; not part of the ratios. Bounded loops.
//   node bench/hotpath.mjs
import { X509Certificate } from 'node:crypto'
import { IncomingMessage } from 'node:http'
import { createClientCertAuthenticator } from '@clientcert/core'
import { admitRequest } from '@clientcert/core/adapter'
import { createTestPki } from '@clientcert/testing'
import { forwardedRequest, forwardedSource } from './lib/fwd.mjs'

const N = 200_000
const pki = await createTestPki()
const client = await pki.issueClient({ subject: 'CN=bench-client' })
const x509 = new X509Certificate(client.der)
// A keep-alive request as Node hands it over: an authorized TLS socket, ordinary headers.
const socket = {
  encrypted: true,
  authorized: true,
  authorizationError: null,
  remoteAddress: '127.0.0.1',
  destroyed: false,
  getPeerX509Certificate: () => x509,
}
const headers = {
  host: '127.0.0.1:8443',
  connection: 'keep-alive',
  'user-agent': 'undici',
  accept: '*/*',
  'accept-encoding': 'gzip, deflate',
}
const tlsReq = { socket, headers, rawHeaders: Object.entries(headers).flat(), method: 'GET', url: '/' }
const tlsAuth = createClientCertAuthenticator({ identity: 'cn', allow: { ids: ['bench-client'] } })
const fwdAuth = createClientCertAuthenticator({
  identity: 'cn',
  allow: { ids: ['bench-client'] },
  source: forwardedSource,
  trust: { anchors: pki.root.pem },
})
const fwdReq = forwardedRequest(client.der, [pki.intermediate.der])

async function time(label, fn) {
  for (let i = 0; i < 20_000; i++) await fn()
  const t = performance.now()
  for (let i = 0; i < N; i++) await fn()
  const us = ((performance.now() - t) * 1000) / N
  console.log(`${label.padEnd(58)} ${us.toFixed(2)} µs/request`)
  return us
}
const out = {}
out.baseline_await = await time('await of a resolved promise (floor of an async hook)', () =>
  Promise.resolve(1),
)
out.tls_memo_hit = await time('authenticate(): TLS keep-alive, memo hit, ids policy', async () => {
  const r = await tlsAuth.authenticate(tlsReq)
  if (!r.ok) throw new Error(r.error.reason)
})
/**
 * The adapter kit's stage (what Koa, Hono, Fastify and withClientCert call) on requests `build`
 * makes as Node does, synchronously, after `warm` admitted requests have settled the
 * connection: ns per request net of building the request (median of nine paired batches).
 */
async function admitNet(label, auth, build, { warm, batchSize }) {
  const rule = { policy: undefined, optional: false }
  for (let i = 0; i < warm; i++) {
    const first = await admitRequest(auth, build(), rule)
    if (!first.ok) throw new Error(first.error.reason)
  }
  const batch = (admit) => {
    const t = performance.now()
    for (let i = 0; i < batchSize; i++) {
      const req = build()
      if (admit && admitRequest(auth, req, rule).ok !== true) throw new Error('not admitted')
    }
    return ((performance.now() - t) * 1e6) / batchSize
  }
  const spans = []
  for (let k = 0; k < 9; k++) spans.push(batch(true) - batch(false))
  const ns = spans.sort((a, b) => a - b)[4]
  console.log(`${label.padEnd(58)} ${ns.toFixed(0)} ns/request`)
  return ns
}
// A settled TLS connection's keep-alive path.
out.admit_settled_ns = await admitNet(
  'admitRequest(): TLS keep-alive, settled connection (net)',
  tlsAuth,
  () => {
    const req = new IncomingMessage(socket)
    req.headers = headers
    req.rawHeaders = tlsReq.rawHeaders
    return req
  },
  { warm: 1, batchSize: 1_000_000 },
)
// Behind a proxy: a keep-alive request from the allowlisted proxy repeating the forwarded
// headers its connection was admitted with (the second request settles it), with header
// strings of its own, as Node's parser makes them.
{
  const proxySocket = { ...fwdReq.socket }
  const own = (s) => Buffer.from(s, 'latin1').toString('latin1')
  out.forwarded_admit_settled_ns = await admitNet(
    'admitRequest(): forwarded, settled proxy connection (net)',
    fwdAuth,
    () => {
      const req = new IncomingMessage(proxySocket)
      const raw = fwdReq.rawHeaders.map(own)
      req.rawHeaders = raw
      req.headers = Object.fromEntries(
        Array.from({ length: raw.length / 2 }, (_, i) => [raw[2 * i], raw[2 * i + 1]]),
      )
      return req
    },
    { warm: 2, batchSize: 200_000 },
  )
}
out.forwarded_cache_hit = await time('authenticate(): forwarded rfc9440 + chain, cache hit', async () => {
  const r = await fwdAuth.authenticate(fwdReq)
  if (!r.ok) throw new Error(r.error.reason)
})
out.base64_decode_leaf_and_chain = await time(
  'Buffer.from(base64) of leaf + chain header (decode alone)',
  () => {
    Buffer.from(fwdReq.headers['client-cert'].slice(1, -1), 'base64')
    Buffer.from(fwdReq.headers['client-cert-chain'].slice(1, -1), 'base64')
  },
)
// The same two paths with @clientcert/otel subscribed on the real SDK (spans batched, then
// dropped by a discarding exporter; metrics recorded): the subscriber's cost per request.
if (!process.argv.includes('--no-otel')) {
  const { createRequire } = await import('node:module')
  const otelRequire = createRequire(new URL('../packages/otel/package.json', import.meta.url))
  const { BasicTracerProvider, BatchSpanProcessor } = otelRequire('@opentelemetry/sdk-trace-base')
  const { MeterProvider } = otelRequire('@opentelemetry/sdk-metrics')
  const { instrumentClientCert } = await import(
    new URL('../packages/otel/dist/index.js', import.meta.url).href
  )
  const discard = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} }
  const otel = instrumentClientCert({
    tracerProvider: new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(discard)] }),
    meterProvider: new MeterProvider(),
  })
  out.tls_memo_hit_otel = await time('  … with @clientcert/otel subscribed', async () => {
    const r = await tlsAuth.authenticate(tlsReq)
    if (!r.ok) throw new Error(r.error.reason)
  })
  out.forwarded_cache_hit_otel = await time(
    '  … forwarded cache hit with @clientcert/otel subscribed',
    async () => {
      const r = await fwdAuth.authenticate(fwdReq)
      if (!r.ok) throw new Error(r.error.reason)
    },
  )
  otel.close()
}
console.log(JSON.stringify(out))
