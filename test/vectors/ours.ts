import { performance } from 'node:perf_hooks'
import { type ParsedCertificate, parseCertificate } from '../../packages/core/src/cert/parse.js'
import { pemToDer } from '../../packages/core/src/trust/load.js'
import { checkLeaf, checkTime, type EkuRule } from '../../packages/core/src/validate/leaf.js'
import { buildPath, indexBySubject, type TrustStore } from '../../packages/core/src/validate/path.js'
import type { Suite, Testcase } from './load.js'

/**
 * Runs the core's own validator on one testcase, the way the authenticator does: strict DER
 * parsing, `checkLeaf` (the client-certificate rules), then `buildPath` (RFC 5280 §6).
 */

export type Result = 'SUCCESS' | 'FAILURE'

export interface Verdict {
  readonly result: Result
  readonly reason: string
  readonly ms: number
}

/** The product's signature budget (authenticator.ts MAX_SIGNATURE_CHECKS) and default depth. */
export const MAX_SIGNATURE_CHECKS = 64
/** The product's budget for verifications with hint keys (authenticator.ts MAX_HINT_VERIFY_COST). */
export const MAX_HINT_VERIFY_COST = 16
export const DEFAULT_MAX_DEPTH = 8

const EKU_OIDS: Readonly<Record<string, string | null>> = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  OCSPSigning: '1.3.6.1.5.5.7.3.9',
  // Requiring anyExtendedKeyUsage (Go's ExtKeyUsageAny) means "no EKU requirement".
  anyExtendedKeyUsage: null,
}

/**
 * The EKU knobs (`eku.allowAny`, `eku.allowMissing`) each suite is judged with. The product
 * defaults are both false; only allowMissing is ever turned on, where the suite's reference
 * reading (RFC 5280 §4.2.1.12: no EKU extension = unrestricted) needs it:
 * - limbo: product defaults (the webpki reading, see classify.ts CONFLICT_READING).
 * - pkits: allowMissing, because no PKITS end-entity certificate carries an EKU.
 * - go-x509: allowMissing too: 76 of its 111 leaves have no EKU and Go accepts them (measured: with
 *   allowMissing off, 43 of the 98 counted cases disagree).
 */
export const SUITE_EKU_KNOBS: Readonly<Record<Suite, Pick<EkuRule, 'allowAny' | 'allowMissing'>>> = {
  limbo: { allowAny: false, allowMissing: false },
  pkits: { allowAny: false, allowMissing: true },
  'go-x509': { allowAny: false, allowMissing: true },
}

/** One rule per acceptable EKU: Go accepts a chain valid for any one of the listed usages. */
export function ekuRules(suite: Suite, tc: Testcase): EkuRule[] {
  const names = suite === 'limbo' ? (tc.eku_to_require ?? []) : tc.extended_key_usage
  const knobs = SUITE_EKU_KNOBS[suite]
  if (names.length === 0) return [{ required: null, ...knobs }]
  return names.map((name) => {
    const oid = EKU_OIDS[name]
    if (oid === undefined) throw new Error(`${tc.id}: unknown EKU name ${name}`)
    return { required: oid, ...knobs }
  })
}

interface Parsed {
  readonly certs: ParsedCertificate[]
  /** Why a certificate was left out; part of the verdict's reason. */
  readonly dropped: string[]
}

function parseAll(pems: readonly string[], role: string): Parsed {
  const out: Parsed = { certs: [], dropped: [] }
  for (const pem of pems) {
    for (const der of pemToDer(pem, 'vector')) {
      try {
        out.certs.push(parseCertificate(der))
      } catch (err) {
        // An unparseable anchor or hint is unusable, as it would be in configuration.
        out.dropped.push(`${role} dropped: ${(err as Error).message}`)
      }
    }
  }
  return out
}

export function runOurs(suite: Suite, tc: Testcase): Verdict {
  const start = performance.now()
  const { result, reason } = judge(suite, tc, true)
  return { result, reason, ms: performance.now() - start }
}

/** The verdict of `buildPath` alone, without the client-certificate rules of `checkLeaf`. */
export function runPathOnly(suite: Suite, tc: Testcase): Verdict {
  const start = performance.now()
  const { result, reason } = judge(suite, tc, false)
  return { result, reason, ms: performance.now() - start }
}

function judge(suite: Suite, tc: Testcase, leafRules: boolean): { result: Result; reason: string } {
  let leaf: ParsedCertificate
  try {
    leaf = parseCertificate(pemToDer(tc.peer_certificate, 'peer')[0]!)
  } catch (err) {
    return { result: 'FAILURE', reason: `leaf does not parse: ${(err as Error).message}` }
  }
  const anchors = parseAll(tc.trusted_certs, 'anchor')
  const hints = parseAll(tc.untrusted_intermediates, 'intermediate')
  const dropped = [...anchors.dropped, ...hints.dropped]
  const now = tc.validation_time === null ? Date.now() : Date.parse(tc.validation_time)
  const reasons: string[] = []
  for (const rule of ekuRules(suite, tc)) {
    const bad = leafRules ? checkLeaf(leaf, rule) : undefined
    if (bad) {
      reasons.push(`${bad.code}: ${bad.reason}`)
      continue
    }
    const verdict = anchors.certs.some((a) => a.fingerprint256 === leaf.fingerprint256)
      ? pinned(leaf, now)
      : chain(leaf, anchors.certs, hints.certs, tc, now, rule.required)
    if (verdict === undefined) return { result: 'SUCCESS', reason: 'valid' }
    reasons.push(verdict)
  }
  return { result: 'FAILURE', reason: [...reasons, ...dropped].join(' | ') }
}

/**
 * A leaf that is itself among the trusted certificates is what the product calls a pinned
 * certificate (`trust.pins`, as Go's "leaf in roots"): the authenticator then checks the leaf
 * rules and its own validity only (authenticator.ts #pinned).
 */
function pinned(leaf: ParsedCertificate, now: number): string | undefined {
  const bad = checkTime(leaf, now, 0)
  return bad ? `${bad.code}: ${bad.reason}` : undefined
}

function chain(
  leaf: ParsedCertificate,
  anchors: readonly ParsedCertificate[],
  hints: readonly ParsedCertificate[],
  tc: Testcase,
  now: number,
  requiredEku: string | null,
): string | undefined {
  const store: TrustStore = { anchors: indexBySubject(anchors), intermediates: new Map() }
  // Limbo counts intermediates; PathOptions.maxDepth counts CA certificates including the anchor.
  const maxDepth = tc.max_chain_depth === null ? DEFAULT_MAX_DEPTH : tc.max_chain_depth + 1
  const path = buildPath(leaf, store, hints, {
    now,
    skewMs: 0,
    maxDepth,
    maxSignatureChecks: MAX_SIGNATURE_CHECKS,
    maxHintVerifyCost: MAX_HINT_VERIFY_COST,
    requiredEku,
  })
  return path.ok ? undefined : `${path.code}: ${path.reason}`
}
