import { KU, OID, type ParsedCertificate } from '../cert/parse.js'
import type { ClientCertErrorCode } from '../errors.js'
import { checkNameConstraints, MAX_NAME_CONSTRAINT_CHECKS, type NameCheckBudget } from './name-constraints.js'
import { checkKeyProfile, checkProfile, verifyCost } from './profile.js'
import { algorithmsMatch, verifySignature } from './signature.js'
import { checkWindow } from './window.js'

/**
 * RFC 5280 §6 path building and validation, written for this library: a depth-first search
 * with backtracking from the leaf through configured intermediates and untrusted hints to a
 * configured anchor, bounded in depth and in signature checks, where every link is a real
 * signature verification (never a name match alone).
 */

export interface TrustStore {
  readonly anchors: ReadonlyMap<string, readonly ParsedCertificate[]>
  readonly intermediates: ReadonlyMap<string, readonly ParsedCertificate[]>
  /**
   * Rules the leaf must meet to be judged against this store at all (a SPIFFE trust domain's
   * store holds X509-SVID rules, see trust/spiffe.ts); checked before any signature work.
   */
  readonly leafRule?:
    | ((leaf: ParsedCertificate) => Extract<PathResult, { ok: false }> | undefined)
    | undefined
}

export interface PathOptions {
  readonly now: number
  readonly skewMs: number
  /**
   * Most CA certificates (intermediates + anchor) a path may hold. Self-issued intermediates
   * (key rollover) are not counted, as for pathLenConstraint (RFC 5280 §6.1.4(l)), but a path
   * never holds more than twice this many CA certificates in all.
   */
  readonly maxDepth: number
  /** Most signature verifications one search may spend. */
  readonly maxSignatureChecks: number
  /**
   * Most verification work, in P-256 verifications (see validate/profile.ts `verifyCost`),
   * one search may spend on verifications that involve an untrusted hint: with a hint's key,
   * or of a hint's signature. Hints come from the client, so whoever sends the request chose
   * them; verifications between the leaf and configured certificates are not charged here.
   */
  readonly maxHintVerifyCost: number
  /** EKU OID the leaf was checked for; intermediates that restrict EKU must allow it too. */
  readonly requiredEku: string | null
}

export type PathResult =
  | {
      readonly ok: true
      /** Leaf first, anchor last. */
      readonly path: readonly ParsedCertificate[]
      readonly validFrom: number
      readonly validUntil: number
    }
  | {
      readonly ok: false
      readonly code: ClientCertErrorCode
      readonly reason: string
      /** Set when the search stopped because a budget ran out (not because no path exists). */
      readonly exhausted?: 'signatures' | 'hints'
    }

type Failure = Extract<PathResult, { ok: false }>

export function indexBySubject(certs: readonly ParsedCertificate[]): Map<string, ParsedCertificate[]> {
  const map = new Map<string, ParsedCertificate[]>()
  const seen = new Set<string>()
  for (const c of certs) {
    if (seen.has(c.fingerprint256)) continue
    seen.add(c.fingerprint256)
    const list = map.get(c.subject.matchKey)
    if (list) list.push(c)
    else map.set(c.subject.matchKey, [c])
  }
  return map
}

/**
 * Depth-first search from `leaf` to an anchor. Every edge costs one signature check from a
 * shared budget, so a pool of many same-named or mutually cross-signed CAs (x509-limbo
 * `pathological::*`, Go's TestPathologicalChain) ends in bounded time rather than exploring
 * every permutation; candidate lookup is by subject index, linear in the pool.
 */
export function buildPath(
  leaf: ParsedCertificate,
  store: TrustStore,
  hints: readonly ParsedCertificate[],
  opts: PathOptions,
): PathResult {
  const refused = store.leafRule?.(leaf)
  if (refused) return refused
  const hintIndex = indexBySubject(hints)
  const names: NameCheckBudget = { left: MAX_NAME_CONSTRAINT_CHECKS }
  let budget = opts.maxSignatureChecks
  let hintBudget = opts.maxHintVerifyCost
  let best: Failure | undefined
  const hintSet = new Set(hints)

  /**
   * Whether `issuer`'s key may verify anything: its key profile first (so a key with an
   * expensive or malformed shape is never handed to OpenSSL), then the budgets.
   */
  const mayVerifyWith = (cert: ParsedCertificate, issuer: ParsedCertificate): Failure | true => {
    const key = checkKeyProfile(issuer)
    if (key)
      return { ok: false, code: key.code, reason: `issuer candidate for "${cert.subject.dn}": ${key.reason}` }
    if (budget-- <= 0) return exhausted('signatures')
    // Charged when the client chose the key or the signed certificate: either way it chose the work.
    if (hintSet.has(issuer) || hintSet.has(cert)) {
      hintBudget -= verifyCost(issuer)
      if (hintBudget < 0) return exhausted('hints')
    }
    return true
  }

  const remember = (f: Failure) => {
    // A complete path that failed a specific rule explains more than "no issuer found".
    if (
      best === undefined ||
      (best.code === 'ERR_CLIENT_CERT_UNTRUSTED' && f.code !== 'ERR_CLIENT_CERT_UNTRUSTED')
    ) {
      best = f
    }
  }

  const search = (path: ParsedCertificate[], counted: number): PathResult | undefined => {
    const cert = path[path.length - 1]!
    for (const anchor of ordered(cert, store.anchors.get(cert.issuer.matchKey))) {
      if (anchor.fingerprint256 === path[0]!.fingerprint256) continue
      const may = mayVerifyWith(cert, anchor)
      if (may !== true) {
        if (may.exhausted) return may
        remember(may)
        continue
      }
      if (!verifySignature(cert, anchor)) {
        remember({
          ok: false,
          code: 'ERR_CLIENT_CERT_UNTRUSTED',
          reason: `signature of "${cert.subject.dn}" does not verify with anchor "${anchor.subject.dn}"`,
        })
        continue
      }
      const result = checkPath([...path, anchor], opts, names)
      if (result.ok) return result
      remember(result)
    }
    // After `next`, the path holds path.length intermediates, plus the anchor still to come.
    if (path.length >= 2 * opts.maxDepth) return undefined
    const candidates = [
      ...(store.intermediates.get(cert.issuer.matchKey) ?? []),
      ...(hintIndex.get(cert.issuer.matchKey) ?? []),
    ]
    for (const next of ordered(cert, candidates)) {
      const countedNext = counted + (next.selfIssued ? 0 : 1)
      if (countedNext + 1 > opts.maxDepth) {
        remember({
          ok: false,
          code: 'ERR_CLIENT_CERT_UNTRUSTED',
          reason: `no path within the maximum depth of ${opts.maxDepth} CA certificates`,
        })
        continue
      }
      if (
        path.some(
          (p) =>
            p.fingerprint256 === next.fingerprint256 ||
            (p.subject.matchKey === next.subject.matchKey && p.spkiSha256 === next.spkiSha256),
        )
      )
        continue
      const may = mayVerifyWith(cert, next)
      if (may !== true) {
        if (may.exhausted) return may
        remember(may)
        continue
      }
      if (!verifySignature(cert, next)) {
        remember({
          ok: false,
          code: 'ERR_CLIENT_CERT_UNTRUSTED',
          reason: `signature of "${cert.subject.dn}" does not verify with "${next.subject.dn}"`,
        })
        continue
      }
      const found = search([...path, next], countedNext)
      if (found !== undefined && (found.ok || found.exhausted !== undefined)) return found
    }
    return undefined
  }

  const exhausted = (which: 'signatures' | 'hints'): Failure => ({
    ok: false,
    code: 'ERR_CLIENT_CERT_UNTRUSTED',
    reason:
      which === 'hints'
        ? 'path search budget for the keys of client-sent chain certificates exhausted'
        : 'path search budget exhausted',
    exhausted: which,
  })

  const found = search([leaf], 0)
  if (found?.ok) return found
  if (found !== undefined && found.exhausted !== undefined) return found
  return (
    best ?? {
      ok: false,
      code: 'ERR_CLIENT_CERT_UNTRUSTED',
      reason: `no path from "${leaf.subject.dn}" (issuer "${leaf.issuer.dn}") to a trust anchor`,
    }
  )
}

/** Candidates whose subject key id matches the child's authority key id first. */
function ordered(
  child: ParsedCertificate,
  candidates: readonly ParsedCertificate[] | undefined,
): readonly ParsedCertificate[] {
  if (candidates === undefined || candidates.length < 2 || child.authorityKeyId === undefined)
    return candidates ?? []
  const aki = child.authorityKeyId
  return [...candidates].sort((a, b) => Number(b.subjectKeyId === aki) - Number(a.subjectKeyId === aki))
}

/** Checks a complete candidate path, leaf first and anchor last (signatures already verified). */
export function checkPath(
  path: readonly ParsedCertificate[],
  opts: PathOptions,
  names: NameCheckBudget = { left: MAX_NAME_CONSTRAINT_CHECKS },
): PathResult {
  let validFrom = Number.NEGATIVE_INFINITY
  let validUntil = Number.POSITIVE_INFINITY
  const last = path.length - 1
  for (let i = last; i >= 0; i--) {
    const cert = path[i]!
    const bad = checkCertificate(path, i, opts, names)
    if (bad) return bad
    validFrom = Math.max(validFrom, cert.notBefore)
    validUntil = Math.min(validUntil, cert.notAfter)
  }
  return { ok: true, path, validFrom, validUntil }
}

/** Every rule for `path[i]`: its own validity and profile, its issuer role, constraints above it. */
function checkCertificate(
  path: readonly ParsedCertificate[],
  i: number,
  opts: PathOptions,
  names: NameCheckBudget,
): Failure | undefined {
  const cert = path[i]!
  const last = path.length - 1
  const time = checkValidity(cert, opts)
  if (time) return time
  const profile = checkProfile(cert)
  if (profile) return fail(profile.code, profile.reason)
  // RFC 5280 §4.2: a critical extension we do not process makes the certificate unusable.
  if (cert.unknownCriticalExtensions.length > 0) {
    return fail(
      'ERR_CLIENT_CERT_CRITICAL_EXTENSION',
      `"${cert.subject.dn}" has unsupported critical extension ${cert.unknownCriticalExtensions.join(', ')}`,
    )
  }
  if (i < last && !algorithmsMatch(cert)) {
    return fail('ERR_CLIENT_CERT_MALFORMED', `"${cert.subject.dn}" has mismatched signature algorithms`)
  }
  if (i > 0) {
    const ca = checkIssuer(path, i, opts)
    if (ca) return ca
  }
  // Constraints of every CA above apply to this certificate, except to self-issued intermediates.
  if (i === 0 || !cert.selfIssued) {
    for (let j = i + 1; j <= last; j++) {
      const nc = path[j]!.nameConstraints
      if (nc === undefined) continue
      const violation = checkNameConstraints(cert, nc, names)
      if (violation)
        return fail('ERR_CLIENT_CERT_NAME_CONSTRAINTS', `${violation} of "${path[j]!.subject.dn}"`)
    }
  }
  return undefined
}

/** Validity of one certificate of the path (validate/window.ts). */
function checkValidity(cert: ParsedCertificate, opts: PathOptions): Failure | undefined {
  const bad = checkWindow(cert.notBefore, cert.notAfter, opts.now, opts.skewMs, `"${cert.subject.dn}"`)
  return bad === undefined ? undefined : fail(bad.code, bad.reason)
}

/** basicConstraints, pathLen, keyUsage and EKU rules for the issuer at `path[i]` (i ≥ 1). */
function checkIssuer(path: readonly ParsedCertificate[], i: number, opts: PathOptions): Failure | undefined {
  const cert = path[i]!
  // RFC 5280 §6.1.4(k); a v1/v2 anchor is a CA by configuration (out of band), never an intermediate.
  const outOfBandCa = i === path.length - 1 && cert.version < 3
  if (cert.basicConstraints?.ca !== true && !outOfBandCa) {
    return fail('ERR_CLIENT_CERT_BASIC_CONSTRAINTS', `issuer "${cert.subject.dn}" is not a CA`)
  }
  // RFC 5280 §4.1.2.6: a CA's subject MUST be a non-empty distinguished name.
  if (cert.subject.rdns.length === 0) {
    return fail('ERR_CLIENT_CERT_MALFORMED', 'an issuer has an empty subject')
  }
  if (cert.keyUsage !== undefined && (cert.keyUsage & KU.keyCertSign) === 0) {
    return fail('ERR_CLIENT_CERT_KEY_USAGE', `issuer "${cert.subject.dn}" lacks keyCertSign`)
  }
  return checkPathLen(path, i) ?? checkIssuerEku(cert, opts)
}

/** RFC 5280 §4.2.1.9 / §6.1.4(l),(m): non-self-issued intermediates below `path[i]`, leaf excluded. */
function checkPathLen(path: readonly ParsedCertificate[], i: number): Failure | undefined {
  const cert = path[i]!
  const pathLen = cert.basicConstraints?.pathLen
  if (pathLen === undefined) return undefined
  let below = 0
  for (let j = 1; j < i; j++) if (!path[j]!.selfIssued) below++
  if (below <= pathLen) return undefined
  return fail(
    'ERR_CLIENT_CERT_BASIC_CONSTRAINTS',
    `"${cert.subject.dn}" allows ${pathLen} intermediates below it, path has ${below}`,
  )
}

/** An issuer that lists EKUs restricts the path to them (CA/B BR §7.1.2.2, Go, OpenSSL). */
function checkIssuerEku(cert: ParsedCertificate, opts: PathOptions): Failure | undefined {
  const eku = cert.extKeyUsage
  if (
    opts.requiredEku === null ||
    eku === undefined ||
    eku.includes(opts.requiredEku) ||
    eku.includes(OID.ekuAny)
  ) {
    return undefined
  }
  return fail(
    'ERR_CLIENT_CERT_EKU',
    `issuer "${cert.subject.dn}" restricts extended key usage and excludes ${opts.requiredEku}`,
  )
}

function fail(code: ClientCertErrorCode, reason: string): Failure {
  return { ok: false, code, reason }
}
