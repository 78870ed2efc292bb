// Diagnostic: kernel-side counters per request in the budget layout (docs/benchmarks.md,
// "Koa: what is left after the short path"). Counts, not times, so a noisy host moves them less.
//   node bench/counters.mjs [--framework=koa] [--mode=tls] [--rounds=3] [candidate] [baseline]
// Each round starts three servers pinned to CPU 1 — baseline, candidate and baseline again, in
// a random order, as run.mjs does — each loaded by its own generator on CPU 0; after the warm-up,
// `perf stat` counts each server's page faults, context switches, task clock and read, write,
// writev and epoll_pwait calls for 3 s while the servers count the requests they were handed.
// Needs `perf` (root).
import { rmSync } from 'node:fs'
import { loadAlone } from './lib/alone.mjs'
import { opt, positional } from './lib/args.mjs'
import { perfCounts } from './lib/perf-stat.mjs'
import { writePkiMaterial } from './lib/pki.mjs'
import { startTrio } from './lib/server-process.mjs'

const framework = opt('framework', 'koa')
const mode = opt('mode', 'tls')
const rounds = Number(opt('rounds', '3'))
const [candidate = 'clientcert', baseline = 'bare'] = positional()
const EVENTS = ['page-faults', 'context-switches', 'task-clock'].concat(
  ['read', 'write', 'writev', 'epoll_pwait'].map((c) => `syscalls:sys_enter_${c}`),
)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const pki = await writePkiMaterial()
const rows = { baseline: [], candidate: [] }
try {
  for (let r = 1; r <= rounds; r++) {
    const { roles, servers } = await startTrio(pki, framework, baseline, candidate, mode)
    const loads = roles.map((role) =>
      loadAlone(pki, servers[role].port, { mode, warmupMs: 3000, durationMs: 5000, framework }),
    )
    await sleep(4000)
    const before = await Promise.all(roles.map((role) => servers[role].usage()))
    const counts = await Promise.all(roles.map((role) => perfCounts(servers[role].pid, EVENTS, 3)))
    const after = await Promise.all(roles.map((role) => servers[role].usage()))
    await Promise.all(loads)
    await Promise.all(roles.map((role) => servers[role].stop()))
    roles.forEach((role, i) => {
      const n = after[i].served - before[i].served
      // task-clock is in ms: per request in µs.
      const per = Object.fromEntries(
        Object.entries(counts[i]).map(([k, v]) => [k, (v / n) * (k === 'task-clock' ? 1000 : 1)]),
      )
      const line = Object.entries(per)
        .map(([k, v]) => `${k} ${v.toFixed(k === 'task-clock' ? 1 : 3)}`)
        .join('  ')
      console.log(`round ${r} ${role.padEnd(9)} ${String(n).padStart(6)} requests  per request: ${line}`)
      rows[role === 'candidate' ? 'candidate' : 'baseline'].push(per)
    })
  }
} finally {
  rmSync(pki, { force: true })
}
const mean = (list, k) => list.reduce((s, row) => s + row[k], 0) / list.length
console.log(
  `mean per request, ${candidate} / ${baseline}: ${Object.keys(rows.candidate[0] ?? {})
    .map((k) => `${k} ${mean(rows.candidate, k).toFixed(3)} / ${mean(rows.baseline, k).toFixed(3)}`)
    .join('  ')}`,
)
