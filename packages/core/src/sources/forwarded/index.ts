import { createHash } from 'node:crypto'
import { ClientCertConfigError, type ClientCertErrorCode } from '../../errors.js'
import { canonicalName, type HeaderSource, headerCounts, readSingle } from './headers.js'
import {
  type CustomForwardedFormat,
  type Decoded,
  type ForwardedFormat,
  isDecodeError,
  KNOWN_HEADERS,
  type Preset,
  resolvePreset,
  VENDOR_PREFIXES,
} from './presets.js'
import { createProxyMatcher, normalise, type ProxyMatcher } from './proxies.js'

/** Forwarded-certificate source: a header set by a TLS-terminating proxy on the allowlist. */
export interface ForwardedOptions {
  /** The proxy's format: a preset name or a custom `{ header, decoder }`. */
  readonly format: ForwardedFormat | CustomForwardedFormat
  /** Addresses and CIDRs of the proxies, matched on the TCP peer address (never X-Forwarded-For). */
  readonly trustedProxies: readonly string[]
  /** Rename the preset's headers (ingress-nginx uses `ssl-client-cert`, for example). */
  readonly headers?: {
    readonly cert?: string
    readonly chain?: string
    readonly verify?: string
    readonly verifyValue?: string
  }
  /** Require the preset's verify header (default true where the preset has one). */
  readonly requireVerify?: boolean
  /** Which XFCC element carries the client: `'last'` (default, the one the nearest proxy added), `'first'`, or an index. */
  readonly xfccElement?: 'first' | 'last' | number
  /** Trust peers on a Unix socket (no address). Default false. */
  readonly allowUnixSocket?: boolean
  /** Largest header value accepted, in bytes. Default 16384. */
  readonly maxHeaderBytes?: number
  /** Most chain certificates a proxy may forward besides the leaf. Default 4. */
  readonly maxChainLength?: number
}

export interface ResolvedForwarded {
  readonly preset: Preset
  readonly proxies: ProxyMatcher
  readonly requireVerify: boolean
  readonly maxHeaderBytes: number
  readonly limits: { readonly maxChain: number; readonly xfccElement: 'first' | 'last' | number }
  /** Exact header names configured (in addition to the known prefixes) that only a proxy may send. */
  readonly ownHeaders: ReadonlySet<string>
  /** Headers besides the certificate header that decoding reads (chain, hashes): part of the cache key. */
  readonly keyHeaders: readonly string[]
  /** Allowlist decision per connection. */
  readonly trustBySocket: WeakMap<object, boolean>
}

export type ForwardedRead =
  /** No forwarded-certificate header; the request may still use its socket. */
  | { readonly kind: 'none'; readonly trustedPeer: boolean }
  | { readonly kind: 'reject'; readonly code: ClientCertErrorCode; readonly reason: string }
  | {
      readonly kind: 'cert'
      /** SHA-256 of every header value the certificate comes from, and of the proxy: the validation cache key. */
      readonly cacheKey: string
      readonly proxy: string
      /** Decodes the headers; only needed on a cache miss (decoding is most of a warm request's cost). */
      decode():
        | { readonly ok: true; readonly decoded: Decoded }
        | { readonly ok: false; readonly reason: string }
    }

const KNOWN = [
  'format',
  'trustedProxies',
  'headers',
  'requireVerify',
  'xfccElement',
  'allowUnixSocket',
  'maxHeaderBytes',
  'maxChainLength',
]

export function resolveForwarded(v: unknown): ResolvedForwarded {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new ClientCertConfigError('source.forwarded', 'must be an object')
  const o = v as Record<string, unknown>
  for (const k of Object.keys(o)) {
    if (!KNOWN.includes(k))
      throw new ClientCertConfigError(
        `source.forwarded.${k}`,
        `unknown option; expected one of ${KNOWN.join(', ')}`,
      )
  }
  const headers = (o.headers ?? {}) as Record<string, unknown>
  if (typeof headers !== 'object' || headers === null)
    throw new ClientCertConfigError('source.forwarded.headers', 'must be an object')
  for (const k of Object.keys(headers)) {
    if (!['cert', 'chain', 'verify', 'verifyValue'].includes(k))
      throw new ClientCertConfigError(
        `source.forwarded.headers.${k}`,
        'unknown key; expected cert, chain, verify, verifyValue',
      )
  }
  const preset = resolvePreset(o.format, headers, 'source.forwarded.format')
  if (o.allowUnixSocket !== undefined && typeof o.allowUnixSocket !== 'boolean')
    throw new ClientCertConfigError('source.forwarded.allowUnixSocket', 'must be a boolean')
  if (o.requireVerify !== undefined && typeof o.requireVerify !== 'boolean')
    throw new ClientCertConfigError('source.forwarded.requireVerify', 'must be a boolean')
  const xfccElement = o.xfccElement ?? 'last'
  if (
    xfccElement !== 'first' &&
    xfccElement !== 'last' &&
    !(typeof xfccElement === 'number' && Number.isInteger(xfccElement) && xfccElement >= 0)
  ) {
    throw new ClientCertConfigError('source.forwarded.xfccElement', 'must be "first", "last" or an index ≥ 0')
  }
  const own = new Set(
    [preset.certHeader, preset.chainHeader, preset.verify?.header].filter(
      (h): h is string => h !== undefined,
    ),
  )
  return {
    preset,
    proxies: createProxyMatcher(
      o.trustedProxies,
      'source.forwarded.trustedProxies',
      o.allowUnixSocket === true,
    ),
    requireVerify: o.requireVerify !== false && preset.verify !== undefined,
    maxHeaderBytes: intIn(o.maxHeaderBytes, 'source.forwarded.maxHeaderBytes', 1024, 65536, 16384),
    limits: { maxChain: intIn(o.maxChainLength, 'source.forwarded.maxChainLength', 0, 8, 4), xfccElement },
    ownHeaders: own,
    trustBySocket: new WeakMap(),
    keyHeaders: [preset.chainHeader, ...(preset.extraHeaders ?? [])].filter(
      (h): h is string => h !== undefined,
    ),
  }
}

/** True when `name` (canonical) is a certificate or verification header of any supported proxy. */
export function isForwardedHeader(name: string, own: ReadonlySet<string>): boolean {
  return own.has(name) || KNOWN_HEADERS.has(name) || VENDOR_PREFIXES.some((p) => name.startsWith(p))
}

/**
 * Reads the forwarded certificate of one request. A certificate header from a peer that is not
 * an allowlisted proxy is an attack and is rejected, never ignored in favour of another source.
 */
export function readForwarded(
  req: HeaderSource & { readonly socket?: unknown },
  fwd: ResolvedForwarded | undefined,
): ForwardedRead {
  const socket = req.socket
  const trustedPeer = fwd !== undefined && trusted(fwd, socket)
  if (!trustedPeer) {
    // The common path (direct clients): one pass over the raw header names, no allocation.
    const name = firstForwardedHeader(req, fwd?.ownHeaders ?? NO_HEADERS)
    if (name === undefined) return { kind: 'none', trustedPeer: false }
    return {
      kind: 'reject',
      code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY',
      reason: `header ${name} sent by ${describePeer(remoteAddressOf(socket))}, which is not an allowlisted proxy`,
    }
  }
  const remote = remoteAddressOf(socket)
  const counts = headerCounts(req)
  const f = fwd!
  const get = (name: string): string | undefined => {
    const r = readSingle(req, counts, canonicalName(name), f.maxHeaderBytes)
    if (r.kind === 'invalid') throw new HeaderRejected(r.reason)
    return r.kind === 'value' ? r.value : undefined
  }
  try {
    const cert = get(f.preset.certHeader)
    if (cert === undefined || f.preset.absent.includes(cert.trim())) {
      if (f.preset.chainHeader !== undefined && get(f.preset.chainHeader) !== undefined) {
        return {
          kind: 'reject',
          code: 'ERR_CLIENT_CERT_MALFORMED',
          reason: `${f.preset.chainHeader} without ${f.preset.certHeader}`,
        }
      }
      return {
        kind: 'reject',
        code: 'ERR_CLIENT_CERT_MISSING',
        reason: `the proxy forwarded no client certificate (${f.preset.certHeader})`,
      }
    }
    if (f.requireVerify && f.preset.verify !== undefined) {
      const status = get(f.preset.verify.header)
      if (status !== f.preset.verify.value) {
        return {
          kind: 'reject',
          code: 'ERR_CLIENT_CERT_UNTRUSTED',
          reason: `the proxy did not report a verified certificate (${f.preset.verify.header}: ${status === undefined ? 'absent' : JSON.stringify(status.slice(0, 64))})`,
        }
      }
    }
    const proxy = typeof remote === 'string' ? normalise(remote) : 'unix'
    // Every header a decoder may read is part of the key, so a cached success is only reused
    // for exactly the same forwarded values from the same proxy.
    const key = createHash('sha256').update(`${f.preset.name}\u0000${proxy}\u0000${cert}`)
    for (const name of f.keyHeaders) key.update(`\u0000${get(name) ?? '\u0001'}`)
    return {
      kind: 'cert',
      cacheKey: key.digest('base64'),
      proxy,
      decode: () => {
        try {
          return { ok: true, decoded: f.preset.decode(cert, get, f.limits) }
        } catch (err) {
          if (err instanceof HeaderRejected || isDecodeError(err)) {
            return { ok: false, reason: `forwarded certificate header rejected: ${(err as Error).message}` }
          }
          throw err
        }
      },
    }
  } catch (err) {
    if (err instanceof HeaderRejected || isDecodeError(err)) {
      return {
        kind: 'reject',
        code: 'ERR_CLIENT_CERT_MALFORMED',
        reason: `forwarded certificate header rejected: ${(err as Error).message}`,
      }
    }
    throw err
  }
}

class HeaderRejected extends Error {}

const NO_HEADERS: ReadonlySet<string> = new Set()

function firstForwardedHeader(req: HeaderSource, own: ReadonlySet<string>): string | undefined {
  const raw = req.rawHeaders
  const names = Array.isArray(raw)
    ? raw
    : typeof req.headers === 'object' && req.headers !== null
      ? Object.keys(req.headers)
      : []
  const step = Array.isArray(raw) ? 2 : 1
  for (let i = 0; i < names.length; i += step) {
    const name = names[i]
    if (typeof name !== 'string') continue
    const canonical = canonicalName(name)
    if (isForwardedHeader(canonical, own)) return canonical
  }
  return undefined
}

/** The allowlist decision, once per connection (it cannot change while the socket is open). */
function trusted(fwd: ResolvedForwarded, socket: unknown): boolean {
  if (typeof socket !== 'object' || socket === null) return false
  const known = fwd.trustBySocket.get(socket)
  if (known !== undefined) return known
  const remote = remoteAddressOf(socket)
  const decision = fwd.proxies.isTrusted(remote)
  // A socket whose address cannot be read (closing) is judged again, never remembered.
  if (remote !== null) fwd.trustBySocket.set(socket, decision)
  return decision
}

/**
 * The TCP peer address, `undefined` only for a live connection accepted by a Unix-socket
 * server, and `null` when it cannot be told. Node also reports no address for a TCP socket
 * that has already closed, so "no address" alone must never mean "Unix socket".
 */
function remoteAddressOf(socket: unknown): unknown {
  if (typeof socket !== 'object' || socket === null) return null
  try {
    const s = socket as { remoteAddress?: unknown; destroyed?: unknown; server?: { address?: () => unknown } }
    if (typeof s.remoteAddress === 'string') return s.remoteAddress
    if (s.remoteAddress !== undefined || s.destroyed === true) return null
    return typeof s.server?.address === 'function' && typeof s.server.address() === 'string'
      ? undefined
      : null
  } catch {
    return null
  }
}

function describePeer(remote: unknown): string {
  return typeof remote === 'string'
    ? remote
    : remote === undefined
      ? 'a Unix-socket peer'
      : 'a peer without an address (closed or unknown socket)'
}

function intIn(v: unknown, name: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new ClientCertConfigError(name, `must be an integer from ${min} to ${max}`)
  return v
}

export type { CustomForwardedFormat, ForwardedFormat }
