import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { scopeOf } from './classify.js'
import { CASE_TIME_BOUND_MS, evaluateOurs } from './harness.js'
import type { Curve } from './load.js'
import { loadSuite, repoRoot, type Suite, type Testcase } from './load.js'
import { runPeculiar, runPkijs } from './others.js'
import type { Verdict } from './ours.js'
import { formatTally, tallyWycheproof, type Verifier, type WycheproofTally } from './wycheproof.js'

/**
 * Comparison with pkijs 3 and @peculiar/x509 2 on the same in-scope cases (feature skips and
 * conflicts_with set-asides applied; our deviation cases included). Reported, not asserted.
 * It takes about 2.5 minutes (pkijs alone runs into the 2 s bound on 38 limbo cases), so it
 * runs only on request: `VECTORS_COMPARE=1 npx vitest run test/vectors` prints the figures,
 * `VECTORS_REPORT=1` also writes test/vectors/report.json (the figures in
 * docs/guide/path-validation.md).
 */

const REPORT = process.env.VECTORS_REPORT === '1'
const ENABLED = REPORT || process.env.VECTORS_COMPARE === '1'

interface Tally {
  cases: number
  agree: number
  /** Expected FAILURE, said SUCCESS. */
  falseAccept: number
  /** Expected SUCCESS, said FAILURE. */
  falseReject: number
  overTimeBound: number
  maxMs: number
}

type Library = 'ours' | 'pkijs' | '@peculiar/x509'

interface SuiteComparison {
  readonly inScope: number
  readonly libraries: Record<Library, Tally & { byFamily: Record<string, Tally> }>
  /** Ours as asserted: deviations held out. */
  readonly oursAsserted: { readonly counted: number; readonly passed: number; readonly rate: number }
}

const SUITES: readonly Suite[] = ['limbo', 'pkits', 'go-x509']

function emptyTally(): Tally {
  return { cases: 0, agree: 0, falseAccept: 0, falseReject: 0, overTimeBound: 0, maxMs: 0 }
}

function add(t: Tally, tc: Testcase, v: Verdict): void {
  t.cases++
  t.maxMs = Math.max(t.maxMs, v.ms)
  if (v.ms > CASE_TIME_BOUND_MS) t.overTimeBound++
  if (v.result === tc.expected_result && v.ms <= CASE_TIME_BOUND_MS) t.agree++
  else if (tc.expected_result === 'FAILURE') t.falseAccept++
  else t.falseReject++
}

/** `bettertls::nameconstraints::tc0` → `bettertls::nameconstraints`; `rfc5280::nc::x` → `rfc5280::nc`. */
function family(id: string): string {
  return id.split('::').slice(0, 2).join('::')
}

async function compareSuite(suite: Suite): Promise<SuiteComparison> {
  const asserted = evaluateOurs(suite)
  const ours = new Map(asserted.counted.map((o) => [o.tc.id, o.verdict]))
  const runners: Record<Library, (tc: Testcase) => Promise<Verdict>> = {
    ours: async (tc) => {
      const dev = asserted.deviations.find((d) => d.id === tc.id)
      return dev ? dev.verdict : ours.get(tc.id)!
    },
    pkijs: runPkijs,
    '@peculiar/x509': runPeculiar,
  }
  const libraries = {} as SuiteComparison['libraries']
  for (const lib of Object.keys(runners) as Library[]) libraries[lib] = { ...emptyTally(), byFamily: {} }
  let inScope = 0
  for (const tc of loadSuite(suite)) {
    if (scopeOf(suite, tc).kind !== 'in') continue
    inScope++
    for (const lib of Object.keys(runners) as Library[]) {
      const v = await runners[lib](tc)
      const entry = libraries[lib]
      add(entry, tc, v)
      const fam = family(tc.id)
      entry.byFamily[fam] ??= emptyTally()
      add(entry.byFamily[fam], tc, v)
    }
  }
  return {
    inScope,
    libraries,
    oursAsserted: { counted: asserted.counted.length, passed: asserted.passed, rate: asserted.rate },
  }
}

function pct(n: number, d: number): string {
  return d === 0 ? 'n/a' : `${((n / d) * 100).toFixed(2)}%`
}

describe.skipIf(!ENABLED)(
  'comparison with pkijs and @peculiar/x509 (VECTORS_COMPARE=1; reported only)',
  () => {
    it('runs the same cases and Wycheproof vectors through all three', { timeout: 600_000 }, async () => {
      const paths: Partial<Record<Suite, SuiteComparison>> = {}
      const lines: string[] = []
      for (const suite of SUITES) {
        const c = await compareSuite(suite)
        paths[suite] = c
        lines.push(`## ${suite}: ${c.inScope} in-scope cases (deviation cases included)`)
        for (const [lib, t] of Object.entries(c.libraries)) {
          lines.push(
            `   ${lib.padEnd(15)} agree ${t.agree}/${t.cases} (${pct(t.agree, t.cases)}), false accept ${t.falseAccept}, false reject ${t.falseReject}, over ${CASE_TIME_BOUND_MS} ms ${t.overTimeBound}, slowest ${t.maxMs.toFixed(0)} ms`,
          )
        }
        const a = c.oursAsserted
        lines.push(
          `   ours asserted (deviations held out): ${a.passed}/${a.counted} (${pct(a.passed, a.counted)})`,
        )
      }
      const wycheproof: WycheproofTally[] = []
      for (const curve of ['P-256', 'P-384'] as Curve[]) {
        for (const verifier of ['ours', 'pkijs', '@peculiar/x509'] as Verifier[]) {
          const t = await tallyWycheproof(curve, verifier)
          wycheproof.push(t)
          lines.push(`   wycheproof ${formatTally(t)}`)
        }
      }
      console.log(lines.join('\n'))
      if (REPORT) {
        const file = path.join(import.meta.dirname, 'report.json')
        const report = {
          generated: new Date().toISOString(),
          node: process.version,
          command: 'VECTORS_REPORT=1 npx vitest run test/vectors',
          caseTimeBoundMs: CASE_TIME_BOUND_MS,
          paths,
          wycheproof: wycheproof.map((t) => ({
            ...t,
            invalidAccepted: t.invalidAccepted.length,
            invalidAcceptedTcIds: t.invalidAccepted,
            validRejected: t.validRejected.length,
          })),
        }
        writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`)
        // The repository's formatter has the last word on layout, so `biome check .` stays clean.
        execFileSync(path.join(repoRoot, 'node_modules', '.bin', 'biome'), ['format', '--write', file])
      }
      expect(Object.keys(paths)).toEqual([...SUITES])
    })
  },
)
