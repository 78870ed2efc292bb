import { OID, type ParsedCertificate } from '../cert/parse.js'
import { onlyKeys, plainObject } from '../config-check.js'
import { ClientCertConfigError } from '../errors.js'
import { type CertificateInput, loadCertificates } from '../trust/load.js'
import { isBundledCertificate } from '../trust/public-roots.js'
import { checkLeaf, type EkuRule } from '../validate/leaf.js'
import { buildPath, indexBySubject, type TrustStore } from '../validate/path.js'
import { checkKeyProfile } from '../validate/profile.js'
import { MAX_HINT_VERIFY_COST, MAX_SIGNATURE_CHECKS, parseSent } from '../validate/verify.js'
import { peerChainDer, readSocket } from './tls.js'

/**
 * Front proxies that prove who they are with their own TLS client certificate (Kubernetes'
 * `--requestheader-client-ca-file` + `--requestheader-allowed-names`): the proxy's hop is
 * judged with the same path validator and leaf rules as a client, against a trust slot of its
 * own that is never pooled with the client anchors. See docs/guide/front-proxy.md.
 */

/** `source.forwarded.proxyCertificate`: how a proxy's own TLS client certificate is judged. */
export interface ProxyCertificateOptions {
  /** CAs that issue proxy certificates (PEM, DER or X509Certificate); never the client CAs. */
  readonly anchors: CertificateInput | readonly CertificateInput[]
  /** Intermediate CAs between a proxy certificate and `anchors`. */
  readonly intermediates?: CertificateInput | readonly CertificateInput[]
  /**
   * Names a proxy certificate must carry one of: its subject CN (exactly one CN, compared
   * exactly), a DNS SAN (compared without regard to ASCII case) or a URI SAN (compared exactly).
   * Omitted: every certificate that validates to `anchors` is a proxy. No wildcards.
   */
  readonly allowedNames?: readonly string[]
}

export interface ResolvedProxyCertificate {
  readonly anchors: readonly ParsedCertificate[]
  readonly intermediates: readonly ParsedCertificate[]
  readonly store: TrustStore
  /** The option's path, for messages. */
  readonly option: string
  /** Names as configured (CN, URI SAN) and lower-cased (DNS SAN); undefined: any name. */
  readonly allowedNames:
    | { readonly exact: ReadonlySet<string>; readonly dns: ReadonlySet<string> }
    | undefined
}

/** The clock and limits of the epoch the proxy is judged under. */
export interface ProxyJudgeContext {
  readonly now: () => number
  readonly skewMs: number
  readonly maxChainDepth: number
}

export type ProxyVerdict =
  | { readonly ok: true; readonly facts: ProxyFacts }
  /** `final`: the same certificate can never pass under this configuration (remembered per connection). */
  | { readonly ok: false; readonly reason: string; readonly final: boolean }

/** What an authenticated proxy's certificate says about it, for principals it vouches for. */
export interface ProxyFacts {
  readonly subject: string
  /** Lower-case hex SHA-256 of the proxy certificate. */
  readonly sha256: string
  /** The validated path's window: the proxy is trusted within it only. */
  readonly validFrom: number
  readonly validUntil: number
}

/** Proxy certificates always need clientAuth, whatever `eku` allows for clients. */
const PROXY_EKU: EkuRule = { required: OID.ekuClientAuth, allowAny: false, allowMissing: false }

export function resolveProxyCertificate(
  v: unknown,
  OPTION = 'source.forwarded.proxyCertificate',
): ResolvedProxyCertificate | undefined {
  if (v === undefined) return undefined
  const o = plainObject(v, OPTION)
  onlyKeys(o, ['anchors', 'intermediates', 'allowedNames'], `${OPTION}.`)
  if (o.anchors === undefined) throw new ClientCertConfigError(`${OPTION}.anchors`, 'is required')
  const anchors = loadCertificates(o.anchors, `${OPTION}.anchors`)
  if (anchors.length === 0) throw new ClientCertConfigError(`${OPTION}.anchors`, 'is empty')
  const intermediates = loadCertificates(o.intermediates, `${OPTION}.intermediates`)
  for (const [list, name] of [
    [anchors, 'anchors'],
    [intermediates, 'intermediates'],
  ] as const) {
    list.forEach((c, i) => {
      if (c.basicConstraints?.ca !== true && c.version === 3)
        throw new ClientCertConfigError(
          `${OPTION}.${name}[${i}]`,
          `"${c.subject.dn}" is not a CA certificate`,
        )
      const bad = checkKeyProfile(c)
      if (bad) throw new ClientCertConfigError(`${OPTION}.${name}[${i}]`, bad.reason)
    })
  }
  return {
    anchors,
    intermediates,
    store: { anchors: indexBySubject(anchors), intermediates: indexBySubject(intermediates) },
    allowedNames: resolveNames(o.allowedNames, `${OPTION}.allowedNames`, anchors),
    option: OPTION,
  }
}

function resolveNames(
  v: unknown,
  option: string,
  anchors: readonly ParsedCertificate[],
): ResolvedProxyCertificate['allowedNames'] {
  if (v === undefined) {
    // A public CA issues client certificates to anyone who asks: by itself it names no proxy.
    const publicRoot = anchors.find(isBundledCertificate)
    if (publicRoot !== undefined)
      throw new ClientCertConfigError(
        option,
        `is required: "${publicRoot.subject.dn}" is one of Node's bundled public roots, so any of its certificates would be a proxy`,
      )
    return undefined
  }
  // An empty list would read as "no proxy" to some and "any proxy" to others.
  if (!Array.isArray(v) || v.length === 0)
    throw new ClientCertConfigError(
      option,
      'must be a non-empty array of names (or left out to allow any name)',
    )
  const exact = new Set<string>()
  const dns = new Set<string>()
  v.forEach((n: unknown, i) => {
    if (typeof n !== 'string' || n.trim() === '' || n !== n.trim())
      throw new ClientCertConfigError(
        `${option}[${i}]`,
        'must be a non-blank name without surrounding spaces',
      )
    if (n.includes('*'))
      throw new ClientCertConfigError(
        `${option}[${i}]`,
        `"${n}": wildcards are not supported; list each name`,
      )
    exact.add(n)
    dns.add(n.toLowerCase())
  })
  return { exact, dns }
}

/**
 * The "proxy certificate from the client CA" trap: a CA in both slots makes every client a
 * proxy (or every proxy a client). Compared by public key, so a re-issued CA certificate with
 * the same key counts as the same CA.
 */
export function assertProxyTrustApart(
  proxy: ResolvedProxyCertificate,
  client: readonly ParsedCertificate[],
): void {
  const clientKeys = new Map(client.map((c) => [c.spkiSha256, c]))
  for (const [list, name] of [
    [proxy.anchors, 'anchors'],
    [proxy.intermediates, 'intermediates'],
  ] as const) {
    for (const c of list) {
      const same = clientKeys.get(c.spkiSha256)
      if (same !== undefined)
        throw new ClientCertConfigError(
          `${proxy.option}.${name}`,
          `"${c.subject.dn}" has the key of client trust CA "${same.subject.dn}"; proxy certificates need a CA of their own, or every client could act as a proxy`,
        )
    }
  }
}

/** Judges the socket's own certificate as a proxy certificate. Never throws. */
export function judgeProxyCertificate(
  socket: unknown,
  proxy: ResolvedProxyCertificate,
  ctx: ProxyJudgeContext,
): ProxyVerdict {
  try {
    const read = readSocket(socket)
    if (!read.ok)
      return { ok: false, reason: 'it presented no TLS client certificate', final: read.absent === true }
    const leaf = parseSent(read.der, 'the proxy certificate')
    if ('ok' in leaf) return { ok: false, reason: leaf.reason, final: true }
    const leafFailure = checkLeaf(leaf, PROXY_EKU)
    if (leafFailure) return { ok: false, reason: proxyWords(leafFailure.reason), final: true }
    const result = buildPath(leaf, proxy.store, hintsOf(socket), {
      now: ctx.now(),
      skewMs: ctx.skewMs,
      maxDepth: ctx.maxChainDepth,
      maxSignatureChecks: MAX_SIGNATURE_CHECKS,
      maxHintVerifyCost: MAX_HINT_VERIFY_COST,
      requiredEku: OID.ekuClientAuth,
    })
    if (!result.ok)
      return {
        ok: false,
        reason: `its certificate does not validate to ${proxy.option}.anchors (${proxyWords(result.reason)})`,
        // Only time can change the verdict on this connection; an exhausted search is as final
        // (the same chain against the same store), and judging it again per request would let a
        // peer spend the hint budget on every request.
        final: result.code !== 'ERR_CLIENT_CERT_NOT_YET_VALID',
      }
    if (proxy.allowedNames !== undefined && !nameAllowed(leaf, proxy.allowedNames))
      return {
        ok: false,
        reason: `its certificate "${leaf.subject.dn.slice(0, 200)}" carries no name in ${proxy.option}.allowedNames`,
        final: true,
      }
    return {
      ok: true,
      facts: {
        subject: leaf.subject.dn,
        sha256: leaf.fingerprint256,
        validFrom: result.validFrom,
        validUntil: result.validUntil,
      },
    }
  } catch (err) {
    return { ok: false, reason: `judging its certificate failed: ${String(err)}`, final: false }
  }
}

/** The CN when there is exactly one, every DNS SAN (lower-cased) and every URI SAN. */
function nameAllowed(
  leaf: ParsedCertificate,
  allowed: NonNullable<ResolvedProxyCertificate['allowedNames']>,
): boolean {
  const cns = leaf.subject.rdns.flat().filter((a) => a.oid === '2.5.4.3')
  if (cns.length === 1 && cns[0]!.isString && allowed.exact.has(cns[0]!.value)) return true
  if (leaf.san.dns.some((d) => allowed.dns.has(d.toLowerCase()))) return true
  return leaf.san.uri.some((u) => allowed.exact.has(u))
}

/** The chain the proxy sent besides its leaf: untrusted hints for the path search. */
function hintsOf(socket: unknown): ParsedCertificate[] {
  let ders: Uint8Array[]
  try {
    ders = peerChainDer(socket).slice(1)
  } catch {
    return []
  }
  const out: ParsedCertificate[] = []
  for (const der of ders) {
    const c = parseSent(der, 'a proxy chain certificate')
    if (!('ok' in c)) out.push(c)
  }
  return out
}

function proxyWords(reason: string): string {
  return reason.replaceAll('the client certificate', 'the proxy certificate')
}
