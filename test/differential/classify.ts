import { AT, type CertSpec, type ChainSpec } from './generate.js'
import type { Variant, Verdict } from './judge.js'

/**
 * Named reasons why the core and `openssl verify -x509_strict -purpose sslclient` may disagree
 * on a generated chain. Each rule says which side is stricter and is confirmed on the chain
 * itself (its shape, both verdicts, and where needed OpenSSL asked again another way), so a
 * disagreement that merely looks like a known one is not explained away. Every rule is
 * documented in docs/guide/path-validation.md ("Differential testing against OpenSSL").
 */

export interface Disagreement {
  readonly spec: ChainSpec
  readonly core: Verdict
  readonly openssl: Verdict
}

export interface Rule {
  /** Which validator refuses the chain. */
  readonly stricter: 'core' | 'openssl'
  readonly why: string
  /** Whether the rule explains this refusal (`refusal`: the stricter side's verdict). */
  readonly matches: (spec: ChainSpec, refusal: Verdict) => boolean
  /**
   * How to ask OpenSSL again without this rule; if OpenSSL then accepts (or refuses for another
   * named rule), the rule is confirmed. Without it the match alone decides.
   */
  readonly relax?: Variant
}

/** OpenSSL's "error N at D depth lookup" → [N, D]. */
function opensslError(v: Verdict): { code: number; depth: number } | undefined {
  const m = /^error (\d+) at (\d+) depth lookup/.exec(v.reason)
  return m ? { code: Number(m[1]), depth: Number(m[2]) } : undefined
}

const leaf = (spec: ChainSpec): CertSpec => spec.certs.at(-1) as CertSpec

/** An `-x509_strict` profile check on CA certificates that OpenSSL drops without the flag. */
function strictCheck(code: number): Pick<Rule, 'matches' | 'relax'> {
  return { matches: (_spec, v) => opensslError(v)?.code === code, relax: { strict: false } }
}

export const RULES: Readonly<Record<string, Rule>> = {
  'leaf-without-eku': {
    stricter: 'core',
    why: 'A leaf with no extendedKeyUsage is refused (`eku.allowMissing` defaults to false): the certificate must say it is for client authentication. OpenSSL reads a missing EKU as unrestricted (RFC 5280 §4.2.1.12).',
    matches: (spec, v) => /^ERR_CLIENT_CERT_EKU/.test(v.reason) && leaf(spec).eku === 'absent',
  },
  'ca-leaf': {
    stricter: 'core',
    why: 'A CA certificate (cA=TRUE) cannot authenticate a client (checkLeaf); OpenSSL accepts a CA certificate in leaf position for sslclient.',
    matches: (spec, v) => /is a CA certificate/.test(v.reason) && leaf(spec).bc === 'ca-true',
  },
  'duplicate-extension': {
    stricter: 'core',
    why: 'RFC 5280 §4.2: a certificate MUST NOT include an extension twice. The strict DER parser refuses such a certificate wherever it appears (a leaf is MALFORMED; an anchor or intermediate is a configuration error at startup). OpenSSL 3.0 accepted such chains in these runs whenever nothing else was wrong with them.',
    matches: (spec, v) =>
      /duplicate extension/.test(v.reason) &&
      spec.certs.some((c) => c.extra === 'duplicate-unknown' || c.extra === 'duplicate-bc'),
  },
  'keycertsign-without-ca': {
    stricter: 'core',
    why: "A certificate that asserts keyCertSign without cA=TRUE breaks RFC 5280 §4.2.1.9 and is refused as a client certificate. OpenSSL catches it under `-x509_strict` in a leaf it chains, but not in a self-signed leaf trusted as itself (the product's pin).",
    matches: (spec, v) =>
      /asserts keyCertSign without cA/.test(v.reason) && leaf(spec).ku === 'plus-keyCertSign',
  },
  'notafter-inclusive': {
    stricter: 'openssl',
    why: 'At exactly notAfter the core still accepts: RFC 5280 §4.1.2.5 defines the validity period as notBefore through notAfter inclusive. OpenSSL 3.0 treats notAfter itself as expired (and so may prefer another same-name issuer); one second earlier it agrees.',
    // OpenSSL prefers an issuer that is valid in time, so an issuer at its notAfter can also
    // surface as another same-name candidate's bad signature (7) or no issuer at all (20).
    matches: (spec, v) =>
      [10, 7, 20].includes(opensslError(v)?.code ?? 0) &&
      spec.certs.some((c) => c.validity === 'notAfter=at'),
    relax: { at: AT - 1000 },
  },
  'aki-is-a-hint': {
    stricter: 'openssl',
    why: "An authorityKeyIdentifier that does not match the issuer's key identifier does not break the path: the core finds issuers by name and proves them by signature, taking the AKI as a hint (RFC 5280 §4.2.1.1 makes it an aid to path construction; Go and webpki do the same). OpenSSL refuses such an issuer as a candidate.",
    // No relaxation: OpenSSL cannot be told to ignore the AKI, so what it would say next is unknown.
    matches: (spec, v) => {
      const e = opensslError(v)
      return (e?.code === 20 || e?.code === 2) && spec.certs.some((c) => c.keyIds === 'aki-mismatch')
    },
  },
  'openssl-self-issued-taken-as-root': {
    stricter: 'openssl',
    why: 'A self-issued intermediate (issuer name = subject name, as in a CA key rollover) without a subjectKeyIdentifier: OpenSSL 3.0 marks it self-signed from the names alone (there is no SKI to compare the AKI with) without checking its signature, and stops there as at an untrusted root. The core proves every issuer by its signature and treats self-issued certificates as RFC 5280 §6.1 does.',
    matches: (spec, v) =>
      opensslError(v)?.code === 19 && spec.certs.some((c) => c.selfIssued && c.keyIds === 'no-ski'),
  },
  'openssl-no-backtracking': {
    stricter: 'openssl',
    why: "Two offered certificates carry the issuer's name (a cross-signed intermediate whose other root is untrusted, a same-name decoy, or a self-issued intermediate) and nothing tells OpenSSL which one signed (no AKI, or the same key). The core builds paths with backtracking (RFC 4158) and tries every candidate; OpenSSL 3.0 keeps the first matching untrusted one, then fails on its signature or its missing root. With the intermediates offered in the other order OpenSSL agrees.",
    matches: (spec, v) => {
      const code = opensslError(v)?.code
      const sameNames = spec.topology !== 'plain' || spec.certs.some((c) => c.selfIssued)
      return sameNames && (code === 20 || code === 7)
    },
    relax: { reverse: true },
  },
  'anyeku-on-issuer': {
    stricter: 'openssl',
    why: 'An issuer whose EKU is anyExtendedKeyUsage does not restrict the path (RFC 5280 §4.2.1.12; Go reads it the same way). The leaf itself must still carry clientAuth. OpenSSL requires clientAuth in the EKU of every CA that has one.',
    matches: (spec, v) => {
      const e = opensslError(v)
      // Not by depth: with same-name issuers OpenSSL's depth may name another certificate.
      return e?.code === 26 && e.depth >= 1 && spec.certs.slice(0, -1).some((c) => c.eku === 'anyEKU')
    },
    // The core accepted, so the leaf passed its stricter EKU and keyUsage rules already.
    relax: { purpose: 'any' },
  },
  'strict-missing-aki': {
    stricter: 'openssl',
    why: 'Missing authorityKeyIdentifier: `-x509_strict` enforces this RFC 5280 §4.2.1.1 obligation on CAs; the core does not (nor do Go and webpki); OpenSSL without `-x509_strict` agrees.',
    ...strictCheck(85),
  },
  'strict-missing-ski': {
    stricter: 'openssl',
    why: 'Missing subjectKeyIdentifier in a CA certificate: an RFC 5280 §4.2.1.2 obligation on CAs, enforced only by `-x509_strict`.',
    ...strictCheck(86),
  },
  'strict-bc-not-critical': {
    stricter: 'openssl',
    why: 'A non-critical basicConstraints cA=TRUE is still honoured (RFC 5280 §4.2.1.9 asks CAs to mark it critical; Go and webpki accept it, so does OpenSSL without `-x509_strict`).',
    ...strictCheck(89),
  },
  'strict-ca-without-key-usage': {
    stricter: 'openssl',
    why: 'A CA certificate without a keyUsage extension may sign certificates: RFC 5280 §4.2.1.3 makes the extension a MUST for CAs, but §6.1.4 (n) only checks keyCertSign when the extension is present. Only `-x509_strict` refuses it.',
    ...strictCheck(92),
  },
  'strict-pathlen-without-keycertsign': {
    stricter: 'openssl',
    why: 'A pathLenConstraint in a CA without keyUsage: a §4.2.1.9 issuance rule that only `-x509_strict` enforces (the core still applies the path length itself).',
    ...strictCheck(81),
  },
}

/**
 * The rules that explain a disagreement; empty when none does. Where the core accepts, OpenSSL
 * is asked again with each matched rule relaxed in turn until it accepts: several rules can
 * stack on one chain, and each must be confirmed by OpenSSL itself.
 */
export async function explain(
  d: Disagreement,
  ask: (variant: Variant) => Promise<Verdict>,
): Promise<string[]> {
  if (!d.core.ok) {
    const name = Object.entries(RULES).find(
      ([, r]) => r.stricter === 'core' && r.matches(d.spec, d.core),
    )?.[0]
    return name === undefined ? [] : [name]
  }
  const names: string[] = []
  let relaxed: Variant = {}
  let verdict = d.openssl
  while (!verdict.ok) {
    const found = Object.entries(RULES).find(
      ([name, r]) => r.stricter === 'openssl' && !names.includes(name) && r.matches(d.spec, verdict),
    )
    if (found === undefined) return []
    const [name, rule] = found
    names.push(name)
    if (rule.relax === undefined) return names
    relaxed = { ...relaxed, ...rule.relax }
    verdict = await ask(relaxed)
  }
  return names
}

export const UNEXPLAINED = 'UNEXPLAINED'

/** Chains, agreements and each rule's count, as printed by both runs and kept in the guide. */
export function table(total: number, disagreements: number, byRule: ReadonlyMap<string, number>): string {
  const agreed = total - disagreements
  const pct = (n: number) => `${((100 * n) / total).toFixed(2)} %`
  const lines = [
    '| outcome | stricter | chains | share |',
    '| --- | --- | ---: | ---: |',
    `| agreement | – | ${agreed} | ${pct(agreed)} |`,
  ]
  for (const [name, count] of [...byRule].sort((a, b) => b[1] - a[1])) {
    const stricter = RULES[name]?.stricter ?? '?'
    lines.push(`| \`${name}\` | ${stricter} | ${count} | ${pct(count)} |`)
  }
  lines.push(`| **chains** (a disagreement can count under several rules) | | ${total} | |`)
  return lines.join('\n')
}
