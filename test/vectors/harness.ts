import {
  DEVIATIONS,
  derivedReason,
  deviationOf,
  KNOWN_DISAGREEMENTS,
  SKIPPED_FEATURES,
  scopeOf,
} from './classify.js'
import { loadSuite, type Suite, type Testcase } from './load.js'
import { runOurs, type Verdict } from './ours.js'

/** A verdict counts only when it comes within this bound (pathological cases must be answered). */
export const CASE_TIME_BOUND_MS = 2_000

export interface Outcome {
  readonly tc: Testcase
  readonly verdict: Verdict
  readonly agrees: boolean
}

export interface SuiteReport {
  readonly suite: Suite
  readonly total: number
  /** Skipped case ids by feature. */
  readonly skipped: Readonly<Record<string, string[]>>
  /** The rfc5280:: side of conflicts_with pairs (the webpki reading is taken). */
  readonly conflicts: readonly string[]
  /** In-scope cases held out by a named deviation. */
  readonly deviations: readonly { id: string; deviation: string; confirmed: boolean; verdict: Verdict }[]
  /** In-scope cases that count toward the rate (not skipped, not set aside, not a deviation). */
  readonly counted: readonly Outcome[]
  readonly passed: number
  readonly rate: number
  readonly slowest: { id: string; ms: number }
  readonly totalMs: number
}

export function evaluateOurs(suite: Suite): SuiteReport {
  const skipped: Record<string, string[]> = {}
  const conflicts: string[] = []
  const deviations: SuiteReport['deviations'][number][] = []
  const counted: Outcome[] = []
  let slowest = { id: '', ms: 0 }
  let totalMs = 0
  const cases = loadSuite(suite)
  for (const tc of cases) {
    const scope = scopeOf(suite, tc)
    if (scope.kind === 'skip') {
      skipped[scope.feature] = [...(skipped[scope.feature] ?? []), tc.id]
      continue
    }
    if (scope.kind === 'conflict') {
      conflicts.push(tc.id)
      continue
    }
    const verdict = runOurs(suite, tc)
    totalMs += verdict.ms
    if (verdict.ms > slowest.ms) slowest = { id: tc.id, ms: verdict.ms }
    const agrees = verdict.result === tc.expected_result && verdict.ms <= CASE_TIME_BOUND_MS
    const deviation = deviationOf(tc.id)
    if (deviation !== undefined) {
      const confirmed = !agrees && DEVIATIONS[deviation]!.confirm(suite, tc, verdict)
      deviations.push({ id: tc.id, deviation, confirmed, verdict })
      continue
    }
    counted.push({ tc, verdict, agrees })
  }
  const passed = counted.filter((o) => o.agrees).length
  return {
    suite,
    total: cases.length,
    skipped,
    conflicts,
    deviations,
    counted,
    passed,
    rate: counted.length === 0 ? 1 : passed / counted.length,
    slowest,
    totalMs,
  }
}

export function formatReport(r: SuiteReport): string {
  const lines = [
    `## ${r.suite}: ${r.passed}/${r.counted.length} agree (${(r.rate * 100).toFixed(2)}%) of ${r.total} cases`,
    `   slowest case ${r.slowest.ms.toFixed(1)} ms (${r.slowest.id}); all cases ${(r.totalMs / 1000).toFixed(2)} s`,
  ]
  for (const [feature, ids] of Object.entries(r.skipped)) {
    lines.push(`   skipped [${feature}] ${ids.length}: ${SKIPPED_FEATURES[feature]}`)
    for (const id of ids) {
      const derived = derivedReason(id)
      lines.push(`     - ${id}${derived ? ` (derived: ${derived})` : ''}`)
    }
  }
  if (r.conflicts.length > 0) {
    lines.push(`   set aside (conflicts_with, webpki reading taken) ${r.conflicts.length}:`)
    for (const id of r.conflicts) lines.push(`     - ${id}`)
  }
  for (const d of r.deviations) {
    lines.push(
      `   deviation [${d.deviation}] ${d.id}${d.confirmed ? '' : ' (NOT CONFIRMED)'}: ${d.verdict.reason}`,
    )
  }
  for (const o of r.counted.filter((x) => !x.agrees)) {
    const known = KNOWN_DISAGREEMENTS[o.tc.id]
    const tag = known ? `known: ${known}` : 'UNEXPECTED'
    lines.push(
      `   disagree ${o.tc.id} expected ${o.tc.expected_result} got ${o.verdict.result} in ${o.verdict.ms.toFixed(1)} ms [${tag}]: ${o.verdict.reason.slice(0, 240)}`,
    )
  }
  return lines.join('\n')
}

/** Disagreements that are not listed in KNOWN_DISAGREEMENTS. */
export function unexpected(r: SuiteReport): string[] {
  return r.counted.filter((o) => !o.agrees && KNOWN_DISAGREEMENTS[o.tc.id] === undefined).map((o) => o.tc.id)
}

/** The path-validation tests of one suite; `minRate` is the agreement the CI enforces. */
export function suiteTests(
  suite: Suite,
  minRate: number,
  t: {
    beforeAll: (fn: () => void) => void
    it: (name: string, fn: () => void) => void
    expect: (v: unknown) => { toBeGreaterThanOrEqual(n: number): void; toEqual(v: unknown): void }
  },
): void {
  let report: SuiteReport
  t.beforeAll(() => {
    report = evaluateOurs(suite)
    console.log(formatReport(report))
  })
  t.it(`agrees with at least ${(minRate * 100).toFixed(0)}% of in-scope cases`, () => {
    t.expect(report.rate).toBeGreaterThanOrEqual(minRate)
  })
  t.it(`answers every case within ${CASE_TIME_BOUND_MS} ms`, () => {
    t.expect(report.counted.filter((o) => o.verdict.ms > CASE_TIME_BOUND_MS).map((o) => o.tc.id)).toEqual([])
  })
  t.it('holds out only confirmed deviations', () => {
    t.expect(report.deviations.filter((d) => !d.confirmed).map((d) => d.id)).toEqual([])
  })
}
