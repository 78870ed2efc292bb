// Diagnostic: what each request costs the young generation, variant by variant (issue 19).
//   node bench/gc.mjs [--framework=express] [--mode=tls] [--load=throughput|latency] [--rounds=2] [--seconds=15] variant...
// --load=latency runs the latency lines' load instead (500 requests/s, no pipelining) and adds
// the generator's p50/p99 and the mark-compacts (count and pause) to the table: what sets a p99.
// Each round runs every variant alone (shuffled): one server pinned to CPU 1 under
// `--trace-gc-nvp`, one load generator on CPU 0 (keep-alive, 10 connections x pipelining 10).
// Over the window from 5 s after the load starts to 1 s before it ends, V8's own accounting of
// its scavenges, per request the server was handed: bytes allocated, bytes that survived a
// scavenge, bytes promoted to the old generation, and the scavenges' pause (a time, so it moves
// with the host; the byte counts do not). Prints medians over the rounds.
import { rmSync } from 'node:fs'
import { loadAlone, median } from './lib/alone.mjs'
import { opt, positional } from './lib/args.mjs'
import { writePkiMaterial } from './lib/pki.mjs'
import { startServer } from './lib/server-process.mjs'

const framework = opt('framework', 'express')
const mode = opt('mode', 'tls')
const rounds = Number(opt('rounds', '2'))
const seconds = Number(opt('seconds', '15'))
const load = opt('load', 'throughput')
const variants = positional()
if (variants.length === 0) variants.push('bare', 'clientcert')
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const FIELDS = ['allocated', 'new_space_survived', 'promoted']

const results = Object.fromEntries(variants.map((v) => [v, []]))
const pki = await writePkiMaterial()
try {
  for (let r = 0; r < rounds; r++) {
    for (const v of [...variants].sort(() => Math.random() - 0.5)) {
      let counting = false
      const sum = {
        scavenges: 0,
        pauseMs: 0,
        maxPauseMs: 0,
        allocated: 0,
        new_space_survived: 0,
        promoted: 0,
      }
      const marks = { n: 0, pauseMs: 0, maxPauseMs: 0 }
      const onLine = (text) => {
        if (!counting || !/ gc=(s|mc) /.test(text)) return
        const kv = Object.fromEntries(text.split(/\s+/).map((p) => p.split('=')))
        const pause = Number(kv.pause)
        if (kv.gc === 'mc') {
          marks.n++
          marks.pauseMs += pause
          marks.maxPauseMs = Math.max(marks.maxPauseMs, pause)
          return
        }
        sum.scavenges++
        sum.pauseMs += pause
        sum.maxPauseMs = Math.max(sum.maxPauseMs, pause)
        for (const f of FIELDS) sum[f] += Number(kv[f])
      }
      const server = await startServer('1', pki, framework, v, mode, { nodeArgs: ['--trace-gc-nvp'], onLine })
      const running = loadAlone(pki, server.port, {
        mode,
        warmupMs: 0,
        durationMs: seconds * 1000,
        framework,
        load,
      })
      await sleep(5000)
      const a = await server.usage()
      counting = true
      await sleep((seconds - 6) * 1000)
      const b = await server.usage()
      counting = false
      const out = await running
      await server.stop()
      if (out.errors) throw new Error(`${v}: ${out.errors} errors ${JSON.stringify(out.statuses)}`)
      const n = b.served - a.served
      results[v].push({
        cpuUs: (b.us - a.us) / n,
        requestsPerScavenge: n / sum.scavenges,
        pauseUs: (sum.pauseMs * 1000) / n,
        maxScavengeMs: sum.maxPauseMs,
        markCompacts: marks.n,
        markCompactMs: marks.n ? marks.pauseMs / marks.n : 0,
        maxMarkCompactMs: marks.maxPauseMs,
        p50Ms: out.p50Ms,
        p99Ms: out.p99Ms,
        ...Object.fromEntries(FIELDS.map((f) => [f, sum[f] / n])),
      })
    }
    process.stderr.write(`round ${r + 1}/${rounds}\n`)
  }
} finally {
  rmSync(pki, { force: true })
}
console.log(`${framework} ${mode}, ${load} load, one server alone, per request (median of ${rounds} rounds):`)
/** One Markdown table, a row per variant: columns are [heading, (median of a field) => cell]. */
function table(columns) {
  console.log(`| variant | ${columns.map(([h]) => h).join(' | ')} |`)
  console.log(`| --- |${' ---: |'.repeat(columns.length)}`)
  for (const v of variants) {
    const m = (k) => median(results[v].map((x) => x[k]))
    console.log(`| \`${v}\` | ${columns.map(([, cell]) => cell(m)).join(' | ')} |`)
  }
}
table([
  ['CPU µs', (m) => m('cpuUs').toFixed(1)],
  ['requests per scavenge', (m) => m('requestsPerScavenge').toFixed(0)],
  ['allocated B', (m) => m('allocated').toFixed(0)],
  ['survived B', (m) => m('new_space_survived').toFixed(0)],
  ['promoted B', (m) => m('promoted').toFixed(0)],
  ['scavenge pause µs', (m) => m('pauseUs').toFixed(2)],
])
if (load === 'latency') {
  console.log('')
  table([
    ['p50 ms', (m) => m('p50Ms').toFixed(2)],
    ['p99 ms', (m) => m('p99Ms').toFixed(2)],
    ['longest scavenge ms', (m) => m('maxScavengeMs').toFixed(1)],
    ['mark-compacts', (m) => m('markCompacts').toFixed(0)],
    [
      'their mean / longest pause ms',
      (m) => `${m('markCompactMs').toFixed(1)} / ${m('maxMarkCompactMs').toFixed(1)}`,
    ],
  ])
}
