// Diagnostic: server CPU time per request, variant by variant (issue 19's evidence tool).
//   node bench/cpu.mjs [--framework=express] [--mode=tls|forwarded] [--rounds=5] [--ms=4000] variant...
// Each round runs every variant alone (shuffled): one server pinned to CPU 1, one undici load
// generator pinned to CPU 0 (keep-alive, 10 connections x pipelining 10). The server reports its
// own CPU time (user + system) at the start and end of the measurement window; CPU time per
// request = that difference / requests completed in the window. Unlike req/s, this barely moves
// when other processes share the machine, so small differences (a few µs) can be compared on a
// noisy host. Prints a table of medians and each variant's ratio to the first one.
import { rmSync } from 'node:fs'
import { loadAlone, median } from './lib/alone.mjs'
import { opt, positional } from './lib/args.mjs'
import { writePkiMaterial } from './lib/pki.mjs'
import { startServer } from './lib/server-process.mjs'

const framework = opt('framework', 'express')
const mode = opt('mode', 'tls')
const rounds = Number(opt('rounds', '5'))
const ms = Number(opt('ms', '4000'))
const warmupMs = 2000
const variants = positional()
if (variants.length === 0) variants.push('bare', 'empty-middleware', 'minimal-auth', 'clientcert')

const pki = await writePkiMaterial()
const samples = Object.fromEntries(variants.map((v) => [v, []]))
const rps = Object.fromEntries(variants.map((v) => [v, []]))
const user = Object.fromEntries(variants.map((v) => [v, []]))
try {
  for (let r = 0; r < rounds; r++) {
    for (const v of [...variants].sort(() => Math.random() - 0.5)) {
      const server = await startServer('1', pki, framework, v, mode)
      const running = loadAlone(pki, server.port, { mode, warmupMs, durationMs: ms, framework })
      await new Promise((res) => setTimeout(res, warmupMs))
      const a = await server.usage()
      await new Promise((res) => setTimeout(res, ms))
      const b = await server.usage()
      const result = await running
      await server.stop()
      if (result.errors) throw new Error(`${v}: ${result.errors} errors ${JSON.stringify(result.statuses)}`)
      // Requests the server was handed in the same window as the CPU reading (the load
      // generator's own count when the server cannot say, as gRPC).
      const n = b.served >= 0 ? b.served - a.served : result.ok
      samples[v].push((b.us - a.us) / n)
      user[v].push((b.userUs - a.userUs) / n)
      rps[v].push(result.rps)
    }
    process.stderr.write(`round ${r + 1}/${rounds}\n`)
  }
} finally {
  rmSync(pki, { force: true })
}
const base = median(samples[variants[0]])
const userBase = median(user[variants[0]])
console.log(
  `${framework} ${mode}: server CPU µs per request (median of ${rounds} rounds), ratio to ${variants[0]}; then the user-mode part alone`,
)
for (const v of variants) {
  const m = median(samples[v])
  const u = median(user[v])
  console.log(
    `${v.padEnd(28)} ${m.toFixed(1).padStart(7)} µs  x${(m / base).toFixed(3)}  [${Math.min(...samples[v]).toFixed(1)}, ${Math.max(...samples[v]).toFixed(1)}]  user ${u.toFixed(1).padStart(6)} µs  x${(u / userBase).toFixed(3)}  [${Math.min(...user[v]).toFixed(1)}, ${Math.max(...user[v]).toFixed(1)}]  ~${median(rps[v]).toFixed(0)} req/s`,
  )
}
