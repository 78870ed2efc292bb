import { createHash } from 'node:crypto'
import { rootCertificates } from 'node:tls'

/**
 * Node's bundled Mozilla root store. A server without `ca` verifies client certificates against
 * it, and a public CA vouches for names, not for clients: a chain that ends there proves only
 * that someone bought a certificate. The fingerprints are computed on first use (about 150 PEM
 * decodes), never at import.
 */
let fingerprints: ReadonlySet<string> | undefined

function sha256(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex')
}

function bundled(): ReadonlySet<string> {
  if (fingerprints === undefined) {
    const set = new Set<string>()
    for (const pem of rootCertificates) {
      const body = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '')
      set.add(sha256(Buffer.from(body, 'base64')))
    }
    fingerprints = set
  }
  return fingerprints
}

/** True when the DER certificate is one of Node's bundled public roots. */
export function isBundledRoot(der: Uint8Array): boolean {
  return bundled().has(sha256(der))
}

/**
 * Whether a principal's path ends in a bundled public root. Asked only for policies that name
 * nobody, so a policy naming clients costs nothing. An app-validated path was judged when it
 * was built (`publicRoot`); for a TLS-verified principal the chain is read from the request's
 * socket once per principal, and a request without a readable chain counts as public.
 */
export function anchoredPublicly<P extends object>(
  principal: P,
  request: unknown,
  known: { readonly publicRoot: WeakMap<P, boolean>; readonly tlsVerified: WeakSet<P> },
  peerChain: (socket: unknown) => Uint8Array[],
): boolean {
  const answer = known.publicRoot.get(principal)
  if (answer !== undefined) return answer
  if (!known.tlsVerified.has(principal)) return false
  let chain: Uint8Array[]
  try {
    const socket =
      typeof request === 'object' && request !== null ? (request as { socket?: unknown }).socket : undefined
    chain = peerChain(socket)
  } catch {
    return true
  }
  const found = chain.some(isBundledRoot)
  known.publicRoot.set(principal, found)
  return found
}

/** What to tell the operator when a policy naming nobody meets a publicly anchored client. */
export function publicRootFix(policy: string): string {
  return (
    "the client certificate chains to one of Node's bundled public roots, and the policy " +
    `${policy} does not name who is allowed: give the HTTPS server your own client CA ` +
    "(createMtlsServerOptions({ clientCa }) or the server's `ca` option), or name the allowed clients " +
    '(ids, spiffe, dnsSuffix, pins, groups)'
  )
}
