import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { explain } from './classify.js'
import { type ChainSpec, chainSpec, createKeyPool, features, materialise } from './generate.js'
import { coreVerdict, type OpensslJob, opensslBatch, opensslVerdict, pool, type Verdict } from './judge.js'

export interface ChainResult {
  readonly spec: ChainSpec
  readonly features: readonly string[]
  readonly core: Verdict
  readonly openssl: Verdict
  /** The named rules that explain a disagreement (empty: unexplained, or none to explain). */
  readonly rules: readonly string[]
}

export interface RunOptions {
  readonly seed: number
  readonly count: number
  /** Chains built and judged by the core at once (WebCrypto runs on the libuv pool). */
  readonly concurrency?: number
  /** Chains per `openssl verify` process. */
  readonly batchSize?: number
  /** `openssl verify` processes at once. */
  readonly processes?: number
  /** Chains judged both batched and alone, to check that batching changes no verdict. */
  readonly crossCheck?: number
}

export interface RunResult {
  readonly results: readonly ChainResult[]
  /** Chains whose batched OpenSSL verdict differed from the single-chain one. */
  readonly batchMismatches: readonly number[]
  readonly timings: { readonly keysMs: number; readonly chainsMs: number }
}

/** Chains are made in chunks so that a large run holds few certificates at once. */
const CHUNK = 1000

/** Generates `count` chains from `seed` and judges each with both validators. */
export async function runDifferential(o: RunOptions): Promise<RunResult> {
  const start = performance.now()
  const keys = await createKeyPool()
  const keysMs = performance.now() - start
  const dir = await mkdtemp(join(tmpdir(), 'clientcert-diff-'))
  const results: ChainResult[] = []
  const batchMismatches: number[] = []
  try {
    for (let from = 0; from < o.count; from += CHUNK) {
      const ids = Array.from({ length: Math.min(CHUNK, o.count - from) }, (_, i) => from + i)
      const made = await pool(ids, o.concurrency ?? 4, async (id) => {
        const spec = chainSpec(o.seed, id)
        const files = await materialise(spec, keys)
        return { spec, files, core: await coreVerdict(files) }
      })
      const size = o.batchSize ?? 50
      const batches: OpensslJob[][] = []
      for (let i = 0; i < made.length; i += size) {
        batches.push(made.slice(i, i + size).map((m) => ({ id: m.spec.index, files: m.files })))
      }
      const verdicts = new Map<number, Verdict>()
      for (const batch of await pool(batches, o.processes ?? 2, (b) => opensslBatch(dir, b))) {
        for (const [id, v] of batch) verdicts.set(id, v)
      }
      const checks = made.filter((m) => m.spec.index < (o.crossCheck ?? 0))
      await pool(checks, o.processes ?? 2, async (m) => {
        const alone = await opensslVerdict(dir, { id: m.spec.index, files: m.files })
        const batched = verdicts.get(m.spec.index)
        if (alone.ok !== batched?.ok || alone.reason !== batched.reason) batchMismatches.push(m.spec.index)
      })
      const judged = await pool(made, o.processes ?? 2, async (m) => {
        const openssl = verdicts.get(m.spec.index) ?? { ok: false, reason: 'no verdict' }
        const job = { id: m.spec.index, files: m.files }
        const rules =
          m.core.ok === openssl.ok
            ? []
            : await explain({ spec: m.spec, core: m.core, openssl }, (v) => opensslVerdict(dir, job, v))
        return { spec: m.spec, features: features(m.spec), core: m.core, openssl, rules }
      })
      results.push(...judged)
      await rm(dir, { recursive: true, force: true })
    }
    return { results, batchMismatches, timings: { keysMs, chainsMs: performance.now() - start - keysMs } }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
