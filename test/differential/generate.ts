import type { webcrypto } from 'node:crypto'
import {
  type CertificateAuthority,
  type CertificateOptions,
  type CustomExtension,
  createRootCA,
  createSelfSigned,
  type ExtendedKeyUsageName,
  type GeneralSubtrees,
  generateKeyPair,
  type IssuedCertificate,
  type KeyAlgorithm,
  type KeyUsageName,
  type SignatureHash,
} from '@clientcert/testing'

/**
 * Seeded generator of certificate chains for the differential test against OpenSSL. The seed
 * decides every shape (what varies, and how); key material comes from a small pool generated
 * at run time (RSA 4096 takes seconds), so verdicts are reproducible from the seed alone.
 */

/** The pinned validation time: both validators judge every chain at this instant. */
export const AT = Date.UTC(2030, 0, 15, 12, 0, 0)
const HOUR = 3_600_000
const DAY = 24 * HOUR

/** mulberry32: tiny, fast, and good enough to pick shapes. */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

type Rng = () => number

function pick<T>(r: Rng, items: readonly T[]): T {
  return items[Math.floor(r() * items.length)] as T
}

/** Picks the default most of the time, one of the variations otherwise. */
function mostly<T>(r: Rng, p: number, normal: T, variations: readonly T[]): T {
  return r() < p ? normal : pick(r, variations)
}

// --- Key pool ------------------------------------------------------------------------------

export type KeyKind =
  | 'P-256'
  | 'P-384'
  | 'Ed25519'
  | 'RSA-2048'
  | 'RSA-3072'
  | 'RSA-4096'
  | 'RSA-2048-e3'
  | 'RSA-2048-e17'

const POOL_SIZES: Readonly<Record<KeyKind, number>> = {
  'P-256': 12,
  'P-384': 6,
  Ed25519: 6,
  'RSA-2048': 6,
  'RSA-3072': 1,
  'RSA-4096': 1,
  'RSA-2048-e3': 2,
  'RSA-2048-e17': 1,
}

export type KeyPool = ReadonlyMap<KeyKind, readonly webcrypto.CryptoKeyPair[]>

export async function createKeyPool(): Promise<KeyPool> {
  // Generated in parallel: WebCrypto runs on the libuv thread pool, and RSA 4096 dominates.
  const kinds = Object.entries(POOL_SIZES) as [KeyKind, number][]
  const generated = await Promise.all(
    kinds.map(([kind, size]) => {
      const [alg, e] = kind.split('-e') as [KeyAlgorithm, string | undefined]
      const opts = e === undefined ? {} : { publicExponent: Number(e) }
      return Promise.all(Array.from({ length: size }, () => generateKeyPair(alg, opts)))
    }),
  )
  return new Map(kinds.map(([kind], i) => [kind, generated[i] ?? []]))
}

// --- Chain specification -------------------------------------------------------------------

type ValidityShape =
  | 'normal'
  | 'expired'
  | 'not-yet-valid'
  | 'notBefore=at'
  | 'notAfter=at'
  | 'notAfter=at-1s'
  | 'notBefore=at+1s'
  | 'past-2050'
type BcShape = 'default' | 'non-critical' | 'absent' | 'ca-false' | 'pathlen-0' | 'pathlen-1' | 'ca-true'
type KuShape = 'default' | 'absent' | 'no-keyCertSign' | 'no-digitalSignature' | 'plus-keyCertSign'
type EkuShape = 'default' | 'absent' | 'clientAuth' | 'serverAuth' | 'anyEKU' | 'client+server' | 'email'
type KeyIdShape = 'default' | 'no-ski' | 'no-aki' | 'aki-mismatch'
type ExtraExtension =
  | 'none'
  | 'unknown-critical'
  | 'unknown-noncritical'
  | 'duplicate-unknown'
  | 'duplicate-bc'

export interface CertSpec {
  readonly role: 'root' | 'intermediate' | 'leaf'
  readonly key: KeyKind
  readonly hash: SignatureHash | undefined
  readonly validity: ValidityShape
  readonly generalizedTime: boolean
  readonly bc: BcShape
  readonly ku: KuShape
  readonly eku: EkuShape
  readonly keyIds: KeyIdShape
  readonly extra: ExtraExtension
  /** Name constraints this CA imposes (CAs only). */
  readonly nc: NcShape | undefined
  /** The subject's organisation: 'acme' falls inside the DN constraint, 'other' does not. */
  readonly org: 'acme' | 'other'
  /** SAN of a leaf. */
  readonly san: SanShape | undefined
  /** Subject equal to its issuer's (a self-issued intermediate, e.g. a key rollover). */
  readonly selfIssued: boolean
}

type NcShape = {
  readonly kind: 'permitted' | 'excluded'
  readonly trees: GeneralSubtrees
  readonly critical: boolean
}
type SanShape =
  | 'none'
  | 'dns-in'
  | 'dns-apex'
  | 'dns-out'
  | 'email-in'
  | 'email-sub'
  | 'email-out'
  | 'uri-in'
  | 'uri-out'
  | 'ip-in'
  | 'ip-out'

/** Other certificates offered alongside the chain. */
type Topology = 'plain' | 'decoy-same-name' | 'cross-signed' | 'cross-signed-only-anchor'

export interface ChainSpec {
  readonly index: number
  /** Root first, leaf last; a chain of 1 is a self-signed leaf that is itself the anchor. */
  readonly certs: readonly CertSpec[]
  readonly topology: Topology
}

const NC_CHOICES: readonly GeneralSubtrees[] = [
  { dns: ['example.com'] },
  { dns: ['.example.com'] },
  { dns: ['bad.example.com'] },
  { email: ['example.com'] },
  { email: ['.example.com'] },
  { email: ['alice@example.com'] },
  { uri: ['.example.com'] },
  { uri: ['example.com'] },
  { ip: ['10.0.0.0/8'] },
  { ip: ['::/0'] },
  { dn: ['O=acme'] },
]

const SAN_SHAPES: readonly SanShape[] = [
  'dns-in',
  'dns-apex',
  'dns-out',
  'email-in',
  'email-sub',
  'email-out',
  'uri-in',
  'uri-out',
  'ip-in',
  'ip-out',
]

function keyFor(r: Rng): KeyKind {
  return mostly<KeyKind>(r, 0.45, 'P-256', [
    'P-384',
    'Ed25519',
    'RSA-2048',
    'RSA-2048',
    'RSA-3072',
    'RSA-4096',
    'RSA-2048-e3',
    'RSA-2048-e17',
  ])
}

function hashFor(r: Rng, key: KeyKind): SignatureHash | undefined {
  if (key === 'Ed25519') return undefined
  return mostly<SignatureHash | undefined>(r, 0.7, undefined, ['SHA-256', 'SHA-384', 'SHA-512'])
}

/** Rates are per certificate; with up to five certificates most chains carry some variation. */
function certSpec(r: Rng, role: CertSpec['role'], depth: number): CertSpec {
  const ca = role !== 'leaf'
  const key = keyFor(r)
  return {
    role,
    key,
    hash: hashFor(r, key),
    validity: mostly<ValidityShape>(r, 0.88, 'normal', [
      'expired',
      'not-yet-valid',
      'notBefore=at',
      'notAfter=at',
      'notAfter=at-1s',
      'notBefore=at+1s',
      'past-2050',
    ]),
    generalizedTime: r() < 0.04,
    bc: ca
      ? mostly<BcShape>(r, 0.85, 'default', ['non-critical', 'absent', 'ca-false', 'pathlen-0', 'pathlen-1'])
      : mostly<BcShape>(r, 0.9, 'default', ['absent', 'ca-false', 'ca-true']),
    ku: mostly<KuShape>(
      r,
      0.9,
      'default',
      ca
        ? ['absent', 'no-keyCertSign', 'plus-keyCertSign']
        : ['absent', 'no-digitalSignature', 'plus-keyCertSign'],
    ),
    eku: ca
      ? mostly<EkuShape>(r, 0.85, 'absent', ['clientAuth', 'serverAuth', 'anyEKU', 'client+server'])
      : mostly<EkuShape>(r, 0.85, 'default', ['absent', 'serverAuth', 'anyEKU', 'client+server', 'email']),
    keyIds: mostly<KeyIdShape>(r, 0.92, 'default', ['no-ski', 'no-aki', 'aki-mismatch']),
    extra: mostly<ExtraExtension>(r, 0.93, 'none', [
      'unknown-critical',
      'unknown-noncritical',
      'duplicate-unknown',
      'duplicate-bc',
    ]),
    nc:
      ca && r() < 0.15
        ? { kind: r() < 0.6 ? 'permitted' : 'excluded', trees: pick(r, NC_CHOICES), critical: r() < 0.85 }
        : undefined,
    org: r() < 0.85 ? 'acme' : 'other',
    san: ca ? undefined : r() < 0.2 ? 'none' : r() < 0.5 ? pick(r, SAN_SHAPES) : 'dns-in',
    selfIssued: role === 'intermediate' && depth > 1 && r() < 0.06,
  }
}

export function chainSpec(seed: number, index: number): ChainSpec {
  const r = rng((seed * 1_000_003 + index) >>> 0)
  const length = pick(r, [1, 2, 2, 3, 3, 3, 4, 4, 5])
  if (length === 1) return { index, certs: [certSpec(r, 'leaf', 0)], topology: 'plain' }
  const certs: CertSpec[] = [certSpec(r, 'root', 0)]
  for (let i = 1; i < length - 1; i++) certs.push(certSpec(r, 'intermediate', i))
  certs.push(certSpec(r, 'leaf', length - 1))
  // OpenSSL is asked again one second early to confirm the notAfter boundary; a notBefore
  // boundary in the same chain would then fail for another reason.
  if (certs.some((c) => c.validity === 'notAfter=at')) {
    for (const [i, c] of certs.entries()) {
      if (c.validity === 'notBefore=at') certs[i] = { ...c, validity: 'normal' }
    }
  }
  const topology = mostly<Topology>(r, 0.85, 'plain', [
    'decoy-same-name',
    ...(length > 2 ? (['cross-signed', 'cross-signed-only-anchor'] as const) : []),
  ])
  return { index, certs, topology }
}

/** Short labels of what a chain varies, for the report and the deviation rules. */
export function features(spec: ChainSpec): string[] {
  const out: string[] = [`length=${spec.certs.length}`]
  if (spec.topology !== 'plain') out.push(`topology=${spec.topology}`)
  spec.certs.forEach((c, i) => {
    const at = c.role === 'leaf' ? 'leaf' : c.role === 'root' ? 'root' : `int${i}`
    if (c.key !== 'P-256') out.push(`${at}.key=${c.key}`)
    if (c.hash) out.push(`${at}.hash=${c.hash}`)
    if (c.validity !== 'normal') out.push(`${at}.validity=${c.validity}`)
    if (c.generalizedTime) out.push(`${at}.generalizedTime`)
    if (c.bc !== 'default') out.push(`${at}.bc=${c.bc}`)
    if (c.ku !== 'default') out.push(`${at}.ku=${c.ku}`)
    if (c.eku !== (c.role === 'leaf' ? 'default' : 'absent')) out.push(`${at}.eku=${c.eku}`)
    if (c.keyIds !== 'default') out.push(`${at}.keyIds=${c.keyIds}`)
    if (c.extra !== 'none') out.push(`${at}.extra=${c.extra}`)
    if (c.nc)
      out.push(`${at}.nc=${c.nc.kind}:${JSON.stringify(c.nc.trees)}${c.nc.critical ? '' : ':non-critical'}`)
    if (c.org !== 'acme') out.push(`${at}.org=${c.org}`)
    if (c.san && c.san !== 'dns-in') out.push(`${at}.san=${c.san}`)
    if (c.selfIssued) out.push(`${at}.selfIssued`)
  })
  return out
}

// --- Materialisation -------------------------------------------------------------------------

/** The PEM files both validators are given. */
export interface ChainFiles {
  readonly anchors: string
  readonly intermediates: readonly string[]
  readonly leaf: string
}

const UNKNOWN_OID = '1.3.6.1.4.1.55555.1.1'
const DER_NULL = new Uint8Array([0x05, 0x00])

function validity(shape: ValidityShape, ca: boolean): Pick<CertificateOptions, 'notBefore' | 'notAfter'> {
  const span = ca ? 365 * DAY : 30 * DAY
  const normal = { notBefore: new Date(AT - DAY), notAfter: new Date(AT + span) }
  switch (shape) {
    case 'normal':
      return normal
    case 'expired':
      return { notBefore: new Date(AT - span), notAfter: new Date(AT - HOUR) }
    case 'not-yet-valid':
      return { notBefore: new Date(AT + HOUR), notAfter: new Date(AT + span) }
    case 'notBefore=at':
      return { ...normal, notBefore: new Date(AT) }
    case 'notAfter=at':
      return { ...normal, notAfter: new Date(AT) }
    case 'notAfter=at-1s':
      return { ...normal, notAfter: new Date(AT - 1000) }
    case 'notBefore=at+1s':
      return { ...normal, notBefore: new Date(AT + 1000) }
    case 'past-2050':
      return { ...normal, notAfter: new Date(Date.UTC(2051, 5, 1)) }
  }
}

function basicConstraints(shape: BcShape, ca: boolean): CertificateOptions['basicConstraints'] {
  switch (shape) {
    case 'default':
      return ca ? { ca: true, critical: true } : { ca: false, critical: true }
    case 'non-critical':
      return { ca: true, critical: false }
    case 'absent':
      return null
    case 'ca-false':
      return { ca: false, critical: true }
    case 'ca-true':
      return { ca: true, critical: true }
    case 'pathlen-0':
      return { ca: true, pathLen: 0, critical: true }
    case 'pathlen-1':
      return { ca: true, pathLen: 1, critical: true }
  }
}

function keyUsage(shape: KuShape, ca: boolean): KeyUsageName[] | null {
  const normal: KeyUsageName[] = ca ? ['keyCertSign', 'cRLSign'] : ['digitalSignature']
  switch (shape) {
    case 'default':
      return normal
    case 'absent':
      return null
    case 'no-keyCertSign':
      return ['cRLSign', 'digitalSignature']
    case 'no-digitalSignature':
      return ['keyEncipherment']
    case 'plus-keyCertSign':
      return [...normal, ca ? 'digitalSignature' : 'keyCertSign']
  }
}

function eku(shape: EkuShape): ExtendedKeyUsageName[] | null {
  switch (shape) {
    case 'default':
    case 'clientAuth':
      return ['clientAuth']
    case 'absent':
      return null
    case 'serverAuth':
      return ['serverAuth']
    case 'anyEKU':
      return ['anyExtendedKeyUsage']
    case 'client+server':
      return ['clientAuth', 'serverAuth']
    case 'email':
      return ['emailProtection']
  }
}

function san(shape: SanShape | undefined): CertificateOptions['san'] {
  switch (shape) {
    case undefined:
    case 'none':
      return undefined
    case 'dns-in':
      return { dns: ['a.example.com'] }
    case 'dns-apex':
      return { dns: ['example.com'] }
    case 'dns-out':
      return { dns: ['bad.example.com'] }
    case 'email-in':
      return { email: ['alice@example.com'] }
    case 'email-sub':
      return { email: ['bob@mail.example.com'] }
    case 'email-out':
      return { email: ['mallory@evil.test'] }
    case 'uri-in':
      return { uri: ['spiffe://a.example.com/ns/prod'] }
    case 'uri-out':
      return { uri: ['https://evil.test/x'] }
    case 'ip-in':
      return { ip: ['10.1.2.3'] }
    case 'ip-out':
      return { ip: ['192.0.2.7'] }
  }
}

function extraExtensions(
  shape: ExtraExtension,
  bc: CertificateOptions['basicConstraints'],
): CustomExtension[] {
  switch (shape) {
    case 'none':
      return []
    case 'unknown-critical':
      return [{ oid: UNKNOWN_OID, critical: true, value: DER_NULL }]
    case 'unknown-noncritical':
      return [{ oid: UNKNOWN_OID, value: DER_NULL }]
    case 'duplicate-unknown':
      return [
        { oid: UNKNOWN_OID, value: DER_NULL },
        { oid: UNKNOWN_OID, value: DER_NULL },
      ]
    case 'duplicate-bc':
      // An empty SEQUENCE is basicConstraints cA=FALSE; with the built-in one it is a duplicate.
      return [{ oid: '2.5.29.19', critical: bc?.critical ?? false, value: new Uint8Array([0x30, 0x00]) }]
  }
}

function subjectOf(c: CertSpec, i: number, chain: number): string {
  // Every name carries the chain's index: chains judged in one OpenSSL batch cannot meet.
  const cn =
    c.role === 'leaf' ? `client ${chain}` : c.role === 'root' ? `Root ${chain}` : `Intermediate ${chain}.${i}`
  return `O=${c.org}, CN=${cn}`
}

class KeyPicker {
  readonly #used = new Map<KeyKind, number>()
  constructor(readonly pool: KeyPool) {}
  /** Distinct keys within a chain; a kind whose pool runs out falls back to P-256. */
  next(kind: KeyKind): webcrypto.CryptoKeyPair {
    const used = this.#used.get(kind) ?? 0
    const keys = this.pool.get(kind) ?? []
    if (used >= keys.length) {
      if (kind === 'P-256') throw new Error('key pool exhausted')
      return this.next('P-256')
    }
    this.#used.set(kind, used + 1)
    return keys[used] as webcrypto.CryptoKeyPair
  }
}

function options(
  c: CertSpec,
  subject: string,
  keys: webcrypto.CryptoKeyPair,
  serial: string,
  r: Rng,
  issuerKeys: webcrypto.CryptoKeyPair = keys,
): CertificateOptions {
  const ca = c.role !== 'leaf'
  const bc = basicConstraints(c.bc, ca)
  // The hash belongs to the issuer's signature: EdDSA has none to choose.
  const hash = issuerKeys.privateKey.algorithm.name === 'Ed25519' ? undefined : c.hash
  return {
    subject,
    keys,
    serialNumber: serial,
    ...(hash ? { signatureAlgorithm: hash } : {}),
    ...validity(c.validity, ca),
    ...(c.generalizedTime ? { validityEncoding: 'generalized' as const } : {}),
    basicConstraints: bc,
    keyUsage: keyUsage(c.ku, ca),
    eku: eku(c.eku),
    san: san(c.san),
    nameConstraints: c.nc ? { [c.nc.kind]: c.nc.trees, critical: c.nc.critical } : null,
    subjectKeyIdentifier: c.keyIds !== 'no-ski',
    authorityKeyIdentifier:
      c.keyIds === 'no-aki'
        ? false
        : c.keyIds === 'aki-mismatch'
          ? new Uint8Array(Array.from({ length: 20 }, () => Math.floor(r() * 256)))
          : true,
    extensions: extraExtensions(c.extra, bc),
  }
}

/** Builds the certificates a spec describes. Deterministic apart from key material and signatures. */
export async function materialise(spec: ChainSpec, pool: KeyPool): Promise<ChainFiles> {
  const r = rng(spec.index ^ 0x5eed)
  const keys = new KeyPicker(pool)
  let serial = 0
  const nextSerial = () => (0x1000 + spec.index * 16 + ++serial).toString(16)
  const [first] = spec.certs
  if (spec.certs.length === 1 && first) {
    const self = await createSelfSigned(
      options(first, subjectOf(first, 0, spec.index), keys.next(first.key), nextSerial(), r),
    )
    return { anchors: self.pem, intermediates: [], leaf: self.pem }
  }
  const rootSpec = spec.certs[0] as CertSpec
  const rootKeys = keys.next(rootSpec.key)
  const root = await createRootCA(
    options(rootSpec, subjectOf(rootSpec, 0, spec.index), rootKeys, nextSerial(), r),
  )
  let issuer: CertificateAuthority = root
  const intermediates: CertificateAuthority[] = []
  let subjects = [subjectOf(rootSpec, 0, spec.index)]
  for (let i = 1; i < spec.certs.length - 1; i++) {
    const c = spec.certs[i] as CertSpec
    const subject = c.selfIssued ? (subjects[i - 1] as string) : subjectOf(c, i, spec.index)
    subjects = [...subjects, subject]
    issuer = await issuer.issueIntermediate(
      options(c, subject, keys.next(c.key), nextSerial(), r, issuer.keys),
    )
    intermediates.push(issuer)
  }
  const leafSpec = spec.certs.at(-1) as CertSpec
  const leaf: IssuedCertificate = await issuer.issue(
    options(
      leafSpec,
      subjectOf(leafSpec, 0, spec.index),
      keys.next(leafSpec.key),
      nextSerial(),
      r,
      issuer.keys,
    ),
  )
  const offered = intermediates.map((c) => c.pem)
  let anchors = root.pem
  const top = intermediates[0]
  const topSpec = spec.certs[1] as CertSpec
  if (spec.topology === 'decoy-same-name') {
    // Same name as the leaf's issuer, another key: a path builder must not stop at the name.
    const decoy = await root.issueIntermediate({
      subject: subjects.at(-1) as string,
      keys: keys.next('P-256'),
      serialNumber: nextSerial(),
      notBefore: new Date(AT - DAY),
      notAfter: new Date(AT + 365 * DAY),
    })
    offered.unshift(decoy.pem)
  } else if (top && (spec.topology === 'cross-signed' || spec.topology === 'cross-signed-only-anchor')) {
    // The first intermediate, cross-signed by a second root: same subject and key.
    const other = await createRootCA({
      subject: `O=acme, CN=Other Root ${spec.index}`,
      keys: keys.next('P-256'),
      serialNumber: nextSerial(),
      notBefore: new Date(AT - DAY),
      notAfter: new Date(AT + 365 * DAY),
    })
    const cross = await other.issueIntermediate(
      options(topSpec, subjects[1] as string, top.keys, nextSerial(), r, other.keys),
    )
    offered.push(cross.pem)
    if (spec.topology === 'cross-signed-only-anchor') anchors = other.pem
  }
  return { anchors, intermediates: offered, leaf: leaf.pem }
}
