// Diagnostic: the cost ratio of a line over time since its servers started, in the concurrent
// A/B layout of run.mjs (baseline, candidate and control pinned to CPU 1, one load generator
// each on CPU 0, all loaded at once), but with one long window sampled every few seconds
// instead of a warm-up and one window. Tells a per-request cost (flat over time) from a
// start-up transient (a gap that closes as the processes settle).
//   node bench/timeline.mjs [--framework=koa] [--mode=tls] [--rounds=4] [--seconds=40] [--step=4] [--gc] [baseline] [candidate]
// Prints, per interval since the load started: the median over rounds of the cost ratio
// (baseline CPU per request ÷ candidate's, above 1 is cheaper) and of its control (control ÷
// baseline), the baseline's CPU µs per request (the host's speed), the cost ratio of the main
// threads alone and the other threads' CPU (V8's compiler and GC helpers) per request, from /proc.
// With --gc the servers run under `--trace-gc-nvp`, and each interval also shows the main thread's
// time in garbage collection per request (scavenges, and mark-compacts with their incremental
// steps) of each side, and the main-thread cost ratio without it.
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { loadAlone, median } from './lib/alone.mjs'
import { argv, opt, positional } from './lib/args.mjs'
import { writePkiMaterial } from './lib/pki.mjs'
import { startTrio } from './lib/server-process.mjs'

const framework = opt('framework', 'koa')
const mode = opt('mode', 'tls')
const rounds = Number(opt('rounds', '4'))
const seconds = Number(opt('seconds', '40'))
const step = Number(opt('step', '4'))
const traceGc = argv.includes('--gc')
const [baseline = 'bare', candidate = 'clientcert'] = positional()
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/**
 * CPU time (ms) of a process's threads, by kind: the main thread (JavaScript and the event loop)
 * and the rest (V8's compiler and GC helpers, libuv's pool), from /proc (clock ticks of 10 ms).
 */
function threads(pid) {
  const out = { main: 0, other: 0 }
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ms = (Number(f[11]) + Number(f[12])) * 10
    out[tid === String(pid) ? 'main' : 'other'] += ms
  }
  return out
}

const steps = Math.floor(seconds / step) - 1
const ratio = Array.from({ length: steps }, () => [])
const control = Array.from({ length: steps }, () => [])
const baseUs = Array.from({ length: steps }, () => [])
// Per interval: the main thread's cost ratio, and the other threads' CPU (µs per request) of each side.
const mainRatio = Array.from({ length: steps }, () => [])
const otherBase = Array.from({ length: steps }, () => [])
const otherCand = Array.from({ length: steps }, () => [])
// With --gc: GC time on the main thread (µs per request) of each side, and the main-thread ratio without it.
const gcBase = Array.from({ length: steps }, () => [])
const gcCand = Array.from({ length: steps }, () => [])
const mutatorRatio = Array.from({ length: steps }, () => [])

/** Main-thread GC time (ms) from a `--trace-gc-nvp` line: the pause, plus a mark-compact's incremental steps. */
function gcMs(text) {
  const pause = /\bpause=([\d.]+)/.exec(text)
  if (!pause || !/\bgc=(s|mc|mmc)\b/.test(text)) return 0
  const incremental = /\bincremental=([\d.]+)/g
  let steps = 0
  for (let m = incremental.exec(text); m; m = incremental.exec(text)) steps = Math.max(steps, Number(m[1]))
  return Number(pause[1]) + steps
}
const pki = await writePkiMaterial()
try {
  for (let r = 0; r < rounds; r++) {
    const gcTime = { baseline: 0, candidate: 0, control: 0 }
    const { roles, servers } = await startTrio(pki, framework, baseline, candidate, mode, (role) =>
      traceGc ? { nodeArgs: ['--trace-gc-nvp'], onLine: (text) => (gcTime[role] += gcMs(text)) } : {},
    )
    try {
      const loads = Promise.all(
        roles.map((role) =>
          loadAlone(pki, servers[role].port, { mode, warmupMs: 0, durationMs: seconds * 1000, framework }),
        ),
      )
      let last = await Promise.all(roles.map((role) => servers[role].usage()))
      let lastThreads = Object.fromEntries(roles.map((role) => [role, threads(servers[role].pid)]))
      let lastGc = { ...gcTime }
      for (let i = 0; i < steps; i++) {
        await sleep(step * 1000)
        const now = await Promise.all(roles.map((role) => servers[role].usage()))
        const cost = {}
        roles.forEach((role, k) => {
          cost[role] = (now[k].us - last[k].us) / (now[k].served - last[k].served)
        })
        const nowThreads = Object.fromEntries(roles.map((role) => [role, threads(servers[role].pid)]))
        const served = Object.fromEntries(roles.map((role, k) => [role, now[k].served - last[k].served]))
        const per = (role, kind) => ((nowThreads[role][kind] - lastThreads[role][kind]) * 1000) / served[role]
        mainRatio[i].push(per('baseline', 'main') / per('candidate', 'main'))
        if (traceGc) {
          const gcPer = (role) => ((gcTime[role] - lastGc[role]) * 1000) / served[role]
          gcBase[i].push(gcPer('baseline'))
          gcCand[i].push(gcPer('candidate'))
          mutatorRatio[i].push(
            (per('baseline', 'main') - gcPer('baseline')) / (per('candidate', 'main') - gcPer('candidate')),
          )
          lastGc = { ...gcTime }
        }
        otherBase[i].push(per('baseline', 'other'))
        otherCand[i].push(per('candidate', 'other'))
        lastThreads = nowThreads
        last = now
        ratio[i].push(cost.baseline / cost.candidate)
        control[i].push(cost.control / cost.baseline)
        baseUs[i].push(cost.baseline)
      }
      const results = await loads
      for (const [k, res] of results.entries())
        if (res.errors) throw new Error(`${roles[k]}: ${res.errors} errors ${JSON.stringify(res.statuses)}`)
    } finally {
      await Promise.all(Object.values(servers).map((s) => s.stop()))
    }
    process.stderr.write(`round ${r + 1}/${rounds}\n`)
  }
} finally {
  rmSync(pki, { force: true })
}
console.log(
  `${framework} ${mode}, ${candidate} vs ${baseline}: cost ratio per ${step} s interval (median of ${rounds} rounds)`,
)
console.log(
  'from s | cost ratio | control | baseline µs/request | main thread ratio | other threads µs/request, baseline -> candidate' +
    (traceGc ? ' | main-thread GC µs/request, baseline -> candidate | main thread ratio without GC' : ''),
)
for (let i = 0; i < steps; i++)
  console.log(
    `${String(i * step).padStart(6)} | ${median(ratio[i]).toFixed(3)} | ${median(control[i]).toFixed(3)} | ${median(baseUs[i]).toFixed(1)} | ${median(mainRatio[i]).toFixed(3)} | ${median(otherBase[i]).toFixed(2)} -> ${median(otherCand[i]).toFixed(2)}` +
      (traceGc
        ? ` | ${median(gcBase[i]).toFixed(2)} -> ${median(gcCand[i]).toFixed(2)} | ${median(mutatorRatio[i]).toFixed(3)}`
        : ''),
  )
