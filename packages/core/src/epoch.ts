import type { TrustUpdate } from './api.js'
import { LruCache } from './cache.js'
import type { ParsedCertificate } from './cert/parse.js'
import type { TrustCertificateDescription, TrustDescription } from './diagnostics.js'
import { ClientCertConfigError, type Rejection } from './errors.js'
import type { ClientPrincipal } from './identity/principal.js'
import { type ClientCertOptions, type ResolvedOptions, resolveOptions } from './options.js'
import { createRevocationChecker, type RevocationChecker } from './revocation/index.js'
import { indexBySubject, type TrustStore } from './validate/path.js'
import type { Verified } from './validate/verify.js'

/**
 * A trust epoch: everything one set of trust settings needs, built whole from the options and
 * never changed afterwards. `updateTrust` builds a new epoch and swaps one reference, so a
 * request is judged under exactly one epoch, and every cache of the old one goes with it.
 *
 * Caches of an epoch (key → value; lifetime; invalidated by):
 * - `validated`: certificate SHA-256 (TLS) or forwarded-header hash (forwarded) → the validated
 *   path and principal; until the path's notAfter (+ skew) or `cache.ttlMs`, at most
 *   `cache.max` entries (LRU); a new epoch.
 * - `failedForwarded`: forwarded-header hash → a stable rejection; 60 s, at most 1,024
 *   entries (LRU); a new epoch. Kept even with `cache: false`: it only refuses sooner.
 * - `publicRoot`: principal → whether its path ends in a bundled public root; the principal's
 *   lifetime (a WeakMap); a new epoch.
 * - `tlsVerified`: principals whose path the TLS stack verified; as above.
 * - the revocation checker's own CRL/OCSP caches (revocation/index.ts); a new epoch.
 */
export interface TrustEpoch {
  /** The options as the user wrote them (updateTrust merges into them). */
  readonly raw: ClientCertOptions
  readonly options: ResolvedOptions
  readonly store: TrustStore
  readonly validated: LruCache<string, Verified> | undefined
  readonly failedForwarded: LruCache<string, Rejection>
  readonly revocation: RevocationChecker | undefined
  readonly publicRoot: WeakMap<ClientPrincipal, boolean>
  readonly tlsVerified: WeakSet<ClientPrincipal>
}

/** The epoch's expiry facts: anchors, intermediates, pins and CRLs (no key material). */
export function describeEpoch(epoch: TrustEpoch): TrustDescription {
  const cert = (c: ParsedCertificate): TrustCertificateDescription => ({
    subject: c.subject.dn,
    sha256: c.fingerprint256,
    notBefore: new Date(c.notBefore).toISOString(),
    notAfter: new Date(c.notAfter).toISOString(),
  })
  const o = epoch.options
  const proxy = (o.forwarded ?? o.requestHeader)?.proxyCertificate?.rules
  return {
    anchors: o.anchors.map(cert),
    intermediates: o.intermediates.map(cert),
    pins: o.pins.length,
    crls: epoch.revocation?.describe() ?? [],
    proxyAnchors: proxy?.anchors.map(cert) ?? [],
    proxyIntermediates: proxy?.intermediates.map(cert) ?? [],
  }
}

/** A forwarded certificate that failed is remembered this long under its header hash. */
export const FAILED_FORWARDED_TTL_MS = 60_000
const FAILED_FORWARDED_MAX = 1024

/** Validates `raw` (throwing `ClientCertConfigError` on any mistake) and builds its epoch. */
export function createEpoch(raw: ClientCertOptions): TrustEpoch {
  const options = resolveOptions(raw)
  return {
    raw,
    options,
    store: { anchors: indexBySubject(options.anchors), intermediates: indexBySubject(options.intermediates) },
    validated: options.cache === false ? undefined : new LruCache(options.cache.max),
    failedForwarded: new LruCache(FAILED_FORWARDED_MAX),
    revocation: options.revocation ? createRevocationChecker(options.revocation, options.now) : undefined,
    publicRoot: new WeakMap(),
    tlsVerified: new WeakSet(),
  }
}

/**
 * The epoch after `updateTrust(update)`: the current options with the update's keys replaced,
 * validated as a whole. Omitted keys keep their value; a key present with `undefined` reads as
 * "keep" to some and "remove" to others, so it is refused. Each value is read once, so a getter
 * cannot pass the check and then change.
 */
export function nextEpoch(current: TrustEpoch, update: TrustUpdate): TrustEpoch {
  if (typeof update !== 'object' || update === null)
    throw new ClientCertConfigError(
      'updateTrust',
      'expects { trust?, allow?, revocation?, proxyCertificate? }',
    )
  const changes: Record<string, unknown> = {}
  let proxyCertificate: unknown
  for (const key of Object.keys(update)) {
    if (key !== 'trust' && key !== 'allow' && key !== 'revocation' && key !== 'proxyCertificate')
      throw new ClientCertConfigError(
        `updateTrust.${key}`,
        'only trust, allow, revocation and proxyCertificate can be updated',
      )
    const value: unknown = update[key]
    if (value === undefined)
      throw new ClientCertConfigError(
        `updateTrust.${key}`,
        'is undefined; leave the key out to keep its value',
      )
    if (key === 'proxyCertificate') proxyCertificate = value
    else changes[key] = value
  }
  if (proxyCertificate !== undefined) changes.source = withProxyCertificate(current, proxyCertificate)
  return createEpoch({ ...current.raw, ...changes } as ClientCertOptions)
}

/**
 * The source with its proxy CA replaced (rotated by `updateTrust` like the client anchors; the
 * new rules are validated whole, overlap with the client trust included, by `createEpoch`).
 */
function withProxyCertificate(current: TrustEpoch, proxyCertificate: unknown): unknown {
  const source = current.raw.source
  if (typeof source === 'object' && 'requestHeader' in source && current.options.requestHeader !== undefined)
    return { ...source, requestHeader: { ...source.requestHeader, proxyCertificate } }
  if (
    current.options.forwarded?.proxyCertificate === undefined ||
    typeof source !== 'object' ||
    !('forwarded' in source)
  )
    throw new ClientCertConfigError(
      'updateTrust.proxyCertificate',
      'needs source.requestHeader, or a forwarded source configured with source.forwarded.proxyCertificate',
    )
  return { ...source, forwarded: { ...source.forwarded, proxyCertificate } }
}
