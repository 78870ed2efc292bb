import { createRequire } from 'node:module'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import * as pkijs from 'pkijs'
import type * as X509 from '../../packages/core/node_modules/@peculiar/x509/build/index.js'
import { pemToDer } from '../../packages/core/src/trust/load.js'
import { CASE_TIME_BOUND_MS } from './harness.js'
import { repoRoot, type Testcase } from './load.js'
import type { Result, Verdict } from './ours.js'

/**
 * The two JavaScript libraries the core is compared with, run on the same cases. Reported only,
 * never asserted. @peculiar/x509 is a dependency of packages/core, so it is loaded from there
 * (after reflect-metadata, which it needs).
 */

const coreRequire = createRequire(path.join(repoRoot, 'packages', 'core', 'package.json'))
coreRequire('reflect-metadata')
export const x509 = coreRequire('@peculiar/x509') as typeof X509

const ders = (pems: readonly string[]): Uint8Array[] => pems.flatMap((p) => pemToDer(p, 'vector'))

function timeOf(tc: Testcase): Date {
  return tc.validation_time === null ? new Date() : new Date(tc.validation_time)
}

class Deadline extends Error {}

/**
 * pkijs 3 `CertificateChainValidationEngine.verify()` with the anchors, intermediates + leaf,
 * and the validation time; no CRLs. pkijs explores every issuer combination, so its issuer
 * search is wrapped to give up at the time bound (it otherwise never answers some
 * pathological cases).
 */
export async function runPkijs(tc: Testcase): Promise<Verdict> {
  const start = performance.now()
  const done = (result: Result, reason: string): Verdict => ({
    result,
    reason,
    ms: performance.now() - start,
  })
  let leaf: pkijs.Certificate
  try {
    leaf = pkijs.Certificate.fromBER(ders([tc.peer_certificate])[0]!)
  } catch (err) {
    return done('FAILURE', `leaf does not parse: ${(err as Error).message}`)
  }
  const parse = (list: Uint8Array[]) =>
    list.flatMap((d) => {
      try {
        return [pkijs.Certificate.fromBER(d)]
      } catch {
        return []
      }
    })
  const deadline = start + CASE_TIME_BOUND_MS
  const engine = new pkijs.CertificateChainValidationEngine({
    trustedCerts: parse(ders(tc.trusted_certs)),
    certs: [...parse(ders(tc.untrusted_intermediates)), leaf],
    checkDate: timeOf(tc),
    findIssuer: (cert, eng, crypto) => {
      if (performance.now() > deadline) throw new Deadline('time bound reached')
      return eng.defaultFindIssuer(cert, eng, crypto)
    },
  })
  try {
    const r = await engine.verify()
    if (performance.now() > deadline) return done('FAILURE', 'time bound reached')
    return done(r.result ? 'SUCCESS' : 'FAILURE', r.resultMessage)
  } catch (err) {
    return done('FAILURE', `threw: ${(err as Error).message ?? String(err)}`)
  }
}

/**
 * @peculiar/x509 2 `X509ChainBuilder.build(leaf)` over anchors + intermediates: SUCCESS when the
 * chain it builds reaches a trusted certificate. (It takes the first issuer whose name, key id
 * and signature fit, without backtracking, and checks no validity dates, basicConstraints,
 * pathLen, key usage, EKU or name constraints.)
 */
export async function runPeculiar(tc: Testcase): Promise<Verdict> {
  const start = performance.now()
  const done = (result: Result, reason: string): Verdict => ({
    result,
    reason,
    ms: performance.now() - start,
  })
  let leaf: X509.X509Certificate
  try {
    leaf = new x509.X509Certificate(ders([tc.peer_certificate])[0]!)
  } catch (err) {
    return done('FAILURE', `leaf does not parse: ${(err as Error).message}`)
  }
  const parse = (list: Uint8Array[]) =>
    list.flatMap((d) => {
      try {
        return [new x509.X509Certificate(d)]
      } catch {
        return []
      }
    })
  const trusted = parse(ders(tc.trusted_certs))
  const builder = new x509.X509ChainBuilder({
    certificates: [...trusted, ...parse(ders(tc.untrusted_intermediates))],
  })
  try {
    const chain = await builder.build(leaf)
    const anchored = chain.some((c) => trusted.some((t) => t.equal(c)))
    return done(anchored ? 'SUCCESS' : 'FAILURE', `chain of ${chain.length}${anchored ? '' : ', no anchor'}`)
  } catch (err) {
    return done('FAILURE', `threw: ${(err as Error).message}`)
  }
}
