import { isIP } from 'node:net'

/**
 * Trust per server name (SNI) and the Host / `:authority` a request names.
 *
 * When the TLS stack picks client CAs by SNI, a connection is only vouched for under the name
 * its handshake used. A request on it for another name (Host `b.example` on an `a.example`
 * handshake: a hostile client, or a browser coalescing connections) would be served under the
 * other name's trust without its CA ever having been asked, so it is answered 421 instead.
 */

/**
 * Carried by the SNICallback `createMtlsServerOptions({ sni })` returns: the (lower-case) names
 * its contexts serve. A function property, so it survives spreading the options object
 * (`{ ...options, allowHTTP1: true }`); a registered symbol, so two copies of this package
 * (ESM and CommonJS) agree on it.
 */
const SNI_NAMES = Symbol.for('clientcert.sniNames')

type Marked = { [SNI_NAMES]?: unknown }

/** Marks an SNICallback as selecting client trust among `names`. */
export function markSniCallback(callback: object, names: readonly string[]): void {
  Object.defineProperty(callback, SNI_NAMES, { value: Object.freeze(names.map(normaliseName)) })
}

/** The servername check a connection needs; undefined when trust does not vary by name on it. */
export interface ServernameRule {
  /** The SNI the handshake used, normalised; undefined when the client sent none. */
  readonly servername: string | undefined
  /**
   * Names that select their own context (createMtlsServerOptions); undefined when unknown
   * (a hand-made SNICallback with `requireServernameMatch`).
   */
  readonly names: ReadonlySet<string> | undefined
}

interface SocketLike {
  readonly encrypted?: unknown
  readonly servername?: unknown
  readonly _SNICallback?: unknown
  readonly _tlsOptions?: { readonly SNICallback?: unknown }
}

/**
 * The rule for a connection. Node keeps the server's SNICallback on each TLS socket (as
 * `_SNICallback`, and in `_tlsOptions`, which HTTP/2's socket proxy hands out unbound): when it
 * is the one createMtlsServerOptions made, trust differs by name. `required` (the
 * `requireServernameMatch` option) applies the rule to every TLS connection.
 */
export function servernameRule(socket: unknown, required: boolean): ServernameRule | undefined {
  if (typeof socket !== 'object' || socket === null) return undefined
  const s = socket as SocketLike
  if (s.encrypted !== true) return undefined
  const names = markedNames(s._tlsOptions?.SNICallback) ?? markedNames(s._SNICallback)
  if (names === undefined && !required) return undefined
  const sni = s.servername
  return {
    servername: typeof sni === 'string' && sni !== '' ? normaliseName(sni) : undefined,
    names,
  }
}

function markedNames(callback: unknown): ReadonlySet<string> | undefined {
  if (typeof callback !== 'function') return undefined
  const names = (callback as Marked)[SNI_NAMES]
  return Array.isArray(names) ? new Set(names as string[]) : undefined
}

interface RequestLike {
  readonly headers?: unknown
  readonly rawHeaders?: unknown
  readonly url?: unknown
  readonly httpVersionMajor?: unknown
}

/**
 * Why the request is misdirected under `rule`, or undefined when every name it carries (Host,
 * HTTP/2 `:authority`, an absolute-form target) is the connection's. Fails closed: no name, a
 * repeated Host line or an unparsable authority is misdirected.
 */
export function misdirection(request: unknown, rule: ServernameRule): string | undefined {
  if (typeof request !== 'object' || request === null) return 'the request carries no headers'
  const r = request as RequestLike
  const headers = r.headers
  if (typeof headers !== 'object' || headers === null) return 'the request carries no headers'
  const h = headers as Record<string, unknown>
  const authorities: unknown[] = []
  if (h[':authority'] !== undefined) authorities.push(h[':authority'])
  if (h.host !== undefined) authorities.push(h.host)
  if (hostLines(r.rawHeaders) > 1) return 'the request has more than one Host header'
  const url = r.url
  // An absolute-form target names the authority the request is for (RFC 9112 §3.2.2).
  if (typeof url === 'string' && url !== '' && url.charCodeAt(0) !== 47 && url !== '*') {
    const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(url)
    authorities.push(m === null ? undefined : m[1])
  }
  if (authorities.length === 0) return 'the request names no host'
  for (const a of authorities) {
    const host = hostOf(a)
    if (host === undefined) return `the request names an unparsable host ${quote(a)}`
    if (!matches(host, rule))
      return `the request names ${quote(host)} on a connection whose TLS server name is ${
        rule.servername === undefined ? 'absent' : quote(rule.servername)
      }`
  }
  return undefined
}

function matches(host: string, rule: ServernameRule): boolean {
  if (rule.servername !== undefined) return host === rule.servername
  // No SNI: the default context answered. That is the one the host would get when the host
  // selects no context of its own: an IP literal (SNI never carries one), or, when the names
  // are known, a name outside them. Otherwise which trust the host stands for is unknown.
  if (isIP(host) !== 0) return true
  return rule.names !== undefined && !rule.names.has(host)
}

function hostLines(raw: unknown): number {
  if (!Array.isArray(raw)) return 0
  let n = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    if (typeof name === 'string' && name.length === 4 && name.toLowerCase() === 'host') n++
  }
  return n
}

/** The host of an authority (`host[:port]`, `[v6]:port`): lower case, without a trailing dot. */
export function hostOf(authority: unknown): string | undefined {
  if (typeof authority !== 'string' || authority === '' || authority.length > 300) return undefined
  let host: string
  let rest: string
  if (authority.charCodeAt(0) === 91 /* [ */) {
    const end = authority.indexOf(']')
    if (end < 0) return undefined
    host = authority.slice(1, end)
    rest = authority.slice(end + 1)
    if (isIP(host) !== 6) return undefined
  } else {
    const colon = authority.indexOf(':')
    host = colon < 0 ? authority : authority.slice(0, colon)
    rest = colon < 0 ? '' : authority.slice(colon)
    if (!/^[A-Za-z0-9._-]+$/.test(host)) return undefined
  }
  if (rest !== '' && !/^:[0-9]{0,5}$/.test(rest)) return undefined
  return normaliseName(host)
}

function normaliseName(name: string): string {
  const lower = name.toLowerCase()
  return lower.length > 1 && lower.endsWith('.') ? lower.slice(0, -1) : lower
}

function quote(v: unknown): string {
  return JSON.stringify(String(v).slice(0, 100))
}
