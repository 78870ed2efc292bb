// Memory: N distinct client certificates through forwarded mode (rfc9440 headers from the
// allowlisted proxy, in-process authenticate()) with the default validation cache.
// Certificates are made on the fly (one key pair, new serial + CN, node:crypto sign) in batches,
// so the benchmark itself holds no more than one batch.
//   node --expose-gc bench/memory.mjs '{"n":100000}'
import { createClientCertAuthenticator } from '@clientcert/core'
import { createTestPki } from '@clientcert/testing'
import { certFactory } from './lib/certs.mjs'
import { forwardedRequest, forwardedSource } from './lib/fwd.mjs'

const o = JSON.parse(process.argv[2] ?? '{}')
const n = o.n ?? 100_000
const CAP = 10_000 // the default cache.max
if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc')
const MiB = 1024 * 1024
function snap(label, done) {
  globalThis.gc()
  globalThis.gc()
  const m = process.memoryUsage()
  return {
    label,
    certs: done,
    heapUsedMiB: m.heapUsed / MiB,
    rssMiB: m.rss / MiB,
    externalMiB: m.external / MiB,
    heapTotalMiB: m.heapTotal / MiB,
    arrayBuffersMiB: m.arrayBuffers / MiB,
  }
}

const pki = await createTestPki()
const marker = 'mem-client-0000000'
const template = await pki.intermediate.issueClient({ subject: `CN=${marker}` })
const make = certFactory(template, pki.intermediate.keyPem, marker)
const chain = [pki.intermediate.der]
const auth = createClientCertAuthenticator({
  identity: 'cn',
  allow: { authenticated: true },
  source: forwardedSource,
  trust: { anchors: pki.root.pem },
})
// Warm up code paths with a few certificates outside the numbered range, then measure.
for (let i = 0; i < 50; i++) await auth.authenticate(forwardedRequest(make(9_000_000 + i), chain))
const points = [snap('before', 0)]
// A checkpoint every 10,000 certificates: RSS moves ±15 MiB between neighbouring points (the
// allocator and V8's semispaces), so growth after the cache cap is judged from the trend of all
// points from 20,000 on, not from two single readings.
const marks = new Set([CAP, Math.floor(n / 2), n])
for (let c = 2 * CAP; c <= n; c += 10_000) marks.add(c)
const t0 = performance.now()
const BATCH = 1000
for (let done = 0; done < n; ) {
  const batch = Array.from({ length: Math.min(BATCH, n - done) }, (_, i) => make(done + i))
  for (const der of batch) {
    const r = await auth.authenticate(forwardedRequest(der, chain))
    if (!r.ok) throw new Error(`rejected: ${r.error.code} ${r.error.reason}`)
  }
  done += batch.length
  if (marks.has(done))
    points.push(snap(done === CAP ? 'at cache cap' : done === n ? 'after' : `${done}`, done))
}
const seconds = (performance.now() - t0) / 1000

/**
 * RSS from 20,000 certificates (twice the cache cap) to the end: the least-squares trend over
 * every checkpoint in that range, as MiB over the whole range, and the plain difference of the
 * two end readings for reference.
 */
function rssAfterCap() {
  const from = 2 * CAP
  const pts = points.filter((p) => p.certs >= from)
  if (pts.length < 2) return {}
  const mx = pts.reduce((a, p) => a + p.certs, 0) / pts.length
  const my = pts.reduce((a, p) => a + p.rssMiB, 0) / pts.length
  const slope =
    pts.reduce((a, p) => a + (p.certs - mx) * (p.rssMiB - my), 0) /
    pts.reduce((a, p) => a + (p.certs - mx) ** 2, 0)
  return {
    rssTrendAfter20kMiB: slope * (pts.at(-1).certs - from),
    rssGrowthAfter20kMiB: pts.at(-1).rssMiB - pts[0].rssMiB,
    rssAfter20kRangeMiB: Math.max(...pts.map((p) => p.rssMiB)) - Math.min(...pts.map((p) => p.rssMiB)),
  }
}
const at = (c) => points.find((p) => p.certs === c)
const before = points[0]
const cap = at(CAP)
const after = at(n)
process.stdout.write(
  `${JSON.stringify({
    n,
    seconds,
    points,
    heapGrowthMiB: after.heapUsedMiB - before.heapUsedMiB,
    heapGrowthAfterCapMiB: after.heapUsedMiB - cap.heapUsedMiB,
    rssGrowthMiB: after.rssMiB - before.rssMiB,
    ...rssAfterCap(),
  })}\n`,
)
