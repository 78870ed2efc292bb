import type { X509Certificate } from '@peculiar/x509'
import { isPlainObject, onlyKeys, plainObject } from '../config-check.js'
import { peerName, publishForwardedRefused } from '../diagnostics.js'
import { ClientCertConfigError, type ClientCertErrorCode } from '../errors.js'
import { checkedId, IdentityError } from '../identity/map.js'
import type { ClientPrincipal } from '../identity/principal.js'
import type { Verified } from '../validate/verify.js'
import { canonicalName, type HeaderSource, oneLine } from './forwarded/headers.js'
import {
  type ForwardedConnection,
  hasForwardedHeader,
  type PeerRules,
  peerTrusted,
  remoteAddressOf,
} from './forwarded/index.js'
import { createProxyMatcher, normalise } from './forwarded/proxies.js'
import {
  type ProxyCertificateOptions,
  type ProxyFacts,
  type ProxyJudgeContext,
  resolveProxyCertificate,
} from './proxy-identity.js'

/**
 * Kubernetes request-header identity (kube-apiserver's `--requestheader-*` flags): the user,
 * groups and extras a front proxy asserts in headers, read only from a proxy that proved
 * itself with its own TLS client certificate (sources/proxy-identity.ts). The headers are
 * named exactly as configured; another spelling of one (underscores) from the proxy, or any of
 * them from anyone else, is refused, as for forwarded certificates. See docs/guide/front-proxy.md.
 */

/** `source.requestHeader`. */
export interface RequestHeaderOptions {
  /** Required: how the front proxy's own TLS client certificate is judged (its CA, allowed names). */
  readonly proxyCertificate: ProxyCertificateOptions
  /** Also require the proxy's address to be one of these (both must hold). */
  readonly trustedProxies?: readonly string[]
  /** Headers naming the user, first present wins (`--requestheader-username-headers`). Default `['X-Remote-User']`. */
  readonly usernameHeaders?: readonly string[]
  /** Headers naming groups, one group per line, repeatable (`--requestheader-group-headers`). Default `['X-Remote-Group']`. */
  readonly groupHeaders?: readonly string[]
  /**
   * Prefixes of extra-attribute headers, `<prefix><key>: <value>` (`--requestheader-extra-headers-prefix`).
   * Default `['X-Remote-Extra-']`; `[]` reads no extras (for proxies that cannot strip a prefix).
   */
  readonly extraHeaderPrefixes?: readonly string[]
}

export interface ResolvedRequestHeader extends PeerRules {
  readonly users: readonly string[]
  readonly groups: ReadonlySet<string>
  readonly prefixes: readonly string[]
  /** Every configured name and prefix, canonical: what no one but the proxy may send, in any spelling. */
  readonly canonicalNames: ReadonlySet<string>
  readonly canonicalPrefixes: readonly string[]
}

export type RequestHeaderRead =
  /** Not a proxy and no identity header: the request may still use its socket. */
  | { readonly kind: 'none' }
  | { readonly kind: 'reject'; readonly code: ClientCertErrorCode; readonly reason: string }
  /** The proxy asserted no user. */
  | { readonly kind: 'missing'; readonly reason: string }
  | { readonly kind: 'user'; readonly verified: Verified }

const OPTION = 'source.requestHeader'
/** Longest identity header value, in bytes. */
const MAX_VALUE_BYTES = 4096
/** Most identity header lines one request may carry. */
const MAX_LINES = 256
/** RFC 9110 token characters, without `_` (a spelling proxies treat as `-`). */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^`|~-]+$/

export function resolveRequestHeader(v: unknown, context: ProxyJudgeContext): ResolvedRequestHeader {
  const o = plainObject(v, OPTION)
  onlyKeys(
    o,
    ['proxyCertificate', 'trustedProxies', 'usernameHeaders', 'groupHeaders', 'extraHeaderPrefixes'],
    `${OPTION}.`,
  )
  if (o.proxyCertificate === undefined)
    throw new ClientCertConfigError(
      `${OPTION}.proxyCertificate`,
      'is required: identity headers are only read from a proxy that proves itself with its own certificate',
    )
  const rules = resolveProxyCertificate(o.proxyCertificate, `${OPTION}.proxyCertificate`)!
  const seen = new Set<string>()
  const users = names(o.usernameHeaders, 'usernameHeaders', ['X-Remote-User'], false, seen)
  const groups = names(o.groupHeaders, 'groupHeaders', ['X-Remote-Group'], false, seen)
  const prefixes = names(o.extraHeaderPrefixes, 'extraHeaderPrefixes', ['X-Remote-Extra-'], true, seen)
  for (const name of [...users, ...groups]) {
    const shadow = prefixes.find((p) => name.startsWith(p))
    if (shadow !== undefined)
      throw new ClientCertConfigError(
        `${OPTION}.extraHeaderPrefixes`,
        `"${shadow}" also matches the header ${name}`,
      )
  }
  return {
    proxies:
      o.trustedProxies === undefined
        ? undefined
        : createProxyMatcher(o.trustedProxies, `${OPTION}.trustedProxies`, false),
    proxyCertificate: { rules, context },
    boundary: undefined,
    users,
    groups: new Set(groups),
    prefixes,
    canonicalNames: new Set([...users, ...groups]),
    canonicalPrefixes: prefixes,
  }
}

/** A list of header names (lower-cased), each used once across the three lists. */
function names(
  v: unknown,
  key: string,
  dflt: readonly string[],
  mayBeEmpty: boolean,
  seen: Set<string>,
): string[] {
  const option = `${OPTION}.${key}`
  const list = v === undefined ? dflt : v
  if (!Array.isArray(list) || (list.length === 0 && !mayBeEmpty))
    throw new ClientCertConfigError(option, 'must be a non-empty array of header names')
  return list.map((n: unknown, i) => {
    if (typeof n !== 'string' || !HEADER_NAME.test(n))
      throw new ClientCertConfigError(
        `${option}[${i}]`,
        'must be a header name (letters, digits and -; no _ , which proxies treat as -)',
      )
    const lower = n.toLowerCase()
    if (seen.has(lower)) throw new ClientCertConfigError(`${option}[${i}]`, `${n} is listed twice`)
    seen.add(lower)
    return lower
  })
}

/**
 * Reads the identity one request's proxy asserts. From anyone but an authenticated proxy, any
 * identity header (in any spelling) or forwarded-certificate header is an attack and rejects
 * the request.
 */
export function readRequestHeader(
  req: HeaderSource & { readonly socket?: unknown },
  rh: ResolvedRequestHeader,
  connection: ForwardedConnection,
): RequestHeaderRead {
  const socket = req.socket
  const lines = headerLines(req)
  if (!peerTrusted(rh, socket, connection) || connection.proxy === undefined) {
    const name = lines.find(([n]) => isOwn(canonicalName(n), rh))?.[0]
    const refused = name ?? (hasForwardedHeader(req) ? 'a forwarded-certificate header' : undefined)
    if (refused === undefined) return NONE
    publishForwardedRefused(() => ({
      peer: peerName(remoteAddressOf(socket)),
      header: refused.toLowerCase(),
      preset: 'request-header',
      why: 'untrusted-peer',
    }))
    return reject(
      'ERR_CLIENT_CERT_UNTRUSTED_PROXY',
      `${refused} sent by ${peerName(remoteAddressOf(socket))}, which is not an authenticated proxy: ${connection.refusal ?? `its address is not in ${OPTION}.trustedProxies`}`,
    )
  }
  const proxy = connection.proxy
  const users: (string[] | undefined)[] = rh.users.map(() => undefined)
  const groups: string[] = []
  const extra: Record<string, string[]> = Object.create(null) as Record<string, string[]>
  let count = 0
  for (const [name, value] of lines) {
    const lower = name.toLowerCase()
    const at = rh.users.indexOf(lower)
    const prefix = rh.prefixes.find((p) => lower.startsWith(p))
    if (at < 0 && !rh.groups.has(lower) && prefix === undefined) {
      if (isOwn(canonicalName(lower), rh)) {
        // The proxy strips and sets its headers by exact name; another spelling came from its client.
        publishForwardedRefused(() => ({
          peer: peerName(remoteAddressOf(socket)),
          header: lower.slice(0, 64),
          preset: 'request-header',
          why: 'spelling',
        }))
        return reject(
          'ERR_CLIENT_CERT_UNTRUSTED_PROXY',
          `header ${JSON.stringify(lower.slice(0, 64))} is not a spelling the proxy sets; it came from its client`,
        )
      }
      continue
    }
    if (++count > MAX_LINES)
      return reject('ERR_CLIENT_CERT_MALFORMED', `more than ${MAX_LINES} identity headers`)
    const checked = identityValue(lower, value)
    if (typeof checked !== 'string') return checked
    if (at >= 0) {
      const list = users[at] ?? []
      list.push(checked)
      users[at] = list
    } else if (prefix === undefined) groups.push(checked)
    else {
      // Underscores in a key would be another spelling of the same header to a proxy.
      if (lower.includes('_')) return reject('ERR_CLIENT_CERT_UNTRUSTED_PROXY', `header ${lower} holds _`)
      const key = extraKey(lower.slice(prefix.length))
      if (typeof key !== 'string') return key
      const values = extra[key] ?? []
      values.push(checked)
      extra[key] = values
    }
  }
  const first = users.find((u) => u !== undefined)
  if (first === undefined) {
    if (groups.length > 0 || Object.keys(extra).length > 0)
      return reject('ERR_CLIENT_CERT_MALFORMED', 'group or extra headers without a user header')
    return { kind: 'missing', reason: 'the proxy asserted no user' }
  }
  if (first.length > 1)
    return reject('ERR_CLIENT_CERT_MALFORMED', `the user header appears ${first.length} times`)
  const principal = requestHeaderPrincipal(first[0]!, groups, extra, proxy, {
    type: 'request-header',
    proxy: proxyAddress(socket),
    proxySubject: proxy.subject,
    proxySha256: proxy.sha256,
  })
  return {
    kind: 'user',
    verified: { path: [], principal, validFrom: proxy.validFrom, validUntil: proxy.validUntil },
  }
}

function isOwn(canonical: string, rh: ResolvedRequestHeader): boolean {
  return rh.canonicalNames.has(canonical) || rh.canonicalPrefixes.some((p) => canonical.startsWith(p))
}

/** Every header line as [name, value]: `rawHeaders` keeps repeated lines apart; `headers` arrays too. */
function headerLines(req: HeaderSource): [string, unknown][] {
  const raw = req.rawHeaders
  const out: [string, unknown][] = []
  if (Array.isArray(raw)) {
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]
      if (typeof name === 'string') out.push([name, raw[i + 1]])
    }
    return out
  }
  if (!isPlainObject(req.headers)) return out
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) for (const v of value) out.push([name, v])
    else out.push([name, value])
  }
  return out
}

function identityValue(
  name: string,
  value: unknown,
): string | Extract<RequestHeaderRead, { kind: 'reject' }> {
  const line = oneLine(name, value, MAX_VALUE_BYTES)
  if (line.kind !== 'value') return reject('ERR_CLIENT_CERT_MALFORMED', line.reason)
  try {
    return checkedId(line.value, `header ${name}`)
  } catch (err) {
    if (err instanceof IdentityError) return reject('ERR_CLIENT_CERT_MALFORMED', err.message)
    throw err
  }
}

/** The extra key: lower case (header names are case-insensitive), then percent-decoded, as Kubernetes does. */
function extraKey(raw: string): string | Extract<RequestHeaderRead, { kind: 'reject' }> {
  let key: string
  try {
    key = decodeURIComponent(raw)
  } catch {
    return reject('ERR_CLIENT_CERT_MALFORMED', 'an extra header key holds a bad percent escape')
  }
  try {
    return checkedId(key, 'an extra header key')
  } catch (err) {
    if (err instanceof IdentityError) return reject('ERR_CLIENT_CERT_MALFORMED', err.message)
    throw err
  }
}

function proxyAddress(socket: unknown): string {
  const remote = remoteAddressOf(socket)
  return typeof remote === 'string' ? normalise(remote) : 'unix'
}

const NONE: RequestHeaderRead = Object.freeze({ kind: 'none' })

function reject(code: ClientCertErrorCode, reason: string): Extract<RequestHeaderRead, { kind: 'reject' }> {
  return { kind: 'reject', code, reason }
}

const EMPTY_NAME = Object.freeze({ dn: '', rdns: Object.freeze([]) })
const EMPTY_SAN = Object.freeze({
  dns: Object.freeze([]),
  uri: Object.freeze([]),
  email: Object.freeze([]),
  ip: Object.freeze([]),
})

/**
 * A principal without a client certificate: the certificate fields are empty, so nothing that
 * matches certificates (pins, SPIFFE, RFC 8705 bindings) can match it, and `certificate` throws
 * rather than hand out the proxy's. Frozen, like every principal.
 */
function requestHeaderPrincipal(
  user: string,
  groups: readonly string[],
  extra: Record<string, string[]>,
  window: ProxyFacts,
  source: Extract<ClientPrincipal['source'], { type: 'request-header' }>,
): ClientPrincipal {
  const { validFrom, validUntil } = window
  const extras = Object.create(null) as Record<string, readonly string[]>
  for (const key of Object.keys(extra)) extras[key] = Object.freeze([...extra[key]!])
  const principal = {
    id: user,
    kind: 'request-header',
    groups: Object.freeze([...groups]),
    extra: Object.freeze(extras),
    subject: EMPTY_NAME,
    issuer: EMPTY_NAME,
    san: EMPTY_SAN,
    spiffeId: undefined,
    serialNumber: '',
    fingerprint256: '',
    x5tS256: '',
    spkiSha256: '',
    chain: Object.freeze([]),
    source: Object.freeze({ ...source }),
  }
  // Not enumerable: JSON.stringify(principal) skips them rather than throwing.
  Object.defineProperties(principal, {
    notBefore: { get: () => new Date(validFrom), enumerable: true },
    notAfter: { get: () => new Date(validUntil), enumerable: true },
    certificate: {
      get(): X509Certificate {
        throw new TypeError('a request-header principal has no client certificate (principal.kind)')
      },
      enumerable: false,
    },
  })
  return Object.freeze(principal) as unknown as ClientPrincipal
}
