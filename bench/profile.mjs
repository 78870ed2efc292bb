// Diagnostic: where a server's CPU time per request goes, variant by variant, from `perf record`.
//   node bench/profile.mjs [--framework=koa] [--mode=tls|forwarded] [--load=throughput|handshake] [--rounds=2] [--ms=4000] [--symbols=N] variant...
// --load=handshake: one request per new connection (the new-connections line's load) instead.
// --symbols=N also prints, for each variant after the first, the N leaf symbols whose time per
// request differs most from the first variant's.
// Needs Linux `perf` (run as root or with perf_event_paranoid <= 1). Each round runs every
// variant alone (shuffled): one server pinned to CPU 1 started with --perf-basic-prof, one undici
// load generator pinned to CPU 0 (keep-alive, 10 connections x pipelining 10); `perf record -e
// cpu-clock -g` samples the server during the measurement window while it counts its requests.
// Per request it prints, in µs: all samples, kernel, user mode, garbage collection, the time
// under clientcert's own frames (any function of packages/*/dist, callees included, the
// framework's `next()` excluded), and a calibration set whose work per request is identical in
// every variant (HTTP parsing and TLS record crypto): when the calibration moves between runs,
// the machine changed speed, not the code. `user ÷ calibration` compares variants across that.
import { execFileSync } from 'node:child_process'
import { readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadAlone, median } from './lib/alone.mjs'
import { opt, positional } from './lib/args.mjs'
import { GC, leafName, NEXT, OWN, perfSamples } from './lib/perf-samples.mjs'
import { writePkiMaterial } from './lib/pki.mjs'
import { startServer } from './lib/server-process.mjs'

const framework = opt('framework', 'koa')
const mode = opt('mode', 'tls')
const load = opt('load', 'throughput')
const rounds = Number(opt('rounds', '2'))
const ms = Number(opt('ms', '4000'))
const warmupMs = 2000
const HZ = 4999
const symbolsTop = Number(opt('symbols', '0'))
const variants = positional()
if (variants.length === 0) variants.push('bare', 'empty-middleware', 'clientcert')

const CALIBRATION = /llhttp|aes|gcm|ghash|ssl3_|tls1_|SSL_|EVP_/i

/** Samples of one `perf record` file, bucketed; each sample is 1/HZ s of CPU time. */
function buckets(file) {
  const b = { all: 0, kernel: 0, user: 0, gc: 0, own: 0, calibration: 0 }
  const leaves = new Map()
  for (const frames of perfSamples(file, 'ip,sym,dso')) {
    if (frames.length === 0) continue
    b.all++
    const leaf = frames[0]
    if (symbolsTop) {
      const name = leafName(leaf)
      leaves.set(name, (leaves.get(name) ?? 0) + 1)
    }
    if (leaf.includes('kernel.kallsyms')) b.kernel++
    else b.user++
    if (GC.test(leaf)) b.gc++
    if (CALIBRATION.test(leaf)) b.calibration++
    // Under clientcert's frames, unless the framework's next() was called from them.
    const own = frames.findIndex((f) => OWN.test(f))
    if (own >= 0 && !frames.slice(0, own).some((f) => NEXT.test(f))) b.own++
  }
  return { counts: b, leaves }
}

const pki = await writePkiMaterial()
const dir = join(tmpdir(), `clientcert-profile-${process.pid}`)
const results = Object.fromEntries(variants.map((v) => [v, []]))
try {
  execFileSync('mkdir', ['-p', dir])
  // V8's profiling flags leave isolate-*.log files in the working directory: keep them in `dir`.
  process.chdir(dir)
  for (let r = 0; r < rounds; r++) {
    for (const v of [...variants].sort(() => Math.random() - 0.5)) {
      process.env.NODE_OPTIONS = '--perf-basic-prof'
      const server = await startServer('1', pki, framework, v, mode)
      process.env.NODE_OPTIONS = ''
      const running = loadAlone(pki, server.port, { mode, warmupMs, durationMs: ms, framework, load })
      await new Promise((res) => setTimeout(res, warmupMs + 300))
      const a = await server.usage()
      const file = join(dir, `${v}-${r}.data`)
      const seconds = String((ms - 800) / 1000)
      execFileSync(
        'perf',
        [
          'record',
          '-q',
          '-e',
          'cpu-clock',
          '-F',
          String(HZ),
          '-g',
          '-p',
          String(server.pid),
          '-o',
          file,
        ].concat(['--', 'sleep', seconds]),
        { stdio: 'ignore' },
      )
      const b = await server.usage()
      const result = await running
      await server.stop()
      if (result.errors) throw new Error(`${v}: ${result.errors} errors`)
      const { counts, leaves } = buckets(file)
      const us = (n) => (n * 1e6) / HZ / (b.served - a.served)
      const perRequest = Object.fromEntries(Object.entries(counts).map(([k, n]) => [k, us(n)]))
      // Leaf symbols in µs per request, in units of this round's calibration set (so a round
      // on a slower host does not look like more work).
      perRequest.leaves = new Map([...leaves].map(([k, n]) => [k, n / counts.calibration]))
      results[v].push(perRequest)
    }
    process.stderr.write(`round ${r + 1}/${rounds}\n`)
  }
} finally {
  rmSync(pki, { force: true })
  rmSync(dir, { recursive: true, force: true })
  for (const f of readdirSync('/tmp')) if (/^perf-\d+\.map$/.test(f)) rmSync(join('/tmp', f), { force: true })
}
console.log(`${framework} ${mode}: µs per request from perf samples (median of ${rounds} rounds)`)
console.log(
  `${'variant'.padEnd(20)} ${['all', 'kernel', 'user', 'gc', 'own', 'calib', 'user/calib'].map((h) => h.padStart(11)).join('')}`,
)
for (const v of variants) {
  const m = (k) => median(results[v].map((x) => x[k]))
  const ratio = median(results[v].map((x) => x.user / x.calibration))
  console.log(
    `${v.padEnd(20)} ${[m('all'), m('kernel'), m('user'), m('gc'), m('own'), m('calibration'), ratio].map((x) => x.toFixed(2).padStart(11)).join('')}`,
  )
}
if (symbolsTop) {
  // Where the difference to the first variant is, leaf symbol by leaf symbol: median over rounds
  // of samples per calibration sample (x the first variant's calibration µs, to read as µs).
  const [first, ...others] = variants
  const calibUs = median(results[first].map((x) => x.calibration))
  const perSymbol = (v, k) => median(results[v].map((x) => x.leaves.get(k) ?? 0)) * calibUs
  for (const v of others) {
    const names = new Set([...results[first], ...results[v]].flatMap((x) => [...x.leaves.keys()]))
    const rows = [...names]
      .map((k) => [k, perSymbol(first, k), perSymbol(v, k)])
      .sort((x, y) => Math.abs(y[2] - y[1]) - Math.abs(x[2] - x[1]))
      .slice(0, symbolsTop)
    console.log(`\n${v} vs ${first}: leaf symbols, µs per request (calibration-normalised)`)
    for (const [k, x, y] of rows)
      console.log(
        `${(y - x).toFixed(2).padStart(7)} ${x.toFixed(2).padStart(7)} ${y.toFixed(2).padStart(7)}  ${k.slice(0, 110)}`,
      )
  }
}
