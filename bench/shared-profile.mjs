// Diagnostic (issue 19): where the candidate's extra CPU goes *in the budget's layout* - three
// servers sharing CPU 1 (baseline, candidate, control = baseline again), each loaded by its own
// generator on CPU 0, as `run.mjs` measures a line - from `perf record` over all three at once.
//   node bench/shared-profile.mjs [--framework=express] [--mode=tls|forwarded] [--rounds=3]
//        [--warmup=10000] [--ms=4000] [--symbols=25] <baseline> <candidate>
// Per request and per role, in µs: all samples, kernel, user mode, garbage collection, the time
// under clientcert's own frames (as bench/profile.mjs counts them). Then the leaf symbols whose
// time per request differs most between candidate and baseline, beside the same difference
// between control and baseline: a symbol whose candidate difference is no larger than the
// control's is noise. Needs Linux `perf` (root or perf_event_paranoid <= 1).
import { execFileSync } from 'node:child_process'
import { readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadAlone, median } from './lib/alone.mjs'
import { opt, positional } from './lib/args.mjs'
import { GC, leafName, NEXT, OWN, perfSamples } from './lib/perf-samples.mjs'
import { writePkiMaterial } from './lib/pki.mjs'
import { startTrio } from './lib/server-process.mjs'

const framework = opt('framework', 'express')
const mode = opt('mode', 'tls')
const rounds = Number(opt('rounds', '3'))
const warmupMs = Number(opt('warmup', '10000'))
const ms = Number(opt('ms', '4000'))
const symbolsTop = Number(opt('symbols', '25'))
// --callers=<regex>: for leaf symbols matching it, which callers (the next frames up) they ran under.
const callersOf = opt('callers', '') ? new RegExp(opt('callers', '')) : undefined
const [baseline, candidate] = positional()
if (!baseline || !candidate) throw new Error('usage: shared-profile.mjs [options] <baseline> <candidate>')
const HZ = 4999
const ROLES = ['baseline', 'candidate', 'control']

/** The samples of one recording, bucketed per process id. */
function bucketsByPid(file) {
  const byPid = new Map()
  for (const lines of perfSamples(file, 'pid,ip,sym,dso')) {
    if (lines.length < 2) continue
    const pid = Number(lines[0])
    const frames = lines.slice(1)
    let b = byPid.get(pid)
    if (b === undefined) {
      b = { counts: { all: 0, kernel: 0, user: 0, gc: 0, own: 0 }, leaves: new Map(), callers: new Map() }
      byPid.set(pid, b)
    }
    const c = b.counts
    c.all++
    const leaf = frames[0]
    const name = leafName(leaf)
    b.leaves.set(name, (b.leaves.get(name) ?? 0) + 1)
    if (callersOf?.test(name)) {
      const path = frames.slice(1, 4).map(leafName).join(' < ')
      b.callers.set(path, (b.callers.get(path) ?? 0) + 1)
    }
    if (leaf.includes('kernel.kallsyms')) c.kernel++
    else c.user++
    if (GC.test(leaf)) c.gc++
    const own = frames.findIndex((f) => OWN.test(f))
    if (own >= 0 && !frames.slice(0, own).some((f) => NEXT.test(f))) c.own++
  }
  return byPid
}

const pki = await writePkiMaterial()
const dir = join(tmpdir(), `clientcert-shared-profile-${process.pid}`)
const results = Object.fromEntries(ROLES.map((r) => [r, []]))
try {
  execFileSync('mkdir', ['-p', dir])
  process.chdir(dir)
  for (let r = 0; r < rounds; r++) {
    const { servers } = await startTrio(pki, framework, baseline, candidate, mode, () => ({
      nodeArgs: ['--perf-basic-prof'],
    }))
    try {
      const loads = ROLES.map((role) =>
        loadAlone(pki, servers[role].port, { mode, warmupMs, durationMs: ms + 1000, framework }),
      )
      await new Promise((res) => setTimeout(res, warmupMs + 500))
      const a = await Promise.all(ROLES.map((role) => servers[role].usage()))
      const file = join(dir, `round-${r}.data`)
      const pids = ROLES.map((role) => servers[role].pid).join(',')
      execFileSync(
        'perf',
        ['record', '-q', '-e', 'cpu-clock', '-F', String(HZ), '-g', '-p', pids, '-o', file].concat([
          '--',
          'sleep',
          String(ms / 1000),
        ]),
        { stdio: 'ignore' },
      )
      const b = await Promise.all(ROLES.map((role) => servers[role].usage()))
      const loaded = await Promise.all(loads)
      if (loaded.some((l) => l.errors)) throw new Error(`round ${r}: load errors`)
      const byPid = bucketsByPid(file)
      for (const [i, role] of ROLES.entries()) {
        const got = byPid.get(servers[role].pid)
        const served = b[i].served - a[i].served
        if (!got || served <= 0) throw new Error(`round ${r}: no samples or requests for ${role}`)
        const us = (n) => (n * 1e6) / HZ / served
        results[role].push({
          ...Object.fromEntries(Object.entries(got.counts).map(([k, n]) => [k, us(n)])),
          leaves: new Map([...got.leaves].map(([k, n]) => [k, us(n)])),
          callers: new Map([...got.callers].map(([k, n]) => [k, us(n)])),
        })
      }
    } finally {
      await Promise.all(ROLES.map((role) => servers[role].stop()))
    }
    process.stderr.write(`round ${r + 1}/${rounds}\n`)
  }
} finally {
  rmSync(pki, { force: true })
  rmSync(dir, { recursive: true, force: true })
  for (const f of readdirSync('/tmp')) if (/^perf-\d+\.map$/.test(f)) rmSync(join('/tmp', f), { force: true })
}

console.log(
  `${framework} ${mode}, three servers on one core: µs per request from perf samples (median of ${rounds} rounds)`,
)
console.log(
  `${'role'.padEnd(34)} ${['all', 'kernel', 'user', 'gc', 'own'].map((h) => h.padStart(9)).join('')}`,
)
for (const role of ROLES) {
  const m = (k) => median(results[role].map((x) => x[k]))
  const name = `${role} (${role === 'candidate' ? candidate : baseline})`
  console.log(
    `${name.padEnd(34)} ${['all', 'kernel', 'user', 'gc', 'own'].map((k) => m(k).toFixed(2).padStart(9)).join('')}`,
  )
}
/** The `top` keys of `field` whose time per request differs most between candidate and baseline. */
function printDifferences(field, title, width) {
  const per = (role, k) => median(results[role].map((x) => x[field].get(k) ?? 0))
  const names = new Set(ROLES.flatMap((role) => results[role].flatMap((x) => [...x[field].keys()])))
  const rows = [...names]
    .map((k) => [k, per('baseline', k), per('candidate', k), per('control', k)])
    .sort((x, y) => Math.abs(y[2] - y[1]) - Math.abs(x[2] - x[1]))
    .slice(0, symbolsTop)
  console.log(`\n${title}, µs per request: candidate - baseline, control - baseline, baseline, candidate`)
  for (const [k, base, cand, ctrl] of rows)
    console.log(
      `${(cand - base).toFixed(2).padStart(7)} ${(ctrl - base).toFixed(2).padStart(7)} ${base.toFixed(2).padStart(7)} ${cand.toFixed(2).padStart(7)}  ${k.slice(0, width)}`,
    )
}
if (symbolsTop) printDifferences('leaves', 'leaf symbols', 100)
if (callersOf) printDifferences('callers', `callers of ${callersOf}`, 200)
