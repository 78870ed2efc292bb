// Diagnostic: this checkout against another one, in the layout of the budget lines.
//   node bench/versus.mjs <other checkout, built> [framework=koa] [variant=clientcert] [rounds=6]
// Each round starts three servers of the same framework and variant on CPU 1: the baseline and
// the control from the other checkout (its bench/server.mjs and packages/*/dist), the candidate
// from this one, each with its own load generator on CPU 0, all loaded at once (shuffled start
// order). Prints per round and as medians: req/s candidate ÷ baseline with the control's ratio,
// and the cost ratio (baseline CPU µs per request ÷ candidate's) with its control. A change to
// the packages is judged against the commit before it with everything else held equal.
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { loadAlone, median } from './lib/alone.mjs'
import { writePkiMaterial } from './lib/pki.mjs'
import { startServer as startHere } from './lib/server-process.mjs'

const [other, framework = 'koa', variant = 'clientcert', roundsArg = '6'] = process.argv.slice(2)
if (!other) throw new Error('usage: node bench/versus.mjs <other checkout> [framework] [variant] [rounds]')
const { startServer: startThere } = await import(
  pathToFileURL(resolve(other, 'bench/lib/server-process.mjs')).href
)
const pki = await writePkiMaterial()
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const rows = { rps: [], rpsControl: [], cost: [], costControl: [] }
for (let r = 0; r < Number(roundsArg); r++) {
  const roles = ['baseline', 'candidate', 'control'].sort(() => Math.random() - 0.5)
  const servers = {}
  for (const role of roles)
    servers[role] = await (role === 'candidate' ? startHere : startThere)('1', pki, framework, variant, 'tls')
  try {
    const runs = roles.map((role) =>
      loadAlone(pki, servers[role].port, { mode: 'tls', warmupMs: 3000, durationMs: 5000, framework }),
    )
    await sleep(3500)
    const a = await Promise.all(roles.map((role) => servers[role].usage()))
    await sleep(4000)
    const b = await Promise.all(roles.map((role) => servers[role].usage()))
    const results = await Promise.all(runs)
    const at = (role) => roles.indexOf(role)
    const rps = (role) => results[at(role)].rps
    const cost = (role) => (b[at(role)].us - a[at(role)].us) / (b[at(role)].served - a[at(role)].served)
    rows.rps.push(rps('candidate') / rps('baseline'))
    rows.rpsControl.push(rps('control') / rps('baseline'))
    rows.cost.push(cost('baseline') / cost('candidate'))
    rows.costControl.push(cost('baseline') / cost('control'))
    process.stderr.write(
      `round ${r + 1}: req/s ${rows.rps.at(-1).toFixed(3)} (control ${rows.rpsControl.at(-1).toFixed(3)}), cost ${rows.cost.at(-1).toFixed(3)} (control ${rows.costControl.at(-1).toFixed(3)}); ${cost('baseline').toFixed(1)} -> ${cost('candidate').toFixed(1)} µs\n`,
    )
  } finally {
    for (const role of roles) await servers[role].stop()
  }
}
const f = (k) => median(rows[k]).toFixed(3)
console.log(
  `${framework}/${variant}, this checkout vs ${other}: req/s ${f('rps')} (control ${f('rpsControl')}), cost ratio ${f('cost')} (control ${f('costControl')}), ${roundsArg} rounds`,
)
