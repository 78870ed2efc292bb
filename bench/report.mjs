// Prints the results of a benchmark run as the Markdown tables of docs/benchmarks.md.
//   node bench/report.mjs [bench/results/latest.json]
import { readFileSync } from 'node:fs'
import { median } from './lib/alone.mjs'

const file = process.argv[2] ?? new URL('./results/latest.json', import.meta.url)
const r = JSON.parse(readFileSync(file, 'utf8'))
const f3 = (x) => (typeof x === 'number' ? x.toFixed(3) : '')
const range = (v) => `${f3(v.median)} [${f3(v.min)}, ${f3(v.max)}]`
const control = (name) => {
  const v = r.validity?.[name]
  if (v?.controlMedian !== undefined) {
    const inside = v.controlMedian >= 0.99 && v.controlMedian <= 1.01
    return `${f3(v.controlMedian)}${inside ? '' : ' (outside)'}`
  }
  // Latency lines carry their control (the same percentile of bare vs bare) and its verdict.
  const line = r.ratios?.[name]
  if (line?.controlMedian === undefined) return ''
  return `${f3(line.controlMedian)}${line.valid === false ? ' (outside)' : ''}`
}
// Rounds on a quiet host of all rounds taken (results since the round-by-round host gate).
const quiet = (name) => {
  const v = r.validity?.[name]
  return v?.quietRounds === undefined ? '' : `${v.quietRounds} of ${v.rounds}`
}

const out = []
out.push(
  `Run: \`${r.mode}\` mode, ${r.date}, ${r.machine.cpus} × ${r.machine.model}, Node ${r.machine.node}, ${r.machine.platform}; ${r.config.rounds} rounds × (${r.config.warmupMs / 1000} s warm-up + ${r.config.durationMs / 1000} s); total ${Math.round(r.elapsedS)} s.`,
  '',
  '| name | median [min, max] | control | quiet rounds | target | met? |',
  '| --- | --- | --- | --- | --- | --- |',
)
for (const [name, t] of Object.entries(r.targets)) {
  // A line paced by its load generators is judged by its cost ratio, with the cost's control.
  const cost = t.judgedBy ? r.ratios[`${name}__cpu`] : undefined
  const v = cost ?? r.ratios[name] ?? r.figures[name]
  // Older results carry a note with met true/false; newer ones say met: null (not judged).
  const why = t.note?.replace(/^not judged: /, '') ?? 'control outside [0.99, 1.01]'
  const verdict = t.met === null || t.note ? `not judged (${why})` : t.met ? 'met' : '**not met**'
  const met = t.judgedBy ? `${verdict}, by ${t.judgedBy}` : verdict
  const ctl = cost ? `${f3(cost.controlMedian)} (cost)` : control(name)
  out.push(`| \`${name}\` | ${range(v)} | ${ctl} | ${quiet(name)} | ${t.target} | ${met} |`)
}
const references = Object.keys(r.ratios).filter((k) => k.startsWith('reference_') && !k.includes('__'))
if (references.length) {
  out.push(
    '',
    '| reference (not budgeted) | median [min, max] | control | quiet rounds |',
    '| --- | --- | --- | --- |',
  )
  for (const name of references)
    out.push(`| \`${name}\` | ${range(r.ratios[name])} | ${control(name)} | ${quiet(name)} |`)
}
out.push('', '| other ratios and figures | median [min, max] | unit |', '| --- | --- | --- |')
for (const [name, v] of Object.entries(r.ratios)) {
  if (name in r.targets || references.includes(name)) continue
  const ctl = v.controlMedian === undefined ? '' : `, control ${f3(v.controlMedian)}`
  out.push(`| \`${name}\` | ${range(v)} | ${v.kind ?? 'ratio'}${ctl} |`)
}
for (const [name, v] of Object.entries(r.figures)) {
  if (name in r.targets) continue
  out.push(`| \`${name}\` | ${range(v)} | ${v.unit ?? ''} |`)
}
// Which side set the pace of each throughput line, over its quiet rounds: the three servers'
// combined share of their core (recorded per round since the rule; for older results the same
// from req/s x CPU per request), the candidate's CPU time over the baseline's, and the req/s
// and cost ratios. Below 95 % busy the generators set the pace (bench/run.mjs, SATURATED).
const ROLES = ['baseline', 'candidate', 'control']
const busy = (p, role) => p.cpuBusy?.[role] ?? (p[role] * p.cpuUsPerRequest[role]) / 1e6
const paced = Object.entries(r.rounds).filter(
  ([, per]) => Array.isArray(per) && per.some((p) => p.quiet && ROLES.every((x) => p.cpuUsPerRequest?.[x])),
)
if (paced.length) {
  out.push(
    '',
    "| throughput line | servers' core busy | candidate's CPU time / baseline's | req/s ratio | cost ratio |",
    '| --- | --- | --- | --- | --- |',
  )
  for (const [name, per] of paced) {
    const q = per.filter((p) => p.quiet && ROLES.every((x) => p.cpuUsPerRequest?.[x]))
    const use = median(q.map((p) => ROLES.reduce((n, role) => n + busy(p, role), 0)))
    const share = median(q.map((p) => busy(p, 'candidate') / busy(p, 'baseline')))
    const cost = median(q.map((p) => p.cpuUsPerRequest.baseline / p.cpuUsPerRequest.candidate))
    out.push(
      `| \`${name}\` | ${(100 * use).toFixed(0)} %${q[0].cpuBusy ? '' : ' (from req/s)'} | ${f3(share)} | ${f3(median(q.map((p) => p.ratio)))} | ${f3(cost)} |`,
    )
  }
}
process.stdout.write(`${out.join('\n')}\n`)
