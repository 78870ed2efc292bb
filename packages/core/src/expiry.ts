import { X509Certificate } from 'node:crypto'
import { type ClientCertAuthenticator, DESCRIBE_TRUST } from './api.js'
import { intIn, onlyKeys, optionalFn, plainObject } from './config-check.js'
import type { TrustDescription } from './diagnostics.js'
import { ClientCertConfigError } from './errors.js'

const DAY_MS = 86_400_000

/**
 * The trust settings of an authenticator from `createClientCertAuthenticator`: anchors,
 * intermediates and CRLs with their expiry dates, and how many pins. No key material.
 */
export function describeTrust(authenticator: ClientCertAuthenticator): TrustDescription {
  const describe = (authenticator as Partial<ClientCertAuthenticator> | null)?.[DESCRIBE_TRUST]
  if (typeof describe !== 'function')
    throw new ClientCertConfigError(
      'authenticator',
      'is not an authenticator from createClientCertAuthenticator()',
    )
  return describe.call(authenticator)
}

/** Something that expires within the horizon (or already has). */
export interface ExpiringItem {
  readonly kind:
    | 'anchor'
    | 'intermediate'
    | 'crl'
    | 'server-certificate'
    | 'server-ca'
    /** The front-proxy CA (`proxyCertificate`). */
    | 'proxy-anchor'
    | 'proxy-intermediate'
  /** Subject DN (issuer DN for a CRL). */
  readonly name: string
  /** Certificate SHA-256 hex; the distribution point URL for a fetched CRL; absent otherwise. */
  readonly id?: string
  /** ISO 8601: the certificate's notAfter, or the CRL's nextUpdate. */
  readonly expiresAt: string
  /** Whole days left, rounded down; negative once expired. */
  readonly daysLeft: number
}

/** The TLS options a server was built with (`createMtlsServerOptions()` output, or your own). */
export interface ServerCertificates {
  readonly cert?: unknown
  readonly ca?: unknown
}

export interface ExpiryMonitorOptions {
  /** Authenticators whose anchors, intermediates and CRLs are watched. */
  readonly authenticator?: ClientCertAuthenticator | readonly ClientCertAuthenticator[]
  /** TLS server options whose own certificate (`cert`) and client CAs (`ca`) are watched. */
  readonly serverOptions?: ServerCertificates | readonly ServerCertificates[]
  /** Report what expires within this many days (1–3650). */
  readonly horizonDays: number
  /** Called with everything expiring within the horizon, when there is something. A throw is ignored. */
  readonly onExpiringSoon: (items: readonly ExpiringItem[]) => void
  /** How often to look again, in ms (60,000–86,400,000). Default 6 hours. */
  readonly intervalMs?: number
  /** The clock. Default `Date.now`. */
  readonly now?: () => number
}

export interface ExpiryMonitor {
  /** Looks now; returns (and reports) what expires within the horizon. */
  check(): readonly ExpiringItem[]
  /** Stops the timer. */
  close(): void
}

/**
 * Warns before trust material expires: looks once now, then every `intervalMs` (an unref'd
 * timer, so it never keeps the process alive). Reads `describeTrust()` each time, so trust
 * updated with `updateTrust()` is what is watched.
 */
export function createExpiryMonitor(options: ExpiryMonitorOptions): ExpiryMonitor {
  const o = plainObject(options, 'options')
  onlyKeys(o, ['authenticator', 'serverOptions', 'horizonDays', 'onExpiringSoon', 'intervalMs', 'now'], '')
  const authenticators = listOf<ClientCertAuthenticator>(o.authenticator)
  authenticators.forEach((a, i) => {
    if (typeof (a as Partial<ClientCertAuthenticator> | null)?.[DESCRIBE_TRUST] !== 'function')
      throw new ClientCertConfigError(
        `authenticator[${i}]`,
        'is not an authenticator from createClientCertAuthenticator()',
      )
  })
  const servers = listOf<ServerCertificates>(o.serverOptions).map((s, i) =>
    serverItems(s, `serverOptions[${i}]`),
  )
  if (authenticators.length === 0 && servers.length === 0)
    throw new ClientCertConfigError('authenticator', 'set authenticator or serverOptions (or both)')
  if (o.horizonDays === undefined) throw new ClientCertConfigError('horizonDays', 'is required (1–3650)')
  const horizonMs = intIn(o.horizonDays, 'horizonDays', 1, 3650, 0) * DAY_MS
  if (typeof o.onExpiringSoon !== 'function')
    throw new ClientCertConfigError('onExpiringSoon', 'must be a function')
  const report = o.onExpiringSoon as ExpiryMonitorOptions['onExpiringSoon']
  const intervalMs = intIn(o.intervalMs, 'intervalMs', 60_000, DAY_MS, 6 * 3_600_000)
  const clock = optionalFn(o.now, 'now') as (() => number) | undefined
  const now = (): number => {
    const t = clock === undefined ? Date.now() : clock()
    // A broken clock must not silence the warnings.
    if (typeof t !== 'number' || !Number.isFinite(t))
      throw new TypeError('options.now() returned no valid time')
    return t
  }

  const check = (): readonly ExpiringItem[] => {
    const items = expiringWithin(
      authenticators.map((a) => describeTrust(a)),
      servers.flat(),
      now(),
      horizonMs,
    )
    if (items.length > 0) {
      try {
        report(items)
      } catch {
        // A broken warning hook must not take the timer (or the process) down with it.
      }
    }
    return items
  }
  check()
  const timer = setInterval(check, intervalMs)
  timer.unref()
  return { check, close: () => clearInterval(timer) }
}

/** What of `trusts` and `servers` expires within `horizonMs` of `t`, soonest first. */
export function expiringWithin(
  trusts: readonly TrustDescription[],
  servers: readonly ServerItem[],
  t: number,
  horizonMs: number,
): ExpiringItem[] {
  const items: ExpiringItem[] = []
  const consider = (kind: ExpiringItem['kind'], name: string, expires: number, id?: string): void => {
    if (expires - t > horizonMs) return
    items.push({
      kind,
      name,
      ...(id === undefined ? {} : { id }),
      expiresAt: new Date(expires).toISOString(),
      daysLeft: Math.floor((expires - t) / DAY_MS),
    })
  }
  for (const trust of trusts) {
    for (const c of trust.anchors) consider('anchor', c.subject, Date.parse(c.notAfter), c.sha256)
    for (const c of trust.intermediates) consider('intermediate', c.subject, Date.parse(c.notAfter), c.sha256)
    for (const c of trust.crls)
      if (c.nextUpdate !== undefined) consider('crl', c.issuer, Date.parse(c.nextUpdate), c.url)
    for (const c of trust.proxyAnchors) consider('proxy-anchor', c.subject, Date.parse(c.notAfter), c.sha256)
    for (const c of trust.proxyIntermediates)
      consider('proxy-intermediate', c.subject, Date.parse(c.notAfter), c.sha256)
  }
  for (const s of servers) consider(s.kind, s.name, s.expires, s.id)
  items.sort((x, y) => x.expiresAt.localeCompare(y.expiresAt))
  return items
}

/** The expiry window of `horizonDays`, checked as `createExpiryMonitor` checks it. */
export function horizonOf(v: unknown, option: string): number {
  if (v === undefined) throw new ClientCertConfigError(option, 'is required (1–3650)')
  return intIn(v, option, 1, 3650, 0) * DAY_MS
}

function listOf<T>(v: unknown): T[] {
  if (v === undefined) return []
  return Array.isArray(v) ? [...(v as T[])] : [v as T]
}

export interface ServerItem {
  readonly kind: 'server-certificate' | 'server-ca'
  readonly name: string
  readonly id: string
  readonly expires: number
}

/** The certificates of TLS options, parsed once (they cannot change under the options object). */
export function serverItems(s: ServerCertificates, at: string): ServerItem[] {
  if (typeof s !== 'object' || s === null) throw new ClientCertConfigError(at, 'expected TLS server options')
  const out: ServerItem[] = []
  for (const [field, kind] of [
    ['cert', 'server-certificate'],
    ['ca', 'server-ca'],
  ] as const) {
    for (const pem of pemBlocks(s[field], `${at}.${field}`)) {
      let x: X509Certificate
      try {
        x = new X509Certificate(pem)
      } catch {
        throw new ClientCertConfigError(`${at}.${field}`, 'holds a certificate that does not parse')
      }
      out.push({
        kind,
        name: x.subject.split('\n').join(', '),
        id: x.fingerprint256.replaceAll(':', '').toLowerCase(),
        expires: Date.parse(x.validTo),
      })
    }
  }
  if (out.length === 0) throw new ClientCertConfigError(`${at}.cert`, 'holds no certificate')
  return out
}

function pemBlocks(v: unknown, at: string): string[] {
  if (v === undefined) return []
  const list = Array.isArray(v) ? v : [v]
  return list.flatMap((item) => {
    if (typeof item !== 'string' && !Buffer.isBuffer(item))
      throw new ClientCertConfigError(at, 'must be PEM text, a Buffer or an array of them')
    const text = String(item)
    const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)
    if (blocks === null) throw new ClientCertConfigError(at, 'holds no PEM certificate')
    return blocks
  })
}
