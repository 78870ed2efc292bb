import type { ParsedName } from '../asn1/name.js'
import type { GeneralName, GeneralSubtree, NameConstraints, ParsedCertificate } from '../cert/parse.js'

/**
 * RFC 5280 §4.2.1.10 / §6.1.4(g): each CA's name constraints apply to the subject DN and every
 * SAN of each certificate below it. Matching is on label, host or RDN boundaries only.
 */

const EMAIL_ATTR = '1.2.840.113549.1.9.1'

/**
 * Most name-against-subtree comparisons one path validation may spend, as Go's
 * `maxConstraintComparisons`: a CA with thousands of subtrees over a leaf with thousands of
 * names is a quadratic denial of service (x509-limbo `nc-dos-*`), refused before any work.
 */
export const MAX_NAME_CONSTRAINT_CHECKS = 250_000

/** What is left of the comparison budget; shared by every check of one path search. */
export interface NameCheckBudget {
  left: number
}

/** A reason string when `cert` violates `nc`, undefined when it complies. */
export function checkNameConstraints(
  cert: ParsedCertificate,
  nc: NameConstraints,
  budget: NameCheckBudget = { left: MAX_NAME_CONSTRAINT_CHECKS },
): string | undefined {
  const names = namesOf(cert)
  const cost = names.length * ((nc.permitted?.length ?? 0) + (nc.excluded?.length ?? 0))
  budget.left -= cost
  if (budget.left < 0) return `checking ${names.length} names needs more than the name constraint budget`
  // A SAN that does not parse cannot be shown to be inside or outside a subtree (Go rejects such
  // chains too): e.g. DNS ".example.com" or email "a@b@example.com" under "example.com".
  for (const san of cert.sanNames) {
    if (!wellFormed(san))
      return `${describe(san)} is malformed and cannot be checked against name constraints`
  }
  for (const name of names) {
    const reason = checkName(name, nc)
    if (reason !== undefined) return reason
  }
  return undefined
}

function namesOf(cert: ParsedCertificate): GeneralName[] {
  const names: GeneralName[] = [...cert.sanNames]
  if (cert.subject.rdns.length > 0) names.push({ kind: 'dn', name: cert.subject })
  // Legacy emailAddress attributes in the subject are constrained as rfc822Names (§4.2.1.10).
  for (const rdn of cert.subject.rdns) {
    for (const attr of rdn) if (attr.oid === EMAIL_ATTR) names.push({ kind: 'email', value: attr.value })
  }
  return names
}

function checkName(name: GeneralName, nc: NameConstraints): string | undefined {
  const label = describe(name)
  for (const subtree of nc.excluded ?? []) {
    const m = matches(name, subtree, 'excluded')
    if (m === 'unsupported') return `${label} meets a name constraint form that is not supported`
    if (m) return `${label} is in an excluded subtree`
  }
  const permitted = (nc.permitted ?? []).filter((s) => s.base.kind === name.kind && sameOther(name, s.base))
  if (permitted.length === 0) return undefined
  let any = false
  for (const subtree of permitted) {
    const m = matches(name, subtree, 'permitted')
    if (m === 'unsupported') return `${label} meets a name constraint form that is not supported`
    if (m) any = true
  }
  return any ? undefined : `${label} is outside the permitted subtrees`
}

function sameOther(a: GeneralName, b: GeneralName): boolean {
  return a.kind !== 'other' || b.kind !== 'other' || a.tag === b.tag
}

function matches(
  name: GeneralName,
  subtree: GeneralSubtree,
  kind: 'permitted' | 'excluded',
): boolean | 'unsupported' {
  const base = subtree.base
  if (name.kind !== base.kind || !sameOther(name, base)) return false
  switch (name.kind) {
    case 'dns':
      if (base.kind !== 'dns') return false
      return kind === 'excluded' ? dnsMayMatch(name.value, base.value) : dnsMatches(name.value, base.value)
    case 'email':
      return base.kind === 'email' && emailMatches(name.value, base.value)
    case 'uri':
      return base.kind === 'uri' && uriMatches(name.value, base.value)
    case 'ip':
      return base.kind === 'ip' && ipMatches(name.bytes, base.bytes)
    case 'dn':
      return base.kind === 'dn' && dnMatches(name.name, base.name)
    case 'other':
      return 'unsupported'
  }
}

/** `example.com` permits `example.com` and `a.example.com`; `.example.com` only subdomains. */
export function dnsMatches(name: string, constraint: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '')
  const c = constraint.toLowerCase()
  if (c === '') return true
  if (c.startsWith('.')) return n.endsWith(c) && n.length > c.length
  return n === c || n.endsWith(`.${c}`)
}

/**
 * For excluded subtrees a wildcard SAN counts as every name it could stand for:
 * `*.example.com` meets an exclusion of `bar.example.com`, because a peer name
 * `bar.example.com` would match the wildcard (CVE-2025-61727).
 */
function dnsMayMatch(name: string, constraint: string): boolean {
  if (dnsMatches(name, constraint)) return true
  if (!name.startsWith('*.')) return false
  const parent = name.slice(2).toLowerCase().replace(/\.$/, '')
  const c = constraint.toLowerCase().replace(/^\./, '')
  const dot = c.indexOf('.')
  return dot > 0 && c.slice(dot + 1) === parent
}

/** RFC 1034 §3.5 / RFC 1123 §2.1 labels (underscores tolerated), optionally a leading `*.`. */
const DNS_NAME =
  /^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.?$/i

function isDnsName(name: string): boolean {
  return name.length <= 254 && DNS_NAME.test(name)
}

function wellFormed(name: GeneralName): boolean {
  if (name.kind === 'dns') return isDnsName(name.value)
  if (name.kind === 'email') return parseMailbox(name.value) !== undefined
  return true
}

const ATEXT = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+$/

/**
 * RFC 5321 §4.1.2 Mailbox: a dot-atom or quoted-string local part, `@`, a domain. Returns the
 * local part with quoting removed, so `"\f\o\o"@example.com` is `foo@example.com` (as in Go).
 */
function parseMailbox(mailbox: string): { local: string; domain: string } | undefined {
  const at = mailbox.lastIndexOf('@')
  if (at <= 0) return undefined
  const rawLocal = mailbox.slice(0, at)
  const domain = mailbox.slice(at + 1)
  if (!isDnsName(domain) || domain.startsWith('*')) return undefined
  const local = rawLocal.startsWith('"') ? unquote(rawLocal) : rawLocal
  if (local === undefined) return undefined
  if (!rawLocal.startsWith('"') && !rawLocal.split('.').every((atom) => ATEXT.test(atom))) return undefined
  return { local, domain: domain.toLowerCase() }
}

function unquote(quoted: string): string | undefined {
  if (quoted.length < 2 || !quoted.endsWith('"')) return undefined
  let out = ''
  for (let i = 1; i < quoted.length - 1; i++) {
    let ch = quoted[i]!
    if (ch === '\\') {
      ch = quoted[++i] ?? ''
      if (i >= quoted.length - 1) return undefined
    } else if (ch === '"') {
      return undefined
    }
    const code = ch.charCodeAt(0)
    if (code < 0x20 || code > 0x7e) return undefined
    out += ch
  }
  return out
}

/** A mailbox constraint matches exactly, a host constraint that host, `.host` its subdomains. */
function emailMatches(name: string, constraint: string): boolean {
  const box = parseMailbox(name)
  if (box === undefined) return false
  if (constraint === '') return true
  if (constraint.includes('@')) {
    const c = parseMailbox(constraint)
    return c !== undefined && box.local === c.local && box.domain === c.domain
  }
  const c = constraint.toLowerCase()
  if (c.startsWith('.')) return box.domain.endsWith(c) && box.domain.length > c.length
  return box.domain === c
}

/** URI constraints name a host; a URI without one (or with an IP literal) cannot be judged. */
function uriMatches(name: string, constraint: string): boolean | 'unsupported' {
  const host = uriHost(name)
  if (host === undefined) return 'unsupported'
  const c = constraint.toLowerCase()
  if (c === '') return true
  if (c.startsWith('.')) return host.endsWith(c) && host.length > c.length
  return host === c
}

/** The host of a URI with an authority; undefined otherwise. */
function uriHost(uri: string): string | undefined {
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(uri)
  if (!m) return undefined
  let authority = m[1]!
  const at = authority.lastIndexOf('@')
  if (at >= 0) authority = authority.slice(at + 1)
  if (authority.startsWith('[')) return undefined
  const host = authority.replace(/:\d*$/, '').toLowerCase()
  if (host === '' || /^[\d.]+$/.test(host)) return undefined
  return host
}

/** An address meets a constraint of its own family only (RFC 5280 §4.2.1.10: 8 or 32 octets). */
function ipMatches(addr: Uint8Array, constraint: Uint8Array): boolean {
  const len = addr.length
  if (constraint.length !== len * 2) return false
  for (let i = 0; i < len; i++) {
    const mask = constraint[len + i]!
    if ((addr[i]! & mask) !== (constraint[i]! & mask)) return false
  }
  return true
}

const rdnCache = new WeakMap<ParsedName, readonly string[]>()

/** One comparable string per RDN (the RFC 5280 §7.1 match key of its attributes). */
function rdnKeys(name: ParsedName): readonly string[] {
  let keys = rdnCache.get(name)
  if (keys === undefined) {
    keys = (JSON.parse(name.matchKey) as string[][]).map((rdn) => JSON.stringify(rdn))
    rdnCache.set(name, keys)
  }
  return keys
}

/** A DN is within a DN subtree when the subtree's RDNs are a prefix of its RDNs. */
function dnMatches(name: ParsedName, base: ParsedName): boolean {
  const nameRdns = rdnKeys(name)
  const baseRdns = rdnKeys(base)
  if (baseRdns.length > nameRdns.length) return false
  return baseRdns.every((rdn, i) => rdn === nameRdns[i])
}

function describe(name: GeneralName): string {
  switch (name.kind) {
    case 'dns':
      return `DNS name "${name.value}"`
    case 'email':
      return `email "${name.value}"`
    case 'uri':
      return `URI "${name.value}"`
    case 'ip':
      return 'IP address'
    case 'dn':
      return `DN "${name.name.dn}"`
    case 'other':
      return 'name'
  }
}
