import type { ParsedName } from '../asn1/name.js'
import type { GeneralName, GeneralSubtree, NameConstraints, ParsedCertificate } from '../cert/parse.js'

/**
 * RFC 5280 §4.2.1.10 / §6.1.4(g): each CA's name constraints apply to the subject DN and every
 * SAN of each certificate below it. Matching is on label, host or RDN boundaries only.
 */

const EMAIL_ATTR = '1.2.840.113549.1.9.1'

/** A reason string when `cert` violates `nc`, undefined when it complies. */
export function checkNameConstraints(cert: ParsedCertificate, nc: NameConstraints): string | undefined {
  const names = namesOf(cert)
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
    const m = matches(name, subtree)
    if (m === 'unsupported') return `${label} meets a name constraint form that is not supported`
    if (m) return `${label} is in an excluded subtree`
  }
  const permitted = (nc.permitted ?? []).filter((s) => sameForm(name, s.base))
  if (permitted.length === 0) return undefined
  let any = false
  for (const subtree of permitted) {
    const m = matches(name, subtree)
    if (m === 'unsupported') return `${label} meets a name constraint form that is not supported`
    if (m) any = true
  }
  return any ? undefined : `${label} is outside the permitted subtrees`
}

function sameForm(a: GeneralName, b: GeneralName): boolean {
  if (a.kind !== b.kind) return false
  if (a.kind === 'other' && b.kind === 'other') return a.tag === b.tag
  if (a.kind === 'ip' && b.kind === 'ip') return a.bytes.length * 2 === b.bytes.length
  return true
}

function matches(name: GeneralName, subtree: GeneralSubtree): boolean | 'unsupported' {
  const base = subtree.base
  if (!sameForm(name, base)) return false
  switch (name.kind) {
    case 'dns':
      return base.kind === 'dns' && dnsMatches(name.value, base.value)
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

function emailMatches(name: string, constraint: string): boolean {
  const at = name.lastIndexOf('@')
  if (at <= 0) return false
  const local = name.slice(0, at)
  const host = name.slice(at + 1).toLowerCase()
  if (constraint.includes('@')) {
    const cAt = constraint.lastIndexOf('@')
    return local === constraint.slice(0, cAt) && host === constraint.slice(cAt + 1).toLowerCase()
  }
  const c = constraint.toLowerCase()
  if (c.startsWith('.')) return host.endsWith(c) && host.length > c.length
  return host === c
}

function uriMatches(name: string, constraint: string): boolean {
  const host = uriHost(name)
  if (host === undefined) return false
  const c = constraint.toLowerCase()
  if (c.startsWith('.')) return host.endsWith(c) && host.length > c.length
  return host === c
}

/** The host of a URI with an authority; undefined otherwise (such a URI cannot meet a URI constraint). */
function uriHost(uri: string): string | undefined {
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(uri)
  if (!m) return undefined
  let authority = m[1]!
  const at = authority.lastIndexOf('@')
  if (at >= 0) authority = authority.slice(at + 1)
  if (authority.startsWith('[')) return undefined
  const host = authority.replace(/:\d*$/, '').toLowerCase()
  return host === '' ? undefined : host
}

function ipMatches(addr: Uint8Array, constraint: Uint8Array): boolean {
  const len = addr.length
  for (let i = 0; i < len; i++) {
    const mask = constraint[len + i]!
    if ((addr[i]! & mask) !== (constraint[i]! & mask)) return false
  }
  return true
}

/** A DN is within a DN subtree when the subtree's RDNs are a prefix of its RDNs. */
function dnMatches(name: ParsedName, base: ParsedName): boolean {
  const nameRdns = JSON.parse(name.matchKey) as string[][]
  const baseRdns = JSON.parse(base.matchKey) as string[][]
  if (baseRdns.length > nameRdns.length) return false
  return baseRdns.every((rdn, i) => JSON.stringify(rdn) === JSON.stringify(nameRdns[i]))
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
