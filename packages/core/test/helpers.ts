/**
 * Shared test helpers for @clientcert/core: a pinned clock, path-validation option defaults,
 * a tiny independent DER encoder/mutator (so strictness tests do not reuse the reader under
 * test), and fake TLS sockets. Every certificate is generated at test time by
 * `@clientcert/testing`; nothing here holds certificate bytes.
 */
import { type ParsedCertificate, parseCertificate } from '../src/cert/parse.js'
import { indexBySubject, type PathOptions, type TrustStore } from '../src/validate/path.js'

/** The pinned clock every test file issues certificates against and validates at. */
export const NOW = new Date('2030-01-01T00:00:00Z')
export const NOW_MS = NOW.getTime()
export const MINUTE = 60_000
export const HOUR = 60 * MINUTE
export const DAY = 24 * HOUR

export const at = (offsetMs: number): Date => new Date(NOW_MS + offsetMs)

export const OIDS = {
  clientAuth: '1.3.6.1.5.5.7.3.2',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  basicConstraints: '2.5.29.19',
} as const

export function parsed(cert: { readonly der: Uint8Array }): ParsedCertificate {
  return parseCertificate(cert.der)
}

export function trustStore(
  anchors: ReadonlyArray<{ readonly der: Uint8Array }>,
  intermediates: ReadonlyArray<{ readonly der: Uint8Array }> = [],
): TrustStore {
  return {
    anchors: indexBySubject(anchors.map(parsed)),
    intermediates: indexBySubject(intermediates.map(parsed)),
  }
}

export function pathOptions(overrides: Partial<PathOptions> = {}): PathOptions {
  return {
    now: NOW_MS,
    skewMs: 0,
    maxDepth: 8,
    maxSignatureChecks: 64,
    // Unbounded unless a test is about it, so the other budget tests measure only their own.
    maxHintVerifyCost: Number.POSITIVE_INFINITY,
    requiredEku: OIDS.clientAuth,
    ...overrides,
  }
}

// ---------------------------------------------------------------------------------------------
// DER: an encoder and a structural mutator, independent of src/asn1/der.ts.
// ---------------------------------------------------------------------------------------------

export function concat(...parts: ReadonlyArray<Uint8Array | readonly number[]>): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => Array.from(p)))
}

/** Minimal DER length octets. */
export function derLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n)
  const bytes: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
  return Uint8Array.of(0x80 | bytes.length, ...bytes)
}

export function tlv(tag: number, ...content: ReadonlyArray<Uint8Array | readonly number[]>): Uint8Array {
  const body = concat(...content)
  return concat([tag], derLength(body.length), body)
}

/** DER OBJECT IDENTIFIER for a dotted string. */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map(Number)
  const body: number[] = []
  const push = (n: number) => {
    const out = [n & 0x7f]
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) out.unshift((v & 0x7f) | 0x80)
    body.push(...out)
  }
  push(arcs[0]! * 40 + arcs[1]!)
  for (const a of arcs.slice(2)) push(a)
  return tlv(0x06, body)
}

export interface Element {
  readonly tag: number
  readonly start: number
  readonly valueStart: number
  readonly end: number
}

/** Reads one definite-length element (the generator's output is DER, so nothing else occurs). */
export function element(buf: Uint8Array, offset: number): Element {
  const tag = buf[offset]!
  const first = buf[offset + 1]!
  let length = first
  let valueStart = offset + 2
  if (first >= 0x80) {
    length = 0
    for (let i = 0; i < (first & 0x7f); i++) length = length * 256 + buf[offset + 2 + i]!
    valueStart += first & 0x7f
  }
  return { tag, start: offset, valueStart, end: valueStart + length }
}

export function elementsIn(buf: Uint8Array, parent: Element): Element[] {
  const out: Element[] = []
  for (let pos = parent.valueStart; pos < parent.end; ) {
    const child = element(buf, pos)
    out.push(child)
    pos = child.end
  }
  return out
}

/**
 * Replaces the element at `path` (child indexes from the root) with what `replace` returns and
 * re-encodes every enclosing element with minimal lengths, so only the chosen element differs.
 */
export function replaceAt(
  der: Uint8Array,
  path: readonly number[],
  replace: (value: Uint8Array, el: Element) => Uint8Array,
): Uint8Array {
  const rebuild = (el: Element, rest: readonly number[]): Uint8Array => {
    if (rest.length === 0) return replace(der.subarray(el.valueStart, el.end), el)
    const kids = elementsIn(der, el)
    const [index, ...tail] = rest
    if (index === undefined || kids[index] === undefined) throw new Error(`no child ${index} at ${path}`)
    const parts = kids.map((k, i) => (i === index ? rebuild(k, tail) : der.subarray(k.start, k.end)))
    return tlv(el.tag, ...parts)
  }
  return rebuild(element(der, 0), path)
}

/** Path (child indexes from the root) to the `extnValue` OCTET STRING of extension `extOid`. */
export function extensionValuePath(der: Uint8Array, extOid: string): number[] {
  const root = element(der, 0)
  const tbs = elementsIn(der, root)[0]!
  const fields = elementsIn(der, tbs)
  const extIndex = fields.findIndex((f) => f.tag === 0xa3)
  if (extIndex < 0) throw new Error('certificate has no extensions')
  const seq = elementsIn(der, fields[extIndex]!)[0]!
  const exts = elementsIn(der, seq)
  const wanted = Buffer.from(oid(extOid))
  const n = exts.findIndex((e) => {
    const first = elementsIn(der, e)[0]!
    return Buffer.from(der.subarray(first.start, first.end)).equals(wanted)
  })
  if (n < 0) throw new Error(`extension ${extOid} not found`)
  const parts = elementsIn(der, exts[n]!)
  return [0, extIndex, 0, n, parts.length - 1]
}

// ---------------------------------------------------------------------------------------------
// Fake TLS sockets (the authenticator's socket is `unknown`, so fakes exercise every branch).
// ---------------------------------------------------------------------------------------------

export interface FakeSocket {
  encrypted?: unknown
  authorized?: unknown
  authorizationError?: unknown
  destroyed?: unknown
  getPeerX509Certificate?: () => { raw?: unknown } | undefined
  getPeerCertificate?: (detailed?: boolean) => { raw?: unknown } | null | undefined
  /** How often the peer certificate was read. */
  reads: number
}

/** A TLS socket the TLS stack accepted, presenting `der` (unless overridden). */
export function tlsSocket(der: Uint8Array | undefined, overrides: Partial<FakeSocket> = {}): FakeSocket {
  const socket: FakeSocket = {
    encrypted: true,
    authorized: true,
    authorizationError: null,
    destroyed: false,
    reads: 0,
    getPeerX509Certificate() {
      socket.reads++
      if (der === undefined) return undefined
      // Linked to itself, as Node links the root that ends a complete chain: the fake reports a
      // verified chain whose anchor is no bundled public root (see trust/public-roots.ts).
      const cert: { raw: Buffer; issuerCertificate?: unknown } = { raw: Buffer.from(der) }
      cert.issuerCertificate = cert
      return cert
    },
    ...overrides,
  }
  return socket
}
