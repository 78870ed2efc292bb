// @peculiar/x509 needs the Reflect metadata polyfill loaded first. This is the one global side
// effect of the core (so package.json makes no "sideEffects": false claim). It is loaded eagerly:
// a lazy require() would hand ESM users the CommonJS build of X509Certificate, breaking
// `principal.certificate instanceof X509Certificate`; its cost is paid once at import, not per request.
import 'reflect-metadata'
import { X509Certificate } from '@peculiar/x509'
import { KU, type ParsedCertificate } from '../cert/parse.js'
import { isThenable } from '../maybe-promise.js'
import type { ClientPrincipal, PrincipalKind, PrincipalSource } from './principal.js'
import { parseSpiffeId } from './spiffe.js'

/** Built-in identity mappings; see docs/guide/identity.md. */
export type IdentityName =
  | 'spiffe'
  | 'san-dns'
  | 'san-uri'
  | 'san-email'
  | 'san-ip'
  | 'subject'
  | 'cn'
  | 'kubernetes'
  | 'fingerprint'
  | 'spki'

/** What a custom identity function sees: the principal without `id`, `kind` and `groups`. */
export type CertificateFacts = Omit<ClientPrincipal, 'id' | 'kind' | 'groups'>

/** A custom mapping; a throw, or anything but a non-empty string, rejects the request. */
export type IdentityFunction = (facts: CertificateFacts) => string | Promise<string>

export type IdentityMapping = IdentityName | IdentityFunction

export const IDENTITY_NAMES: readonly IdentityName[] = [
  'spiffe',
  'san-dns',
  'san-uri',
  'san-email',
  'san-ip',
  'subject',
  'cn',
  'kubernetes',
  'fingerprint',
  'spki',
]

export interface MappedIdentity {
  readonly id: string
  readonly kind: PrincipalKind
  readonly groups: readonly string[]
}

/** Thrown (internally) when a certificate has no usable identity under the mapping. */
export class IdentityError extends Error {}

const CN = '2.5.4.3'
const O = '2.5.4.10'

/**
 * The SPIFFE ID of a valid X509-SVID leaf (X509-SVID §2, §4.3: exactly one URI SAN with a
 * valid ID; keyUsage digitalSignature, and neither keyCertSign nor cRLSign), or why it is not one.
 */
export function svidOf(cert: ParsedCertificate): string | { reason: string } {
  if (cert.san.uri.length !== 1)
    return { reason: `an X509-SVID has exactly one URI SAN, this certificate has ${cert.san.uri.length}` }
  const parsed = parseSpiffeId(cert.san.uri[0]!)
  if (typeof parsed === 'string') return { reason: `invalid SPIFFE ID: ${parsed}` }
  const ku = cert.keyUsage
  if (ku === undefined || (ku & KU.digitalSignature) === 0)
    return { reason: 'an X509-SVID leaf must have keyUsage digitalSignature' }
  if (ku & (KU.keyCertSign | KU.cRLSign))
    return { reason: 'an X509-SVID leaf must not have keyCertSign or cRLSign' }
  return parsed.id
}

export function facts(
  cert: ParsedCertificate,
  chain: readonly ParsedCertificate[],
  source: PrincipalSource,
): CertificateFacts {
  const svid = svidOf(cert)
  // The lazy getters keep only DER bytes alive, not the parsed certificates (cache memory).
  const der = cert.der
  const chainDer = chain.map((c) => c.der)
  let x509: X509Certificate | undefined
  let chainX509: readonly X509Certificate[] | undefined
  const notBefore = cert.notBefore
  const notAfter = cert.notAfter
  // Deeply frozen copies: a principal is cached and shared by every request it admits, so
  // one request's handler must not be able to change what a policy sees for the next one.
  return Object.freeze({
    subject: frozenCopy({ dn: cert.subject.dn, rdns: cert.subject.rdns }),
    issuer: frozenCopy({ dn: cert.issuer.dn, rdns: cert.issuer.rdns }),
    san: frozenCopy(cert.san),
    spiffeId: typeof svid === 'string' ? svid : undefined,
    serialNumber: cert.serialNumber,
    // A Date cannot be frozen (setTime still works), so each read gets its own.
    get notBefore(): Date {
      return new Date(notBefore)
    },
    get notAfter(): Date {
      return new Date(notAfter)
    },
    fingerprint256: cert.fingerprint256,
    x5tS256: cert.x5tS256,
    spkiSha256: cert.spkiSha256,
    get certificate(): X509Certificate {
      x509 ??= new X509Certificate(der)
      return x509
    },
    get chain(): readonly X509Certificate[] {
      chainX509 ??= Object.freeze(chainDer.map((d) => new X509Certificate(d)))
      return chainX509
    },
    source: frozenCopy(source),
  })
}

/** A deep copy of plain objects and arrays of primitives, frozen at every level. */
function frozenCopy<T>(value: T): T {
  if (Array.isArray(value)) return Object.freeze(value.map(frozenCopy)) as T
  if (typeof value !== 'object' || value === null) return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k] = frozenCopy(v)
  return Object.freeze(out) as T
}

/** Applies a built-in mapping; throws IdentityError with the reason when there is no usable identity. */
export function mapBuiltin(name: IdentityName, cert: ParsedCertificate): MappedIdentity {
  switch (name) {
    case 'spiffe':
      return { id: spiffeIdentity(cert), kind: 'spiffe', groups: [] }
    case 'san-dns':
      return { id: exactlyOne(cert.san.dns, 'DNS'), kind: 'dns', groups: [] }
    case 'san-uri':
      return { id: exactlyOne(cert.san.uri, 'URI'), kind: 'uri', groups: [] }
    case 'san-email':
      return { id: exactlyOne(cert.san.email, 'email'), kind: 'email', groups: [] }
    case 'san-ip':
      return { id: exactlyOne(cert.san.ip, 'IP'), kind: 'ip', groups: [] }
    case 'subject':
      if (cert.subject.rdns.length === 0) throw new IdentityError('the subject DN is empty')
      return { id: cert.subject.dn, kind: 'subject', groups: [] }
    case 'cn':
      return { id: singleCn(cert), kind: 'cn', groups: [] }
    case 'kubernetes':
      return { id: singleCn(cert), kind: 'kubernetes', groups: organisations(cert) }
    case 'fingerprint':
      return { id: cert.fingerprint256, kind: 'fingerprint', groups: [] }
    case 'spki':
      return { id: cert.spkiSha256, kind: 'spki', groups: [] }
  }
}

function spiffeIdentity(cert: ParsedCertificate): string {
  const svid = svidOf(cert)
  if (typeof svid !== 'string') throw new IdentityError(svid.reason)
  return svid
}

function exactlyOne(values: readonly string[], what: string): string {
  if (values.length !== 1) throw new IdentityError(`expected exactly one ${what} SAN, found ${values.length}`)
  return checkedId(values[0]!, `${what} SAN`)
}

/** Exactly one CN, in a single-valued RDN: several CNs are ambiguous, never an array. */
function singleCn(cert: ParsedCertificate): string {
  const cns = cert.subject.rdns.flatMap((rdn) =>
    rdn.filter((a) => a.oid === CN).map((a) => ({ a, multi: rdn.length > 1 })),
  )
  if (cns.length !== 1) throw new IdentityError(`expected exactly one CN in the subject, found ${cns.length}`)
  const only = cns[0]!
  if (only.multi) throw new IdentityError('the CN is part of a multi-valued RDN')
  if (!only.a.isString) throw new IdentityError('the CN is not a string')
  return checkedId(only.a.value, 'CN')
}

function organisations(cert: ParsedCertificate): string[] {
  const out: string[] = []
  for (const rdn of cert.subject.rdns) {
    for (const a of rdn) {
      if (a.oid !== O) continue
      if (!a.isString) throw new IdentityError('an O attribute is not a string')
      out.push(checkedId(a.value, 'O'))
    }
  }
  return out
}

/** Identity values never hold control characters (they end up in logs and comparisons). */
export function checkedId(value: string, what: string): string {
  if (value === '') throw new IdentityError(`${what} is empty`)
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u001f\u007f-\u009f]/.test(value))
    throw new IdentityError(`${what} contains control characters`)
  return value
}

/**
 * Maps a validated certificate to its identity with the configured mapping: a built-in one
 * synchronously, a user function (sync or async) whose result must be a valid id string.
 * Throws (or rejects with) `IdentityError` or the function's own error.
 */
export function mapIdentity(
  identity: IdentityMapping,
  leaf: ParsedCertificate,
  base: CertificateFacts,
): MappedIdentity | Promise<MappedIdentity> {
  if (typeof identity !== 'function') return mapBuiltin(identity, leaf)
  const custom = (id: unknown): MappedIdentity => {
    if (typeof id !== 'string') throw new IdentityError('the identity function returned no string')
    return { id: checkedId(id, 'the custom identity'), kind: 'custom', groups: [] }
  }
  const id: unknown = identity(base)
  return isThenable(id) ? Promise.resolve(id).then(custom) : custom(id)
}

/** The principal: the certificate's facts and its mapped identity, frozen (it is cached and shared). */
export function buildPrincipal(base: CertificateFacts, mapped: MappedIdentity): ClientPrincipal {
  return Object.freeze(
    Object.assign(Object.create(null, Object.getOwnPropertyDescriptors(base)), {
      id: mapped.id,
      kind: mapped.kind,
      groups: Object.freeze([...mapped.groups]),
    }),
  ) as ClientPrincipal
}
