import { KU, type ParsedCertificate } from '../cert/parse.js'
import { ClientCertConfigError } from '../errors.js'
import { parseSpiffeId } from '../identity/spiffe.js'
import { indexBySubject, type PathResult, type TrustStore } from '../validate/path.js'
import { checkKeyProfile } from '../validate/profile.js'
import { type CertificateInput, loadCertificates } from './load.js'

/**
 * Per-trust-domain anchors (SPIFFE federation). Pooling the bundles of several trust domains
 * into one anchor set lets the CA of `b.org` mint a certificate whose SPIFFE ID is in `a.org`,
 * and it would validate; go-spiffe's `x509svid.Verify` picks the bundle by the leaf's trust
 * domain, and so does {@link storeFor}.
 */
export interface SpiffeTrustOptions {
  /**
   * X.509 authorities per trust domain name (`'example.org'`, no scheme). A leaf whose SPIFFE ID
   * is in a trust domain is validated against that domain's bundle only; a trust domain left out
   * is not trusted (an empty object trusts none).
   */
  readonly bundles: Readonly<Record<string, CertificateInput | readonly CertificateInput[]>>
}

export interface ResolvedSpiffeTrust {
  readonly bundles: ReadonlyMap<string, readonly ParsedCertificate[]>
  readonly stores: ReadonlyMap<string, TrustStore>
  /** For leaves without a SPIFFE ID: `trust.anchors` alone. */
  readonly plain: TrustStore
}

type Failure = Extract<PathResult, { ok: false }>

export function resolveSpiffeTrust(
  v: unknown,
  plainAnchors: readonly ParsedCertificate[],
  intermediates: readonly ParsedCertificate[],
): ResolvedSpiffeTrust | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new ClientCertConfigError('trust.spiffe', 'expected { bundles: { "<trust domain>": anchors } }')
  const extra = Object.keys(v).find((k) => k !== 'bundles')
  if (extra !== undefined) throw new ClientCertConfigError(`trust.spiffe.${extra}`, 'is not an option')
  const raw = (v as { bundles?: unknown }).bundles
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ClientCertConfigError('trust.spiffe.bundles', 'expected an object of trust domain → anchors')
  const intermediateIndex = indexBySubject(intermediates)
  const bundles = new Map<string, readonly ParsedCertificate[]>()
  const stores = new Map<string, TrustStore>()
  for (const [td, input] of Object.entries(raw)) {
    const at = `trust.spiffe.bundles.${td}`
    const id = parseSpiffeId(`spiffe://${td}`)
    if (typeof id === 'string' || id.path !== '' || id.trustDomain !== td)
      throw new ClientCertConfigError(
        at,
        'is not a trust domain name (e.g. "example.org", without spiffe://)',
      )
    const certs = loadCertificates(input, at)
    if (certs.length === 0)
      throw new ClientCertConfigError(at, 'is empty; leave the trust domain out to stop trusting it')
    certs.forEach((c, i) => {
      if (c.basicConstraints?.ca !== true && c.version === 3)
        throw new ClientCertConfigError(`${at}[${i}]`, `"${c.subject.dn}" is not a CA certificate`)
      const bad = checkKeyProfile(c)
      if (bad) throw new ClientCertConfigError(`${at}[${i}]`, bad.reason)
    })
    bundles.set(td, certs)
    stores.set(td, { anchors: indexBySubject(certs), intermediates: intermediateIndex, leafRule: svidRule })
  }
  const plain: TrustStore =
    plainAnchors.length > 0
      ? { anchors: indexBySubject(plainAnchors), intermediates: intermediateIndex }
      : refusing('the certificate has no SPIFFE ID and trust.anchors is not set (only SPIFFE bundles are)')
  return { bundles, stores, plain }
}

/**
 * The anchors a leaf may be judged against. Without SPIFFE bundles: the configured store. With
 * them: the bundle of the leaf's trust domain, or `trust.anchors` for a leaf without a SPIFFE ID.
 * A leaf that is neither (a malformed SPIFFE ID, several URI SANs, a trust domain without a
 * bundle) gets a store that refuses it.
 */
export function storeFor(
  leaf: ParsedCertificate,
  spiffe: ResolvedSpiffeTrust | undefined,
  fallback: TrustStore,
): TrustStore {
  if (spiffe === undefined) return fallback
  const uris = leaf.san.uri
  // Any spelling of the scheme counts: "SPIFFE://a.org" must not slip through as "no SPIFFE ID".
  if (!uris.some((u) => /^spiffe:/i.test(u))) return spiffe.plain
  // X509-SVID §2: exactly one URI SAN, so the trust domain the store is chosen by is unambiguous.
  if (uris.length !== 1)
    return refusing(`the certificate has ${uris.length} URI SANs; an X509-SVID has exactly one`)
  const id = parseSpiffeId(uris[0]!)
  if (typeof id === 'string') return refusing(`the certificate's SPIFFE ID is malformed: ${id}`)
  return (
    spiffe.stores.get(id.trustDomain) ??
    refusing(`no SPIFFE bundle is configured for trust domain "${id.trustDomain}"`)
  )
}

/** X509-SVID §4.1–4.3 leaf rules, as go-spiffe's x509svid.Verify applies them. */
function svidRule(leaf: ParsedCertificate): Failure | undefined {
  if (leaf.basicConstraints?.ca === true)
    return {
      ok: false,
      code: 'ERR_CLIENT_CERT_BASIC_CONSTRAINTS',
      reason: 'an X509-SVID leaf must not be a CA',
    }
  const ku = leaf.keyUsage ?? 0
  if (ku & KU.keyCertSign)
    return {
      ok: false,
      code: 'ERR_CLIENT_CERT_KEY_USAGE',
      reason: 'an X509-SVID leaf must not have keyCertSign',
    }
  if (ku & KU.cRLSign)
    return { ok: false, code: 'ERR_CLIENT_CERT_KEY_USAGE', reason: 'an X509-SVID leaf must not have cRLSign' }
  return undefined
}

const EMPTY: ReadonlyMap<string, readonly ParsedCertificate[]> = new Map()

function refusing(reason: string): TrustStore {
  const failure: Failure = { ok: false, code: 'ERR_CLIENT_CERT_UNTRUSTED', reason }
  return { anchors: EMPTY, intermediates: EMPTY, leafRule: () => failure }
}
