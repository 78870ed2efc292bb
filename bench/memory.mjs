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
const marks = new Set([CAP, 2 * CAP, Math.floor(n / 2), n])
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
  })}\n`,
)
