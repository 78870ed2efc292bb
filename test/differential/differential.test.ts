import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { RULES, table } from './classify.js'
import { runDifferential } from './run.js'

/**
 * Differential validation: seeded chains judged by the core (an authenticator with app-level
 * trust and default options) and by `openssl verify -x509_strict -purpose sslclient`. Every
 * disagreement must be explained by a named rule of classify.ts, documented in the
 * path-validation guide. `CLIENTCERT_DIFF=full` runs 50,000 chains instead of 1,000;
 * `CLIENTCERT_DIFF_CHAINS` and `CLIENTCERT_DIFF_SEED` override count and seed.
 */

const FULL = process.env.CLIENTCERT_DIFF === 'full'
const COUNT = Number(process.env.CLIENTCERT_DIFF_CHAINS ?? (FULL ? 50_000 : 1_000))
const SEED = Number(process.env.CLIENTCERT_DIFF_SEED ?? 20)
const GUIDE = new URL('../../docs/guide/path-validation.md', import.meta.url)

describe(`differential validation against OpenSSL (${COUNT} chains, seed ${SEED})`, () => {
  it('explains every disagreement by a named, documented rule', {
    timeout: FULL ? 6 * 3_600_000 : 300_000,
  }, async () => {
    const run = await runDifferential({ seed: SEED, count: COUNT, crossCheck: 50 })
    const { results } = run
    const disagreements = results.filter((r) => r.core.ok !== r.openssl.ok)
    const byRule = new Map<string, number>()
    const unexplained = disagreements.filter((d) => d.rules.length === 0)
    for (const d of disagreements) {
      for (const name of d.rules.length > 0 ? d.rules : ['UNEXPLAINED'])
        byRule.set(name, (byRule.get(name) ?? 0) + 1)
    }
    const bothAccept = results.filter((r) => r.core.ok && r.openssl.ok).length
    const bothRefuse = results.filter((r) => !r.core.ok && !r.openssl.ok).length
    // Written straight to stdout: the table is the run's result, shown also when it passes.
    process.stdout.write(
      `${[
        `differential: ${COUNT} chains (seed ${SEED}) in ${(run.timings.chainsMs / 1000).toFixed(1)} s + ${(run.timings.keysMs / 1000).toFixed(1)} s for the key pool`,
        `both accept ${bothAccept}, both refuse ${bothRefuse}, disagree ${disagreements.length} (${unexplained.length} unexplained)`,
        table(COUNT, disagreements.length, byRule),
        ...unexplained
          .slice(0, 10)
          .map(
            (d) =>
              `UNEXPLAINED #${d.spec.index}: core ${d.core.reason} | openssl ${d.openssl.reason} | ${d.features.join(' ')}`,
          ),
      ].join('\n')}\n`,
    )
    // Batching chains into one `openssl verify` must not change a verdict.
    expect(run.batchMismatches).toEqual([])
    expect(unexplained.map((d) => d.spec.index)).toEqual([])
    // Each rule that explained something is documented, with its direction.
    const guide = readFileSync(GUIDE, 'utf8')
    for (const name of byRule.keys()) expect(guide, name).toContain(`\`${name}\``)
    // Not vacuous: the generator makes plenty of chains each validator accepts and refuses.
    expect(bothAccept).toBeGreaterThan(COUNT * 0.2)
    expect(bothRefuse).toBeGreaterThan(COUNT * 0.2)
    expect(Object.keys(RULES).length).toBeGreaterThan(0)
  })
})
