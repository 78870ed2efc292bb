import { createHash } from 'node:crypto'
import { rootCertificates } from 'node:tls'
import { children, expectTag, raw, readRoot, TAG } from '../asn1/der.js'
import type { ParsedCertificate } from '../cert/parse.js'
import type { PeerChain } from '../sources/tls.js'
import { loadCertificates, pemToDer } from './load.js'

/**
 * Node's bundled Mozilla root store. A server without `ca` verifies client certificates against
 * it, and a public CA vouches for names, not for clients: a chain that ends there proves only
 * that someone bought a certificate. A root is recognised by its key, not only by its exact
 * certificate: a re-issued or cross-signed certificate of a public root's key (other validity,
 * other serial) is the same public CA. The fingerprints are computed on first use, never at
 * import, by hashing each root and its SubjectPublicKeyInfo (`fingerprintsOf`): a full parse
 * of the ≈140 roots took 50–60 ms, which the first app-validated request of a process waited for.
 */
let fingerprints: { readonly certs: ReadonlySet<string>; readonly keys: ReadonlySet<string> } | undefined

function bundled(): NonNullable<typeof fingerprints> {
  if (fingerprints === undefined) {
    const certs = new Set<string>()
    const keys = new Set<string>()
    for (const pem of rootCertificates) {
      for (const der of pemToDer(pem, 'tls.rootCertificates')) {
        const f = fingerprintsOf(der)
        certs.add(f.cert)
        if (f.key !== undefined) keys.add(f.key)
      }
    }
    fingerprints = { certs, keys }
  }
  return fingerprints
}

/**
 * A certificate's SHA-256 fingerprint and its key's (the hash of the SubjectPublicKeyInfo's
 * DER, as `parseCertificate` gives them), found by walking the TBSCertificate's fields without
 * parsing the rest: all that recognising a bundled root needs. A certificate whose fields cannot
 * be walked has no key hash and is known by its fingerprint alone.
 */
export function fingerprintsOf(der: Uint8Array): {
  readonly cert: string
  readonly key: string | undefined
} {
  const cert = createHash('sha256').update(der).digest('hex')
  try {
    const [tbs] = children(der, expectTag(readRoot(der), TAG.SEQUENCE, 'Certificate'))
    const fields = children(der, expectTag(tbs, TAG.SEQUENCE, 'TBSCertificate'))
    // version [0] (optional), serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
    const spki = expectTag(fields[fields[0]?.tag === 0xa0 ? 6 : 5], TAG.SEQUENCE, 'subjectPublicKeyInfo')
    return { cert, key: createHash('sha256').update(raw(der, spki)).digest('hex') }
  } catch {
    return { cert, key: undefined }
  }
}

/** True when the certificate is one of Node's bundled public roots, or carries the key of one. */
export function isBundledCertificate(c: ParsedCertificate): boolean {
  const known = bundled()
  return known.certs.has(c.fingerprint256) || known.keys.has(c.spkiSha256)
}

/**
 * The same for DER bytes (a chain the TLS stack reports), by the two hashes alone: a certificate
 * whose fields cannot be walked is judged by its exact fingerprint.
 */
export function isBundledRoot(der: Uint8Array): boolean {
  const known = bundled()
  const f = fingerprintsOf(der)
  return known.certs.has(f.cert) || (f.key !== undefined && known.keys.has(f.key))
}

/**
 * Whether a principal's path ends in a bundled public root. Asked only for policies that name
 * nobody, so a policy naming clients costs nothing. An app-validated path was judged when it
 * was built (`publicRoot`); for a TLS-verified principal the chain is read from the request's
 * socket once per principal. A chain Node reports complete is judged by its root. A chain it
 * reports cut short (only the leaf: see `PeerChain.complete`) is judged by the trust the server
 * verified it with (`serverTrustIsPrivate`). A request without a readable chain counts as public.
 */
export function anchoredPublicly<P extends object>(
  principal: P,
  request: unknown,
  known: { readonly publicRoot: WeakMap<P, boolean>; readonly tlsVerified: WeakSet<P> },
  peerChain: (socket: unknown) => PeerChain,
): boolean {
  const answer = known.publicRoot.get(principal)
  if (answer !== undefined) return answer
  if (!known.tlsVerified.has(principal)) return false
  let found: boolean
  try {
    const socket =
      typeof request === 'object' && request !== null ? (request as { socket?: unknown }).socket : undefined
    const chain = peerChain(socket)
    found = chain.complete ? chain.ders.some(isBundledRoot) : !serverTrustIsPrivate(socket)
  } catch {
    return true
  }
  known.publicRoot.set(principal, found)
  return found
}

/** Per server: the `ca` value last judged and the answer, recomputed when `ca` is replaced. */
const judgedServers = new WeakMap<object, { readonly ca: unknown; readonly private: boolean }>()

/**
 * True only when the TLS server that verified this socket provably trusts no public root:
 * its own `ca` (as `https.createServer`/`setSecureContext` record it on the server), made only
 * of self-issued certificates none of which is bundled, and no SNI context that could have
 * verified with another store (`addContext`, an `SNICallback` other than a private one made by
 * `createMtlsServerOptions`). Anything else — no `ca` (Node's
 * default store), a `secureContext` given directly, an intermediate in `ca` (a partial chain
 * could end there), an unreadable value, Node internals not where they were — is "not provably
 * private". Reads Node's server fields, so it fails towards a refusal when they move.
 */
function serverTrustIsPrivate(socket: unknown): boolean {
  const server =
    typeof socket === 'object' && socket !== null ? (socket as { server?: unknown }).server : undefined
  if (typeof server !== 'object' || server === null) return false
  const s = server as { _contexts?: unknown; ca?: unknown }
  if (!Array.isArray(s._contexts) || s._contexts.length > 0) return false
  const sni = Object.getOwnPropertySymbols(server).find((k) => k.description === 'snicallback')
  if (sni === undefined) return false
  const callback = (server as Record<symbol, unknown>)[sni]
  if (callback !== undefined && !(typeof callback === 'function' && privateSniCallbacks.has(callback)))
    return false
  const known = judgedServers.get(server)
  if (known !== undefined && known.ca === s.ca) return known.private
  const answer = caIsPrivate(s.ca)
  judgedServers.set(server, { ca: s.ca, private: answer })
  return answer
}

/**
 * SNICallbacks made by `createMtlsServerOptions({ sni })` whose every context trusts private
 * roots only (checked when they were made): whichever context verified a client, the store was
 * private. Module-local on purpose: a registry others could write would let them loosen this.
 */
const privateSniCallbacks = new WeakSet<object>()

/** Records that every context `callback` can select trusts private roots only. */
export function markPrivateSni(callback: object): void {
  privateSniCallbacks.add(callback)
}

/**
 * A server's `ca` option: every certificate self-issued and none bundled. Read with the loader
 * of configured anchors (trust/load.ts); anything it refuses is not provably private.
 */
export function caIsPrivate(ca: unknown): boolean {
  let certs: ReturnType<typeof loadCertificates>
  try {
    certs = loadCertificates(ca, 'ca')
  } catch {
    return false
  }
  return certs.length > 0 && certs.every((c) => c.selfIssued && !isBundledCertificate(c))
}

/** What to tell the operator when a policy naming nobody meets a publicly anchored client. */
export function publicRootFix(policy: string): string {
  return (
    "the client certificate's verified chain ends at one of Node's bundled public roots, or the TLS " +
    'stack did not report the chain and the server trust that verified it may hold one, and the policy ' +
    `${policy} does not name who is allowed: give the HTTPS server your own client CA ` +
    "(createMtlsServerOptions({ clientCa }) or the server's `ca` option), or name the allowed clients " +
    '(ids, spiffe, dnsSuffix, pins, groups)'
  )
}
