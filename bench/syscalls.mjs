// Diagnostic: system calls per request, variant by variant (counts, not times, so a noisy host
// does not move them). Needs `perf` with the syscalls tracepoints (root).
//   node bench/syscalls.mjs [--framework=koa] [--mode=tls|forwarded] variant...
// Each variant runs alone: one server pinned to CPU 1, one load generator on CPU 0 (keep-alive,
// 10 connections x pipelining 10); after a warm-up, `perf stat` counts the server's read, write,
// writev and epoll_pwait calls for 2 s while the server counts the requests it was handed.
import { rmSync } from 'node:fs'
import { loadAlone } from './lib/alone.mjs'
import { opt, positional } from './lib/args.mjs'
import { perfCounts } from './lib/perf-stat.mjs'
import { writePkiMaterial } from './lib/pki.mjs'
import { startServer } from './lib/server-process.mjs'

const framework = opt('framework', 'koa')
const mode = opt('mode', 'tls')
const variants = positional()
if (variants.length === 0) variants.push('bare', 'empty-middleware', 'clientcert')
const CALLS = ['read', 'write', 'writev', 'epoll_pwait']
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const pki = await writePkiMaterial()
try {
  for (const variant of variants) {
    const server = await startServer('1', pki, framework, variant, mode)
    const load = loadAlone(pki, server.port, { mode, warmupMs: 1000, durationMs: 4000, framework })
    await sleep(2000)
    const a = await server.usage()
    const counts = await perfCounts(
      server.pid,
      CALLS.map((c) => `syscalls:sys_enter_${c}`),
      2,
    )
    const b = await server.usage()
    await load
    await server.stop()
    const n = b.served - a.served
    const per = CALLS.map((c) => `${c} ${((counts[c] ?? Number.NaN) / n).toFixed(3)}`).join('  ')
    console.log(`${variant.padEnd(20)} ${String(n).padStart(7)} requests  per request: ${per}`)
  }
} finally {
  rmSync(pki, { force: true })
}
