import { KU, OID, type ParsedCertificate } from '../cert/parse.js'
import type { ClientCertErrorCode } from '../errors.js'
import { checkNameConstraints } from './name-constraints.js'
import { algorithmsMatch, verifySignature } from './signature.js'

/**
 * RFC 5280 §6 path building and validation, written for this library: a depth-first search
 * with backtracking from the leaf through configured intermediates and untrusted hints to a
 * configured anchor, bounded in depth and in signature checks, where every link is a real
 * signature verification (never a name match alone).
 */

export interface TrustStore {
  readonly anchors: ReadonlyMap<string, readonly ParsedCertificate[]>
  readonly intermediates: ReadonlyMap<string, readonly ParsedCertificate[]>
}

export interface PathOptions {
  readonly now: number
  readonly skewMs: number
  /** Most CA certificates (intermediates + anchor) a path may hold. */
  readonly maxDepth: number
  /** Most signature verifications one search may spend. */
  readonly maxSignatureChecks: number
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
  | { readonly ok: false; readonly code: ClientCertErrorCode; readonly reason: string }

type Failure = Extract<PathResult, { ok: false }>

export function indexBySubject(certs: readonly ParsedCertificate[]): Map<string, ParsedCertificate[]> {
  const map = new Map<string, ParsedCertificate[]>()
  for (const c of certs) {
    const list = map.get(c.subject.matchKey)
    if (list) {
      if (!list.some((x) => x.fingerprint256 === c.fingerprint256)) list.push(c)
    } else {
      map.set(c.subject.matchKey, [c])
    }
  }
  return map
}

export function buildPath(
  leaf: ParsedCertificate,
  store: TrustStore,
  hints: readonly ParsedCertificate[],
  opts: PathOptions,
): PathResult {
  const hintIndex = indexBySubject(hints)
  let budget = opts.maxSignatureChecks
  let best: Failure | undefined

  const remember = (f: Failure) => {
    // A complete path that failed a specific rule explains more than "no issuer found".
    if (
      best === undefined ||
      (best.code === 'ERR_CLIENT_CERT_UNTRUSTED' && f.code !== 'ERR_CLIENT_CERT_UNTRUSTED')
    ) {
      best = f
    }
  }

  const search = (path: ParsedCertificate[]): PathResult | undefined => {
    const cert = path[path.length - 1]!
    for (const anchor of ordered(cert, store.anchors.get(cert.issuer.matchKey))) {
      if (anchor.fingerprint256 === path[0]!.fingerprint256) continue
      if (budget-- <= 0) return exhausted()
      if (!verifySignature(cert, anchor)) {
        remember({
          ok: false,
          code: 'ERR_CLIENT_CERT_UNTRUSTED',
          reason: `signature of "${cert.subject.dn}" does not verify with anchor "${anchor.subject.dn}"`,
        })
        continue
      }
      const result = checkPath([...path, anchor], opts)
      if (result.ok) return result
      remember(result)
    }
    if (path.length > opts.maxDepth) return undefined
    const candidates = [
      ...(store.intermediates.get(cert.issuer.matchKey) ?? []),
      ...(hintIndex.get(cert.issuer.matchKey) ?? []),
    ]
    for (const next of ordered(cert, candidates)) {
      if (
        path.some(
          (p) =>
            p.fingerprint256 === next.fingerprint256 ||
            (p.subject.matchKey === next.subject.matchKey && p.spkiSha256 === next.spkiSha256),
        )
      )
        continue
      if (budget-- <= 0) return exhausted()
      if (!verifySignature(cert, next)) {
        remember({
          ok: false,
          code: 'ERR_CLIENT_CERT_UNTRUSTED',
          reason: `signature of "${cert.subject.dn}" does not verify with "${next.subject.dn}"`,
        })
        continue
      }
      const found = search([...path, next])
      if (found !== undefined && (found.ok || budget <= 0)) return found
    }
    return undefined
  }

  const exhausted = (): Failure => ({
    ok: false,
    code: 'ERR_CLIENT_CERT_UNTRUSTED',
    reason: 'path search budget exhausted',
  })

  const found = search([leaf])
  if (found !== undefined && found.ok) return found
  if (found !== undefined && !found.ok && found.reason === 'path search budget exhausted') return found
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
export function checkPath(path: readonly ParsedCertificate[], opts: PathOptions): PathResult {
  let validFrom = Number.NEGATIVE_INFINITY
  let validUntil = Number.POSITIVE_INFINITY
  const last = path.length - 1
  for (let i = last; i >= 0; i--) {
    const cert = path[i]!
    const time = checkValidity(cert, opts)
    if (time) return time
    validFrom = Math.max(validFrom, cert.notBefore)
    validUntil = Math.min(validUntil, cert.notAfter)
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
        const violation = checkNameConstraints(cert, nc)
        if (violation)
          return fail('ERR_CLIENT_CERT_NAME_CONSTRAINTS', `${violation} of "${path[j]!.subject.dn}"`)
      }
    }
  }
  return { ok: true, path, validFrom, validUntil }
}

function checkValidity(cert: ParsedCertificate, opts: PathOptions): Failure | undefined {
  if (opts.now + opts.skewMs < cert.notBefore) {
    return fail(
      'ERR_CLIENT_CERT_NOT_YET_VALID',
      `"${cert.subject.dn}" is not valid before ${new Date(cert.notBefore).toISOString()}`,
    )
  }
  if (opts.now - opts.skewMs > cert.notAfter) {
    return fail(
      'ERR_CLIENT_CERT_EXPIRED',
      `"${cert.subject.dn}" expired at ${new Date(cert.notAfter).toISOString()}`,
    )
  }
  return undefined
}

/** basicConstraints, pathLen, keyUsage and EKU rules for the issuer at `path[i]` (i ≥ 1). */
function checkIssuer(path: readonly ParsedCertificate[], i: number, opts: PathOptions): Failure | undefined {
  const cert = path[i]!
  if (cert.basicConstraints?.ca !== true) {
    return fail('ERR_CLIENT_CERT_BASIC_CONSTRAINTS', `issuer "${cert.subject.dn}" is not a CA`)
  }
  if (cert.keyUsage !== undefined && (cert.keyUsage & KU.keyCertSign) === 0) {
    return fail('ERR_CLIENT_CERT_KEY_USAGE', `issuer "${cert.subject.dn}" lacks keyCertSign`)
  }
  const pathLen = cert.basicConstraints.pathLen
  if (pathLen !== undefined) {
    let below = 0
    for (let j = 1; j < i; j++) if (!path[j]!.selfIssued) below++
    if (below > pathLen) {
      return fail(
        'ERR_CLIENT_CERT_BASIC_CONSTRAINTS',
        `"${cert.subject.dn}" allows ${pathLen} intermediates below it, path has ${below}`,
      )
    }
  }
  const eku = cert.extKeyUsage
  if (
    opts.requiredEku !== null &&
    eku !== undefined &&
    !eku.includes(opts.requiredEku) &&
    !eku.includes(OID.ekuAny)
  ) {
    return fail(
      'ERR_CLIENT_CERT_EKU',
      `issuer "${cert.subject.dn}" restricts extended key usage and excludes ${opts.requiredEku}`,
    )
  }
  return undefined
}

function fail(code: ClientCertErrorCode, reason: string): Failure {
  return { ok: false, code, reason }
}
