/**
 * Revocation checking (THREATS.md class J): CRLs given in configuration, CRLs fetched from a
 * certificate's distribution points, and OCSP. Fail closed by default: anything short of a
 * current, authentic "not revoked" answer for every non-anchor certificate of the path is a
 * rejection unless `softFail` is set, and `softFail` never accepts a certificate found revoked.
 *
 * Call `check` only with a path whose signatures have already been verified to a trust anchor:
 * the URLs fetched come from those certificates.
 */

import { readFileSync, statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { LruCache } from '../cache.js'
import type { ParsedCertificate } from '../cert/parse.js'
import { bool, intIn, isPlainObject, onlyKeys } from '../config-check.js'
import { type CrlDescription, traceRevocationFetch } from '../diagnostics.js'
import { ClientCertConfigError } from '../errors.js'
import { crlFreshnessProblem, crlTrustProblem, decodeCrls, type ParsedCrl } from './crl.js'
import { crlDistributionPointUrls, ocspUrls } from './der-util.js'
import { assertHttpUrl, boundedFetch, type RevocationFetch } from './fetch.js'
import { buildOcspRequest, certIdFor, newNonce, verifyOcspResponse } from './ocsp.js'

export { crlDistributionPointUrls, ocspUrls } from './der-util.js'
export type { RevocationFetch, RevocationFetchInit, RevocationFetchResponse } from './fetch.js'

/** A CRL given in configuration: PEM text, DER (or PEM) bytes, or a file re-read on an interval. */
export type CrlSource = string | Uint8Array | { readonly file: string }

/** The `revocation` option. At least one of `crls`, `crlDistributionPoints`, `ocsp` must be enabled. */
export interface RevocationOptions {
  /** CRLs from configuration. With this set, every issuer in a path must have a current CRL here (or fetched from a distribution point when `crlDistributionPoints` is on). */
  crls?: { sources: Array<CrlSource>; reloadIntervalMs?: number }
  /** Fetch CRLs from the certificate's CRL distribution points (`http:` only) when no configured CRL of its issuer is usable. */
  crlDistributionPoints?: boolean | { timeoutMs?: number; maxBytes?: number; cacheMs?: number }
  /** Ask an OCSP responder (from the certificate's AIA, or `responderUrl`) about every non-anchor certificate. */
  ocsp?:
    | boolean
    | {
        responderUrl?: string
        timeoutMs?: number
        nonce?: boolean
        maxBytes?: number
        /**
         * Oldest `thisUpdate` accepted on an answer that carries no `nextUpdate` and echoes no
         * nonce (`nonce: false`, or a responder that omits it there), in ms. Default 1 hour.
         */
        maxResponseAgeMs?: number
      }
  /** Accept when revocation status cannot be determined (never when a certificate is found revoked). Default false. */
  softFail?: boolean
  /** Transport for CRL and OCSP fetches; the default is `node:http` with the caps above. */
  fetch?: RevocationFetch
}

export interface ResolvedCrlOptions {
  readonly sources: readonly CrlSource[]
  readonly reloadIntervalMs: number
}

/** `revocation` after validation and defaults. */
export interface ResolvedRevocation {
  readonly crls?: ResolvedCrlOptions | undefined
  readonly crlDistributionPoints?:
    | { readonly timeoutMs: number; readonly maxBytes: number; readonly cacheMs: number }
    | undefined
  readonly ocsp?:
    | {
        readonly responderUrl?: string | undefined
        readonly timeoutMs: number
        readonly nonce: boolean
        readonly maxBytes: number
        readonly maxResponseAgeMs: number
      }
    | undefined
  readonly softFail: boolean
  readonly fetch?: RevocationFetch | undefined
}

/** Outcome of a revocation check. `warnings` lists what `softFail` let pass. */
export type RevocationResult =
  | { readonly ok: true; readonly warnings?: readonly string[] }
  | { readonly ok: false; readonly revoked: boolean; readonly reason: string }

export interface RevocationChecker {
  /** path: leaf first, then issuers, anchor last (as validate/path.ts returns it). Checks every non-anchor certificate against its issuer. */
  check(path: readonly ParsedCertificate[]): Promise<RevocationResult>
  /** Replaces CRL material (for trust rotation); clears caches. Throws `ClientCertConfigError` when `crls` is invalid. */
  update(crls: RevocationOptions['crls']): void
  /** Re-reads file sources now (the interval does the same). */
  reload(): Promise<void>
  /** Stops reload timers. */
  close(): void
  /** The CRLs held now (configured, and fetched ones while cached): issuers and update times. */
  describe(): CrlDescription[]
}

export const REVOCATION_DEFAULTS = {
  reloadIntervalMs: 300_000,
  timeoutMs: 5_000,
  crlMaxBytes: 10 * 1024 * 1024,
  ocspMaxBytes: 64 * 1024,
  cdpCacheMs: 3_600_000,
  /** Largest CRL file read from disk. */
  fileMaxBytes: 64 * 1024 * 1024,
  /** Cached OCSP answers and fetched CRLs kept at most. */
  ocspCacheEntries: 10_000,
  cdpCacheEntries: 256,
  /** An OCSP answer is cached until its nextUpdate, but never longer than this. */
  ocspMaxCacheMs: 86_400_000,
  /** An OCSP answer with neither nonce nor nextUpdate is refused once its thisUpdate is older. */
  ocspMaxResponseAgeMs: 3_600_000,
} as const

const MAX_TIMEOUT_MS = 60_000
const MAX_SOURCES = 1_000

function resolveCrls(raw: unknown, path: string): ResolvedCrlOptions | undefined {
  if (raw === undefined) return undefined
  if (!isPlainObject(raw)) throw new ClientCertConfigError(path, 'an object { sources, reloadIntervalMs? }')
  onlyKeys(raw, ['sources', 'reloadIntervalMs'], `${path}.`)
  const sources = raw.sources
  if (!Array.isArray(sources) || sources.length === 0 || sources.length > MAX_SOURCES)
    throw new ClientCertConfigError(`${path}.sources`, `a non-empty array (at most ${MAX_SOURCES}) of CRLs`)
  const out: CrlSource[] = sources.map((s: unknown, i) => {
    const at = `${path}.sources[${i}]`
    if (typeof s === 'string') {
      if (!s.includes('-----BEGIN X509 CRL-----'))
        throw new ClientCertConfigError(at, 'PEM text with an X509 CRL block (use { file } for a path)')
      return s
    }
    if (s instanceof Uint8Array) {
      if (s.length === 0) throw new ClientCertConfigError(at, 'non-empty CRL bytes')
      return Uint8Array.from(s)
    }
    if (isPlainObject(s)) {
      onlyKeys(s, ['file'], `${at}.`)
      if (typeof s.file !== 'string' || s.file === '')
        throw new ClientCertConfigError(`${at}.file`, 'a file path')
      return { file: s.file }
    }
    throw new ClientCertConfigError(at, 'PEM text, DER bytes or { file }')
  })
  return {
    sources: out,
    reloadIntervalMs: intIn(
      raw.reloadIntervalMs,
      `${path}.reloadIntervalMs`,
      100,
      86_400_000,
      REVOCATION_DEFAULTS.reloadIntervalMs,
    ),
  }
}

/** Validates the `revocation` option; throws `ClientCertConfigError` naming the option path. */
export function resolveRevocationOptions(raw: unknown, option = 'revocation'): ResolvedRevocation {
  if (!isPlainObject(raw)) throw new ClientCertConfigError(option, 'an object')
  onlyKeys(raw, ['crls', 'crlDistributionPoints', 'ocsp', 'softFail', 'fetch'], `${option}.`)
  const crls = resolveCrls(raw.crls, `${option}.crls`)

  let crlDistributionPoints: ResolvedRevocation['crlDistributionPoints']
  const cdp = raw.crlDistributionPoints
  if (cdp === true || isPlainObject(cdp)) {
    const o = cdp === true ? {} : cdp
    const p = `${option}.crlDistributionPoints`
    onlyKeys(o, ['timeoutMs', 'maxBytes', 'cacheMs'], `${p}.`)
    crlDistributionPoints = {
      timeoutMs: intIn(o.timeoutMs, `${p}.timeoutMs`, 1, MAX_TIMEOUT_MS, REVOCATION_DEFAULTS.timeoutMs),
      maxBytes: intIn(o.maxBytes, `${p}.maxBytes`, 64, 256 * 1024 * 1024, REVOCATION_DEFAULTS.crlMaxBytes),
      cacheMs: intIn(o.cacheMs, `${p}.cacheMs`, 0, 86_400_000, REVOCATION_DEFAULTS.cdpCacheMs),
    }
  } else if (cdp !== undefined && cdp !== false) {
    throw new ClientCertConfigError(
      `${option}.crlDistributionPoints`,
      'a boolean or { timeoutMs, maxBytes, cacheMs }',
    )
  }

  let ocsp: ResolvedRevocation['ocsp']
  const oc = raw.ocsp
  if (oc === true || isPlainObject(oc)) {
    const o = oc === true ? {} : oc
    const p = `${option}.ocsp`
    onlyKeys(o, ['responderUrl', 'timeoutMs', 'nonce', 'maxBytes', 'maxResponseAgeMs'], `${p}.`)
    let responderUrl: string | undefined
    if (o.responderUrl !== undefined) {
      if (typeof o.responderUrl !== 'string')
        throw new ClientCertConfigError(`${p}.responderUrl`, 'an http: URL')
      try {
        assertHttpUrl(o.responderUrl)
      } catch (cause) {
        throw new ClientCertConfigError(`${p}.responderUrl`, 'an absolute http: URL without credentials', {
          cause,
        })
      }
      responderUrl = o.responderUrl
    }
    ocsp = {
      responderUrl,
      timeoutMs: intIn(o.timeoutMs, `${p}.timeoutMs`, 1, MAX_TIMEOUT_MS, REVOCATION_DEFAULTS.timeoutMs),
      nonce: bool(o.nonce, `${p}.nonce`, true),
      maxBytes: intIn(o.maxBytes, `${p}.maxBytes`, 64, 16 * 1024 * 1024, REVOCATION_DEFAULTS.ocspMaxBytes),
      maxResponseAgeMs: intIn(
        o.maxResponseAgeMs,
        `${p}.maxResponseAgeMs`,
        1_000,
        7 * 86_400_000,
        REVOCATION_DEFAULTS.ocspMaxResponseAgeMs,
      ),
    }
  } else if (oc !== undefined && oc !== false) {
    throw new ClientCertConfigError(
      `${option}.ocsp`,
      'a boolean or { responderUrl, timeoutMs, nonce, maxBytes, maxResponseAgeMs }',
    )
  }

  const softFail = bool(raw.softFail, `${option}.softFail`, false)
  if (raw.fetch !== undefined && typeof raw.fetch !== 'function')
    throw new ClientCertConfigError(`${option}.fetch`, 'a function (url, init) => Promise<{ status, body }>')
  if (crls === undefined && crlDistributionPoints === undefined && ocsp === undefined)
    throw new ClientCertConfigError(option, 'enable at least one of crls, crlDistributionPoints, ocsp')
  return {
    crls,
    crlDistributionPoints,
    ocsp,
    softFail,
    fetch: raw.fetch as RevocationFetch | undefined,
  }
}

interface LoadedSource {
  crls: ParsedCrl[]
  error?: string | undefined
}

type Verdict = { kind: 'good' } | { kind: 'revoked'; reason: string } | { kind: 'fail'; reason: string }

function describe(cert: ParsedCertificate): string {
  return `serial ${cert.serialNumber} (${cert.subject.dn || 'empty subject'})`
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function sourceLabel(s: CrlSource, i: number): string {
  return typeof s === 'object' && !(s instanceof Uint8Array) ? s.file : `source #${i}`
}

function loadSync(s: CrlSource): Uint8Array | string {
  if (typeof s === 'string' || s instanceof Uint8Array) return s
  const size = statSync(s.file).size
  if (size > REVOCATION_DEFAULTS.fileMaxBytes)
    throw new Error(`file larger than ${REVOCATION_DEFAULTS.fileMaxBytes} bytes`)
  return new Uint8Array(readFileSync(s.file))
}

/** Creates the checker; file sources are read now and then every `reloadIntervalMs` (unref'd timer). */
export function createRevocationChecker(resolved: ResolvedRevocation, now: () => number): RevocationChecker {
  let crlOptions = resolved.crls
  let loaded: LoadedSource[] = []
  let byIssuer = new Map<string, ParsedCrl[]>()
  let timer: NodeJS.Timeout | undefined
  let generation = 0
  const ocspCache = new LruCache<string, boolean>(REVOCATION_DEFAULTS.ocspCacheEntries)
  const cdpCache = new LruCache<string, ParsedCrl[]>(REVOCATION_DEFAULTS.cdpCacheEntries)
  const inflight = new Map<string, Promise<unknown>>()

  const index = (): void => {
    const map = new Map<string, ParsedCrl[]>()
    for (const src of loaded) {
      for (const crl of src.crls) {
        const list = map.get(crl.issuer.matchKey) ?? []
        list.push(crl)
        map.set(crl.issuer.matchKey, list)
      }
    }
    byIssuer = map
  }

  const parseInto = (
    data: Uint8Array | string,
    previous: LoadedSource | undefined,
    label: string,
  ): LoadedSource => {
    try {
      return { crls: decodeCrls(data) }
    } catch (err) {
      // A file that fails to re-read keeps its last good CRLs (which still go stale on nextUpdate).
      return { crls: previous?.crls ?? [], error: `${label}: ${errorText(err)}` }
    }
  }

  const initialLoad = (): void => {
    loaded = (crlOptions?.sources ?? []).map((s, i) => {
      const label = sourceLabel(s, i)
      try {
        return parseInto(loadSync(s), undefined, label)
      } catch (err) {
        return { crls: [], error: `${label}: ${errorText(err)}` }
      }
    })
    index()
  }

  const reload = async (): Promise<void> => {
    const opts = crlOptions
    if (opts === undefined) return
    const gen = generation
    const next = await Promise.all(
      opts.sources.map(async (s, i): Promise<LoadedSource> => {
        const previous = loaded[i]
        if (typeof s === 'string' || s instanceof Uint8Array)
          return previous ?? parseInto(s, undefined, `source #${i}`)
        try {
          const data = await readFile(s.file)
          if (data.length > REVOCATION_DEFAULTS.fileMaxBytes) throw new Error('file too large')
          return parseInto(new Uint8Array(data), previous, s.file)
        } catch (err) {
          return { crls: previous?.crls ?? [], error: `${s.file}: ${errorText(err)}` }
        }
      }),
    )
    if (gen !== generation) return // replaced by update() meanwhile
    loaded = next
    index()
  }

  const startTimer = (): void => {
    if (timer !== undefined) clearInterval(timer)
    timer = undefined
    const opts = crlOptions
    if (opts === undefined || !opts.sources.some((s) => typeof s === 'object' && !(s instanceof Uint8Array)))
      return
    timer = setInterval(() => {
      reload().catch(() => {})
    }, opts.reloadIntervalMs)
    timer.unref()
  }

  initialLoad()
  startTimer()

  const dedupe = <T>(key: string, run: () => Promise<T>): Promise<T> => {
    const existing = inflight.get(key)
    if (existing !== undefined) return existing as Promise<T>
    const p = run().finally(() => inflight.delete(key))
    inflight.set(key, p)
    return p
  }

  /** Verdict of a set of candidate CRLs for `cert`, or undefined when none is usable. */
  const fromCrls = (
    cert: ParsedCertificate,
    issuer: ParsedCertificate,
    crls: readonly ParsedCrl[],
    problems: string[],
  ): Verdict | undefined => {
    const t = now()
    let current = false
    for (const crl of crls) {
      const trust = crlTrustProblem(crl, issuer)
      if (trust !== undefined) {
        problems.push(trust)
        continue
      }
      // An authentic CRL that lists the serial is a revocation even when stale.
      if (crl.revoked.has(cert.serialNumber))
        return { kind: 'revoked', reason: `${describe(cert)} is revoked by the CRL of ${issuer.subject.dn}` }
      const fresh = crlFreshnessProblem(crl, t)
      if (fresh !== undefined) problems.push(fresh)
      else current = true
    }
    return current ? { kind: 'good' } : undefined
  }

  const fetchCdp = async (url: string, opts: NonNullable<ResolvedRevocation['crlDistributionPoints']>) => {
    const hit = cdpCache.get(url, now())
    if (hit !== undefined) return hit
    return dedupe(`crl ${url}`, async () => {
      const body = await traceRevocationFetch('crl', url, () =>
        boundedFetch(
          resolved.fetch,
          url,
          { method: 'GET', headers: { accept: 'application/pkix-crl' } },
          opts.timeoutMs,
          opts.maxBytes,
        ),
      )
      const crls = decodeCrls(body)
      const t = now()
      let expires = t + opts.cacheMs
      for (const c of crls) if (c.nextUpdate !== undefined) expires = Math.min(expires, c.nextUpdate)
      if (opts.cacheMs > 0) cdpCache.set(url, crls, expires)
      return crls
    })
  }

  const crlVerdict = async (cert: ParsedCertificate, issuer: ParsedCertificate): Promise<Verdict> => {
    const problems: string[] = []
    const configured = byIssuer.get(cert.issuer.matchKey) ?? []
    const v = fromCrls(cert, issuer, configured, problems)
    if (v !== undefined) return v
    const cdp = resolved.crlDistributionPoints
    if (cdp !== undefined) {
      let urls: string[] = []
      try {
        urls = crlDistributionPointUrls(cert.der)
      } catch (err) {
        problems.push(`unreadable CRL distribution points: ${errorText(err)}`)
      }
      for (const url of urls.slice(0, 4)) {
        try {
          const fetched = fromCrls(cert, issuer, await fetchCdp(url, cdp), problems)
          if (fetched !== undefined) return fetched
        } catch (err) {
          problems.push(`CRL fetch from ${url} failed: ${errorText(err)}`)
        }
      }
      if (urls.length === 0 && configured.length === 0) problems.push('no http CRL distribution point')
    }
    if (configured.length === 0 && crlOptions !== undefined) {
      const errors = loaded.flatMap((s) => (s.error === undefined ? [] : [s.error]))
      problems.unshift(
        `no CRL for issuer ${issuer.subject.dn}${errors.length > 0 ? ` (unloadable sources: ${errors.join('; ')})` : ''}`,
      )
    }
    return {
      kind: 'fail',
      reason: `no current CRL for ${describe(cert)}: ${problems.join('; ') || 'none found'}`,
    }
  }

  const ocspVerdict = async (cert: ParsedCertificate, issuer: ParsedCertificate): Promise<Verdict> => {
    const opts = resolved.ocsp!
    const key = `${issuer.spkiSha256}:${issuer.subject.matchKey}:${cert.serialNumber}`
    const hit = ocspCache.get(key, now())
    if (hit !== undefined) {
      return hit
        ? { kind: 'revoked', reason: `${describe(cert)} is revoked (OCSP, cached)` }
        : { kind: 'good' }
    }
    let url = opts.responderUrl
    if (url === undefined) {
      try {
        url = ocspUrls(cert.der)[0]
      } catch (err) {
        return { kind: 'fail', reason: `unreadable authority information access: ${errorText(err)}` }
      }
    }
    if (url === undefined) return { kind: 'fail', reason: `no OCSP responder for ${describe(cert)}` }
    const responder = url
    return dedupe(`ocsp ${key}`, async (): Promise<Verdict> => {
      const gen = generation
      const id = certIdFor(cert, issuer)
      const nonce = opts.nonce ? newNonce() : undefined
      let body: Uint8Array
      try {
        body = await traceRevocationFetch('ocsp', responder, () =>
          boundedFetch(
            resolved.fetch,
            responder,
            {
              method: 'POST',
              body: buildOcspRequest(id, nonce),
              headers: { 'content-type': 'application/ocsp-request', accept: 'application/ocsp-response' },
            },
            opts.timeoutMs,
            opts.maxBytes,
          ),
        )
      } catch (err) {
        return { kind: 'fail', reason: `OCSP request to ${responder} failed: ${errorText(err)}` }
      }
      const t = now()
      const answer = verifyOcspResponse(body, id, issuer, t, nonce, opts.maxResponseAgeMs)
      if (answer.status === 'error')
        return { kind: 'fail', reason: `OCSP for ${describe(cert)}: ${answer.reason}` }
      if (answer.status === 'unknown')
        return { kind: 'fail', reason: `OCSP status of ${describe(cert)} is unknown` }
      const revoked = answer.status === 'revoked'
      if (answer.nextUpdate !== undefined && gen === generation) {
        ocspCache.set(key, revoked, Math.min(answer.nextUpdate, t + REVOCATION_DEFAULTS.ocspMaxCacheMs))
      }
      return revoked ? { kind: 'revoked', reason: `${describe(cert)} is revoked (OCSP)` } : { kind: 'good' }
    })
  }

  const checkOne = async (cert: ParsedCertificate, issuer: ParsedCertificate): Promise<Verdict[]> => {
    const out: Verdict[] = []
    if (crlOptions !== undefined || resolved.crlDistributionPoints !== undefined) {
      const v = await crlVerdict(cert, issuer)
      out.push(v)
      if (v.kind === 'revoked') return out
    }
    if (resolved.ocsp !== undefined) out.push(await ocspVerdict(cert, issuer))
    return out
  }

  return {
    async check(path) {
      const pairs: Array<[ParsedCertificate, ParsedCertificate]> = []
      for (let i = 0; i + 1 < path.length; i++) pairs.push([path[i]!, path[i + 1]!])
      const verdicts = (await Promise.all(pairs.map(([c, iss]) => checkOne(c, iss)))).flat()
      const revoked = verdicts.find((v) => v.kind === 'revoked')
      if (revoked !== undefined) return { ok: false, revoked: true, reason: revoked.reason }
      const failures = verdicts.flatMap((v) => (v.kind === 'fail' ? [v.reason] : []))
      if (failures.length === 0) return { ok: true }
      if (resolved.softFail) return { ok: true, warnings: failures }
      return { ok: false, revoked: false, reason: failures.join('; ') }
    },
    update(crls) {
      crlOptions = resolveCrls(crls, 'revocation.crls')
      generation++
      ocspCache.clear()
      cdpCache.clear()
      inflight.clear()
      initialLoad()
      startTimer()
    },
    reload,
    close() {
      if (timer !== undefined) clearInterval(timer)
      timer = undefined
    },
    describe() {
      const iso = (t: number): string => new Date(t).toISOString()
      const one = (crl: ParsedCrl, origin: 'configured' | 'fetched', url?: string): CrlDescription => ({
        issuer: crl.issuer.dn,
        origin,
        ...(url === undefined ? {} : { url }),
        thisUpdate: iso(crl.thisUpdate),
        ...(crl.nextUpdate === undefined ? {} : { nextUpdate: iso(crl.nextUpdate) }),
      })
      const out = loaded.flatMap((src) => src.crls.map((c) => one(c, 'configured')))
      for (const [url, crls] of cdpCache.live(now())) for (const c of crls) out.push(one(c, 'fetched', url))
      return out
    },
  }
}
