import { createHash } from 'node:crypto'
import { bool, intIn, onlyKeys, plainObject } from '../../config-check.js'
import { peerName, publishForwardedRefused } from '../../diagnostics.js'
import { ClientCertConfigError, type ClientCertErrorCode } from '../../errors.js'
import {
  judgeProxyCertificate,
  type ProxyCertificateOptions,
  type ProxyFacts,
  type ProxyJudgeContext,
  type ResolvedProxyCertificate,
  resolveProxyCertificate,
} from '../proxy-identity.js'
import { canonicalName, type HeaderSource, oneLine } from './headers.js'
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
  /**
   * Addresses and CIDRs of the proxies, matched on the TCP peer address (never X-Forwarded-For).
   * Required unless `proxyCertificate` is set; with both, a proxy must meet both.
   */
  readonly trustedProxies?: readonly string[]
  /**
   * Proxies prove who they are with their own TLS client certificate, validated against a
   * proxy CA of its own (never the client anchors) and, optionally, a list of allowed names.
   * See docs/guide/front-proxy.md.
   */
  readonly proxyCertificate?: ProxyCertificateOptions
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
  /** The address allowlist; undefined when proxies are judged by certificate only. */
  readonly proxies: ProxyMatcher | undefined
  /** The proxy certificate rules, and the clock and limits they are judged with. */
  readonly proxyCertificate:
    | { readonly rules: ResolvedProxyCertificate; readonly context: ProxyJudgeContext }
    | undefined
  readonly requireVerify: boolean
  readonly maxHeaderBytes: number
  readonly limits: { readonly maxChain: number; readonly xfccElement: 'first' | 'last' | number }
  /**
   * The configured header names (certificate, chain, verify, extras), canonical: with the known
   * headers and prefixes, what only a proxy may send, in any spelling.
   */
  readonly ownHeaders: ReadonlySet<string>
  /** The same names lower-cased but spelled as configured: the only spellings ever read. */
  readonly exactNames: ReadonlySet<string>
  /** True when a configured name holds `_` (so a name without one can still be its twin). */
  readonly underscoreNames: boolean
  /** Headers besides the certificate header that decoding reads (chain, hashes): part of the cache key. */
  readonly keyHeaders: readonly string[]
  /**
   * The headers one request's judgement depends on, spelled as configured (lower case): the
   * certificate header, the verify header (when required), then `keyHeaders`. Read in one pass.
   */
  readonly wanted: ReadonlyMap<string, number>
  /**
   * Set for the Web `Request` source (sources/web.ts): the label of the explicit trust
   * boundary. Peers are then never judged by address; only a view that source built, after
   * checking the boundary, is trusted.
   */
  readonly boundary: string | undefined
  /** Positions in `wanted` of headers that hold one value (all but the chain list). */
  readonly singleValued: ReadonlySet<number>
}

/**
 * The key under which the Web `Request` source passes its boundary label to
 * `resolveForwarded`. Module-private (never exported from the package), so no user
 * configuration can switch the address allowlist off.
 */
export const BOUNDARY: unique symbol = Symbol('clientcert.forwarded.boundary')

/** Views built by the Web source: their boundary label, and whether the boundary held for that request. */
const boundaryViews = new WeakMap<object, { readonly label: string; readonly trusted: boolean }>()

/**
 * A fresh stand-in for the socket of one Web request: trusted only by a forwarded source
 * configured with the same boundary label, and only when the boundary held (`trusted`).
 * Fresh per request so no per-connection memo ever spans two requests.
 */
export function boundarySocket(label: string, trusted: boolean): object {
  const socket = Object.freeze({})
  boundaryViews.set(socket, { label, trusted })
  return socket
}

/**
 * What the forwarded source remembers of one connection, held by the authenticator's
 * per-connection state (connection.ts): the allowlist decision (it cannot change while the
 * socket is open) and the header values of the connection's last certificate with that read,
 * so a proxy's keep-alive connection repeating them is answered without hashing again.
 */
export interface ForwardedConnection {
  trusted?: boolean
  /** Set when the proxy was judged by its certificate: trusted within the path's window. */
  proxy?: ProxyFacts
  /** Why the peer is not a proxy, when its certificate said so. */
  refusal?: string
  last?: { readonly values: readonly Slot[]; readonly read: ForwardedRead }
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
  'proxyCertificate',
  'headers',
  'requireVerify',
  'xfccElement',
  'allowUnixSocket',
  'maxHeaderBytes',
  'maxChainLength',
]

export function resolveForwarded(v: unknown, context: ProxyJudgeContext): ResolvedForwarded {
  const o = plainObject(v, 'source.forwarded')
  const boundary = (v as { [BOUNDARY]?: unknown })[BOUNDARY]
  if (boundary !== undefined && (typeof boundary !== 'string' || o.trustedProxies !== undefined))
    throw new ClientCertConfigError('source.forwarded.trustedProxies', 'is not used behind a trust boundary')
  onlyKeys(o, KNOWN, 'source.forwarded.')
  // Behind a boundary there is no TLS hop from the proxy to judge.
  if (boundary !== undefined && o.proxyCertificate !== undefined)
    throw new ClientCertConfigError(
      'source.forwarded.proxyCertificate',
      'is not used behind a trust boundary',
    )
  const proxyCertificate = resolveProxyCertificate(o.proxyCertificate)
  const headers = plainObject(o.headers ?? {}, 'source.forwarded.headers')
  onlyKeys(headers, ['cert', 'chain', 'verify', 'verifyValue'], 'source.forwarded.headers.')
  const preset = resolvePreset(o.format, headers, 'source.forwarded.format')
  const allowUnixSocket = bool(o.allowUnixSocket, 'source.forwarded.allowUnixSocket', false)
  bool(o.requireVerify, 'source.forwarded.requireVerify', true)
  const xfccElement = o.xfccElement ?? 'last'
  if (
    xfccElement !== 'first' &&
    xfccElement !== 'last' &&
    !(typeof xfccElement === 'number' && Number.isInteger(xfccElement) && xfccElement >= 0)
  ) {
    throw new ClientCertConfigError('source.forwarded.xfccElement', 'must be "first", "last" or an index ≥ 0')
  }
  const keyHeaders = [preset.chainHeader, ...(preset.extraHeaders ?? [])].filter(
    (h): h is string => h !== undefined,
  )
  const exactNames = new Set(
    [preset.certHeader, preset.verify?.header, ...keyHeaders]
      .filter((h): h is string => h !== undefined)
      .map((h) => h.toLowerCase()),
  )
  const requireVerify = o.requireVerify !== false && preset.verify !== undefined
  const wanted = new Map<string, number>()
  for (const h of [preset.certHeader, requireVerify ? preset.verify?.header : undefined, ...keyHeaders]) {
    if (h !== undefined && !wanted.has(h.toLowerCase())) wanted.set(h.toLowerCase(), wanted.size)
  }
  const chainAt = preset.chainHeader === undefined ? undefined : wanted.get(preset.chainHeader.toLowerCase())
  return {
    preset,
    proxies:
      typeof boundary === 'string'
        ? NO_PROXIES
        : proxyCertificate !== undefined && o.trustedProxies === undefined
          ? undefined
          : createProxyMatcher(o.trustedProxies, 'source.forwarded.trustedProxies', allowUnixSocket),
    proxyCertificate: proxyCertificate === undefined ? undefined : { rules: proxyCertificate, context },
    boundary: typeof boundary === 'string' ? boundary : undefined,
    singleValued: new Set([...wanted.values()].filter((at) => at !== chainAt)),
    requireVerify,
    maxHeaderBytes: intIn(o.maxHeaderBytes, 'source.forwarded.maxHeaderBytes', 1024, 65536, 16384),
    limits: { maxChain: intIn(o.maxChainLength, 'source.forwarded.maxChainLength', 0, 8, 4), xfccElement },
    ownHeaders: new Set([...exactNames].map(canonicalName)),
    exactNames,
    underscoreNames: [...exactNames].some((h) => h.includes('_')),
    keyHeaders,
    wanted,
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
  connection: ForwardedConnection = {},
): ForwardedRead {
  const socket = req.socket
  if (fwd === undefined || !peerTrusted(fwd, socket, connection)) {
    // The common path (direct clients): one pass over the raw header names, no allocation.
    const name = firstForwardedHeader(req, fwd?.ownHeaders ?? NO_HEADERS)
    if (name === undefined) return NONE
    publishForwardedRefused(() => ({
      peer: peerName(remoteAddressOf(socket)),
      header: name,
      preset: fwd?.preset.name,
      why: 'untrusted-peer',
    }))
    return {
      kind: 'reject',
      code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY',
      reason:
        fwd?.proxyCertificate === undefined
          ? `header ${name} sent by ${describePeer(remoteAddressOf(socket))}, which is not an allowlisted proxy`
          : `header ${name} sent by ${describePeer(remoteAddressOf(socket))}, which is not an authenticated proxy: ${connection.refusal ?? 'its address is not in source.forwarded.trustedProxies'}`,
    }
  }
  const f = fwd
  // A proxy connection repeating its last certificate's header lines exactly: the same read.
  const last = connection.last
  if (last !== undefined && Array.isArray(req.rawHeaders) && sameAsLast(req.rawHeaders, f, last.values))
    return last.read
  const remote = remoteAddressOf(socket)
  const scan = readWanted(req, f)
  if (!Array.isArray(scan)) {
    publishForwardedRefused(() => ({
      peer: peerName(remote),
      header: scan.twin,
      preset: f.preset.name,
      why: 'spelling',
    }))
    return {
      kind: 'reject',
      code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY',
      reason: `header ${JSON.stringify(scan.twin)} is not the spelling the ${f.preset.name} proxy sets (${[...f.exactNames].join(', ')}); the proxy strips and sets headers by exact name, so another spelling came from its client`,
    }
  }
  const values = scan
  const get = (name: string): string | undefined => {
    const key = name.toLowerCase()
    const i = f.wanted.get(key)
    // Decoders read only the headers their preset declares (they are what a read is keyed on).
    if (i === undefined) throw new Error(`the ${f.preset.name} decoder read undeclared header ${key}`)
    const v = values[i]
    if (typeof v === 'object') throw new HeaderRejected(v.invalid)
    return v
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
    const proxy =
      f.boundary !== undefined
        ? `boundary:${f.boundary}`
        : typeof remote === 'string'
          ? normalise(remote)
          : 'unix'
    const read: ForwardedRead = {
      kind: 'cert',
      cacheKey: cacheKey(f, proxy, [cert, ...f.keyHeaders.map(get)]),
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
    if (Array.isArray(req.rawHeaders)) connection.last = { values, read }
    return read
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

/**
 * The connection's last certificate read, when this request repeats its header lines exactly
 * (`sameAsLast`) on a connection trusted by its address alone; otherwise undefined, and the
 * full read (`readForwarded`) answers. No side effect: nothing is published or remembered.
 */
export function repeatedRead(
  req: HeaderSource,
  f: ResolvedForwarded,
  connection: ForwardedConnection,
): ForwardedRead | undefined {
  const last = connection.last
  const raw = req.rawHeaders
  if (
    last === undefined ||
    connection.trusted !== true ||
    connection.proxy !== undefined ||
    !Array.isArray(raw)
  )
    return undefined
  return sameAsLast(raw, f, last.values) ? last.read : undefined
}

/**
 * The validation cache key: SHA-256 of the preset, the proxy and every header value the
 * certificate comes from, so a cached success is only reused for exactly the same forwarded
 * values from the same proxy.
 */
function cacheKey(f: ResolvedForwarded, proxy: string, values: readonly (string | undefined)[]): string {
  const hash = createHash('sha256').update(`${f.preset.name}\u0000${proxy}`)
  for (const v of values) hash.update(`\u0000${v ?? '\u0001'}`)
  return hash.digest('base64')
}

/**
 * True when the request's wanted header lines are exactly `last` (the connection's previous
 * certificate read): each present once with the same value, the others absent, and no other
 * spelling of a forwarded header. Allocates nothing; anything else takes the full read.
 */
function sameAsLast(raw: readonly unknown[], f: ResolvedForwarded, last: readonly Slot[]): boolean {
  const screen = screenFor(f.ownHeaders)
  let seen = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    if (typeof name !== 'string') return false
    if (ruledOut(screen, name)) continue
    // A name already in lower case (as proxies send them) is looked up as it is: `toLowerCase`
    // would copy it.
    let at = f.wanted.get(name)
    if (at === undefined) {
      const lower = name.toLowerCase()
      at = f.wanted.get(lower)
      if (at === undefined) {
        if (isTwin(lower, f)) return false
        continue
      }
    }
    const bit = 1 << at
    if ((seen & bit) !== 0 || raw[i + 1] !== last[at]) return false
    seen |= bit
  }
  for (let at = 0; at < last.length; at++)
    if ((last[at] !== undefined) !== ((seen & (1 << at)) !== 0)) return false
  return true
}

/**
 * True when `lower` (a lower-cased header name from an allowlisted proxy) is another spelling
 * of a forwarded-certificate header than the configured one: of a configured name
 * (`x_ssl_client_cert` for `x-ssl-client-cert`, or the other way round), or an underscore
 * spelling of any supported proxy's header. Proxies strip client-sent headers by exact name and
 * many forward the other spellings, so such a header came from the client, and a reader that
 * treated spellings alike would take it for the proxy's. A known header in its own spelling
 * (another proxy of the chain) is not a twin: it is simply not read.
 */
function isTwin(lower: string, f: ResolvedForwarded): boolean {
  if (f.exactNames.has(lower)) return false
  if (!f.underscoreNames && !lower.includes('_')) return false
  const canonical = canonicalName(lower)
  if (f.ownHeaders.has(canonical)) return true
  return canonical !== lower && isForwardedHeader(canonical, NO_HEADERS)
}

/** A wanted header's value: absent (undefined), its one line, or why it is refused. */
type Slot = string | undefined | { readonly invalid: string }

/**
 * The `wanted` headers of a request in one pass over its header names (`rawHeaders` when
 * present, which keep repeated lines apart, else `headers`): a header on two lines (or in two
 * cases), or too large, is invalid. Stops at the first twin of a forwarded header (`isTwin`),
 * which refuses the request whatever else it carries.
 */
function readWanted(req: HeaderSource, f: ResolvedForwarded): Slot[] | { readonly twin: string } {
  const raw = req.rawHeaders
  const fromRaw = Array.isArray(raw)
  const names: readonly unknown[] = fromRaw
    ? raw
    : typeof req.headers === 'object' && req.headers !== null
      ? Object.keys(req.headers)
      : []
  const step = fromRaw ? 2 : 1
  const out: Slot[] = new Array<Slot>(f.wanted.size).fill(undefined)
  const seen: boolean[] = new Array<boolean>(f.wanted.size).fill(false)
  const screen = screenFor(f.ownHeaders)
  for (let i = 0; i < names.length; i += step) {
    const name = names[i]
    if (typeof name !== 'string') continue
    if (ruledOut(screen, name)) continue
    const lower = name.toLowerCase()
    const at = f.wanted.get(lower)
    if (at === undefined) {
      if (isTwin(lower, f)) return { twin: lower.slice(0, 64) }
      continue
    }
    let value = fromRaw ? raw[i + 1] : (req.headers as Record<string, unknown>)[name]
    if (Array.isArray(value)) {
      // A framework's `headers` keeps repeated lines as an array.
      if (value.length > 1) {
        out[at] = { invalid: `header ${lower} appears ${value.length} times` }
        seen[at] = true
        continue
      }
      value = value[0]
    }
    const line = oneLine(lower, value, f.maxHeaderBytes)
    out[at] = seen[at]
      ? { invalid: `header ${lower} appears more than once` }
      : line.kind !== 'value'
        ? { invalid: line.reason }
        : // Web Headers join repeated lines with ", ": behind a boundary that is the only trace of one.
          f.boundary !== undefined && f.singleValued.has(at) && line.value.includes(', ')
          ? { invalid: `header ${lower} holds ", " (a repeated header, joined by the Web Headers object)` }
          : line.value
    seen[at] = true
  }
  return out
}

const NONE: ForwardedRead = Object.freeze({ kind: 'none', trustedPeer: false })

class HeaderRejected extends Error {}

const NO_HEADERS: ReadonlySet<string> = new Set()

/** True when a direct (non-proxy) request carries any known forwarded-certificate header. */
export function hasForwardedHeader(req: HeaderSource): boolean {
  return firstForwardedHeader(req, NO_HEADERS) !== undefined
}

function firstForwardedHeader(req: HeaderSource, own: ReadonlySet<string>): string | undefined {
  const raw = req.rawHeaders
  const names = Array.isArray(raw)
    ? raw
    : typeof req.headers === 'object' && req.headers !== null
      ? Object.keys(req.headers)
      : []
  const step = Array.isArray(raw) ? 2 : 1
  const screen = screenFor(own)
  for (let i = 0; i < names.length; i += step) {
    const name = names[i]
    if (typeof name !== 'string') continue
    if (ruledOut(screen, name)) continue
    const canonical = canonicalName(name)
    if (isForwardedHeader(canonical, own)) return canonical
  }
  return undefined
}

/** True when `name` cannot be one of the screen's headers (its first two characters rule it out). */
function ruledOut(screen: Uint32Array, name: string): boolean {
  const a = name.charCodeAt(0)
  const b = name.charCodeAt(1)
  return a < 128 && b < 128 && ((screen[a & 31]! >>> (b & 31)) & 1) === 0
}

const screens = new WeakMap<object, Uint32Array>()

/**
 * For every pair of ASCII characters a header name can start with, folded to five bits each
 * (`a & 31`, `b & 31`: letters of either case share a slot, as do a few other characters): a
 * set bit when one of the pairs folded there starts one of the header names looked for (the
 * own headers, canonical, and every known forwarded header and prefix), in its canonical form.
 * A clear bit is exact (no pair folded there can begin such a header, nor any twin of one, in
 * any case or underscore spelling); a set bit only sends the name to the full check. Names
 * starting with anything else, or shorter than two characters, always take the full check.
 * 128 bytes, so screening every request touches two cache lines. Proxy and direct requests use
 * the same screen: a proxy's request must be screened for twins of every preset.
 */
function screenFor(of: ReadonlySet<string>): Uint32Array {
  if (of === NO_HEADERS && directScreen !== undefined) return directScreen
  let screen = screens.get(of)
  if (screen !== undefined) return screen
  const names = [...KNOWN_HEADERS, ...VENDOR_PREFIXES, ...of.keys()]
  const starts = new Set(names.filter((n) => n.length >= 2).map((n) => n.slice(0, 2)))
  const short = names.some((n) => n.length < 2)
  screen = new Uint32Array(32)
  for (let a = 0; a < 128; a++) {
    for (let b = 0; b < 128; b++) {
      if (short || starts.has(canonicalName(String.fromCharCode(a, b))))
        screen[a & 31] = screen[a & 31]! | (1 << (b & 31))
    }
  }
  screens.set(of, screen)
  if (of === NO_HEADERS) directScreen = screen
  return screen
}

/** The screen for TLS-only authenticators (no own headers), looked up on every request. */
let directScreen: Uint32Array | undefined

/** What decides who is a proxy: addresses, a proxy certificate, or a Web trust boundary. */
export type PeerRules = Pick<ResolvedForwarded, 'proxies' | 'proxyCertificate' | 'boundary'>

/**
 * The allowlist decision, once per connection (neither the address nor the proxy's certificate
 * can change while the socket is open); a certificate's judgement holds until its path expires.
 */
export function peerTrusted(fwd: PeerRules, socket: unknown, connection: ForwardedConnection): boolean {
  if (connection.trusted !== undefined) {
    const proxy = connection.proxy
    if (proxy === undefined || !connection.trusted) return connection.trusted
    const { context } = fwd.proxyCertificate!
    if (context.now() <= proxy.validUntil + context.skewMs) return true
    connection.trusted = undefined
    connection.proxy = undefined
  }
  if (typeof socket !== 'object' || socket === null) return false
  if (fwd.boundary !== undefined) {
    // Behind an explicit boundary (sources/web.ts) no peer is judged by address: only a view that
    // source built, after the boundary held for that request, is trusted.
    const view = boundaryViews.get(socket)
    return view?.trusted === true && view.label === fwd.boundary
  }
  const remote = remoteAddressOf(socket)
  // A socket whose address cannot be read (closing) is judged again, never remembered.
  if (fwd.proxies !== undefined) {
    const trusted = fwd.proxies.isTrusted(remote)
    if (!trusted || fwd.proxyCertificate === undefined) {
      if (remote !== null) connection.trusted = trusted
      return trusted
    }
  } else if (remote === null) return false
  const verdict = judgeProxyCertificate(socket, fwd.proxyCertificate!.rules, fwd.proxyCertificate!.context)
  if (verdict.ok) {
    connection.trusted = true
    connection.proxy = verdict.facts
    return true
  }
  connection.refusal = verdict.reason
  if (verdict.final) connection.trusted = false
  return false
}

/** True when the connection's peer is a proxy that proved itself by its own certificate. */
export function certificateProxy(fwd: PeerRules | undefined, connection: ForwardedConnection): boolean {
  return fwd?.proxyCertificate !== undefined && connection.trusted === true
}

/** Behind a boundary no peer is trusted by its address. */
const NO_PROXIES: ProxyMatcher = Object.freeze({ isTrusted: () => false })

/**
 * The TCP peer address, `undefined` only for a live connection accepted by a Unix-socket
 * server, and `null` when it cannot be told. Node also reports no address for a TCP socket
 * that has already closed, so "no address" alone must never mean "Unix socket".
 */
export function remoteAddressOf(socket: unknown): unknown {
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

export type { CustomForwardedFormat, ForwardedFormat }
