import { DerError } from '../asn1/der.js'
import { type ParsedCertificate, parseCertificate } from '../cert/parse.js'
import type { TrustEpoch } from '../epoch.js'
import { type Rejection, rejection } from '../errors.js'
import { buildPrincipal, facts, IdentityError, type MappedIdentity, mapIdentity } from '../identity/map.js'
import type { ClientPrincipal, PrincipalSource } from '../identity/principal.js'
import type { MaybePromise } from '../maybe-promise.js'
import { matchesPin } from '../trust/pins.js'
import { isBundledCertificate } from '../trust/public-roots.js'
import { storeFor } from '../trust/spiffe.js'
import { checkLeaf, checkTime } from './leaf.js'
import { buildPath } from './path.js'
import { checkKeyProfile } from './profile.js'
import { verifySignature } from './signature.js'
import { checkWindow } from './window.js'

/** A certificate that passed validation and mapping: what caches and connections remember. */
export interface Verified {
  /** Leaf first, anchor last, when revocation is configured; empty otherwise. */
  readonly path: readonly ParsedCertificate[]
  readonly principal: ClientPrincipal
  /** The intersection of the path's validity windows. */
  readonly validFrom: number
  readonly validUntil: number
}

/** What reading and validating a certificate ends in. */
export type Outcome =
  | { readonly ok: true; readonly verified: Verified }
  | (Rejection & {
      readonly ok: false
      /** No certificate on a healthy connection: the only failure optional mode lets through. */
      readonly absent?: boolean
    })

export type Failed = Extract<Outcome, { ok: false }>

export function failed(code: Rejection['code'], reason: string): Failed {
  return { ok: false, code, reason }
}

/**
 * Failures that depend only on the certificate and the configuration, so a connection or the
 * forwarded failure cache may remember them. Time-dependent or transient ones (not yet valid, a
 * failing identity function, internal errors) are judged again on the next request.
 */
const STABLE: ReadonlySet<Rejection['code']> = new Set([
  'ERR_CLIENT_CERT_MISSING',
  'ERR_CLIENT_CERT_UNTRUSTED',
  'ERR_CLIENT_CERT_EXPIRED',
  'ERR_CLIENT_CERT_EKU',
  'ERR_CLIENT_CERT_BASIC_CONSTRAINTS',
  'ERR_CLIENT_CERT_KEY_USAGE',
  'ERR_CLIENT_CERT_NAME_CONSTRAINTS',
  'ERR_CLIENT_CERT_CRITICAL_EXTENSION',
  'ERR_CLIENT_CERT_MALFORMED',
])

/** True for successes and for failures that cannot change while trust stays the same. */
export function isStable(o: Outcome): boolean {
  return o.ok || STABLE.has(o.code)
}

export const MAX_SIGNATURE_CHECKS = 64
/**
 * Verification work one request may spend on client-sent chain certificates (their keys or
 * their signatures), in P-256 verifications (validate/profile.ts verifyCost): a legitimate
 * chain of four P-256 intermediates costs 5, one P-384 intermediate under a P-384 root 16; a
 * hostile set stops here, at about the cost of three ordinary cold requests (bench/hostile.mjs).
 * Deeper P-384 chains, and P-521 ones, need their intermediates in trust.intermediates, which
 * cost this budget nothing.
 */
export const MAX_HINT_VERIFY_COST = 16

/** Parses a certificate the client (or its proxy) sent; bad DER is MALFORMED. */
export function parseSent(der: Uint8Array, what: string): ParsedCertificate | Failed {
  try {
    return parseCertificate(der)
  } catch (err) {
    if (err instanceof DerError)
      return failed('ERR_CLIENT_CERT_MALFORMED', `${what} is not valid DER: ${err.message}`)
    throw err
  }
}

export function isParsed(v: ParsedCertificate | Failed): v is ParsedCertificate {
  return !('ok' in v)
}

/**
 * Validate and map: leaf rules, trust (a path to the epoch's anchors, or a pin), identity.
 * The result is cached in the epoch under `cacheKey`. `tlsVerified`: the TLS stack, not the
 * app, verified the path (its anchor is then asked of the socket when a policy needs it).
 */
export function validateAndMap(
  epoch: TrustEpoch,
  leaf: ParsedCertificate,
  hints: readonly ParsedCertificate[],
  source: PrincipalSource,
  cacheKey: string,
  now: number,
  tlsVerified = false,
): MaybePromise<Outcome> {
  const o = epoch.options
  const leafFailure = checkLeaf(leaf, o.eku)
  if (leafFailure) return failed(leafFailure.code, leafFailure.reason)
  const trusted = validatePath(epoch, leaf, hints, now)
  if (!trusted.ok) return trusted
  const base = facts(leaf, trusted.chain, source)
  const identityFailed = (err: unknown): Outcome =>
    failed(
      'ERR_CLIENT_CERT_IDENTITY',
      err instanceof IdentityError ? err.message : `the identity function threw: ${describe(err)}`,
    )
  let mapped: MappedIdentity | Promise<MappedIdentity>
  try {
    mapped = mapIdentity(o.identity, leaf, base)
  } catch (err) {
    return identityFailed(err)
  }
  const publicRoot = !tlsVerified && isBundledCertificate(trusted.chain.at(-1) ?? leaf)
  const done = (m: MappedIdentity): Outcome => {
    const principal = buildPrincipal(base, m)
    if (tlsVerified) epoch.tlsVerified.add(principal)
    else epoch.publicRoot.set(principal, publicRoot)
    const verified: Verified = {
      // Kept only for revocation checks, so cached entries do not hold parsed certificates otherwise.
      path: epoch.revocation ? [leaf, ...trusted.chain] : [],
      principal,
      validFrom: trusted.validFrom,
      validUntil: trusted.validUntil,
    }
    if (epoch.validated !== undefined && o.cache !== false)
      epoch.validated.set(cacheKey, verified, Math.min(trusted.validUntil + o.skewMs, now + o.cache.ttlMs))
    return { ok: true, verified }
  }
  return mapped instanceof Promise ? mapped.then(done, identityFailed) : done(mapped)
}

/** The remembered path's validity at `now` (a cached or memoised outcome is re-checked per request). */
export function checkVerifiedWindow(v: Verified, now: number, skewMs: number): Rejection | undefined {
  return checkWindow(v.validFrom, v.validUntil, now, skewMs, 'a certificate in the path')
}

interface Trusted {
  readonly ok: true
  readonly chain: readonly ParsedCertificate[]
  readonly validFrom: number
  readonly validUntil: number
}

/** Path validation when the app holds its own trust; the leaf's own dates otherwise. */
function validatePath(
  epoch: TrustEpoch,
  leaf: ParsedCertificate,
  hints: readonly ParsedCertificate[],
  now: number,
): Trusted | Failed {
  const o = epoch.options
  if (!o.appTrust || pinned(epoch, leaf)) {
    const time = checkTime(leaf, now, o.skewMs)
    if (time) return failed(time.code, time.reason)
    return { ok: true, chain: [], validFrom: leaf.notBefore, validUntil: leaf.notAfter }
  }
  if (o.anchors.length === 0)
    return failed('ERR_CLIENT_CERT_UNTRUSTED', 'the client certificate matches no pin')
  // With per-trust-domain bundles, the anchors are chosen by the leaf's SPIFFE trust domain.
  const result = buildPath(leaf, storeFor(leaf, o.spiffe, epoch.store), hints, {
    now,
    skewMs: o.skewMs,
    maxDepth: o.maxChainDepth,
    maxSignatureChecks: MAX_SIGNATURE_CHECKS,
    maxHintVerifyCost: MAX_HINT_VERIFY_COST,
    requiredEku: o.eku.required,
  })
  if (!result.ok) return failed(result.code, result.reason)
  return { ok: true, chain: result.path.slice(1), validFrom: result.validFrom, validUntil: result.validUntil }
}

/**
 * A pinned certificate. An SPKI pin vouches only for what the pinned key signed: the key is
 * public, so anyone can put it in a certificate of their own with any names (issuer ≠
 * subject included); only a certificate self-signed by that key carries names its holder chose.
 */
function pinned(epoch: TrustEpoch, leaf: ParsedCertificate): boolean {
  for (const pin of epoch.options.pins) {
    if (!matchesPin(pin, leaf)) continue
    return pin.kind === 'cert' || (checkKeyProfile(leaf) === undefined && verifySignature(leaf, leaf))
  }
  return false
}

export function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err)
}

export { rejection }
