import type { Suite, Testcase } from './load.js'
import { runPathOnly, type Verdict } from './ours.js'

/**
 * Which cases are judged, and how the few that are not count. Skips are by feature only; a
 * deviation is a case where the vector's expectation conflicts with a deliberate security
 * choice of the product, and is held out of the agreement rate by name, with its reason.
 */

/** Features the validator does not implement (README: a validator may skip these and must say so). */
export const SKIPPED_FEATURES: Readonly<Record<string, string>> = {
  'has-crl': 'revocation (CRL) checking is a later issue',
  'has-policy-constraints':
    'certificate policy processing is not implemented (the validator behaves as with initial-policy-set = anyPolicy and no explicit policy required, as Go and webpki do)',
  'has-cert-policies': 'certificate policy processing is not implemented (as above)',
  'pedantic-serial-number':
    'serial number length/sign: RFC 5280 §4.1.2.2 asks certificate users to handle such certificates gracefully',
  'pedantic-rfc5280':
    'authorityKeyIdentifier presence is an obligation on CAs (RFC 5280 §4.2.1.1), not enforced by the validator',
  'pedantic-webpki-eku':
    'CA/B Forum rules for server-certificate EKUs (no anyEKU or critical EKU in subscriber certs, no EKU in roots) do not apply to client certificates',
  'peer-name':
    'peer-name (hostname/IP) verification is out of scope for a client-certificate validator (vectors README)',
}

/**
 * Cases that need a skipped feature the vectors do not flag, each with its evidence. PKITS
 * ships CRLs with every case; in these the verdict comes from them (OpenSSL 3.0
 * `openssl verify` says OK without CRL checking and fails with `-crl_check_all -CRLfile`).
 */
const DERIVED_FEATURES: Readonly<Record<string, { feature: string; why: string }>> = {
  'pkits::t4.5.2::InvalidBasicSelfIssuedOldWithNewTest2': { feature: 'has-crl', why: 'EE is revoked' },
  'pkits::t4.5.5::InvalidBasicSelfIssuedNewWithOldTest5': {
    feature: 'has-crl',
    why: 'EE is revoked (CRL signed by the rolled-over key)',
  },
  'pkits::t4.5.7::InvalidBasicSelfIssuedCRLSigningKeyTest7': {
    feature: 'has-crl',
    why: 'EE is revoked (CRL signed by a separate CRL-signing key)',
  },
  'pkits::t4.7.4::InvalidkeyUsageCriticalcRLSignFalseTest4': {
    feature: 'has-crl',
    why: 'the CRL issuer lacks cRLSign, so revocation status is unknown',
  },
  'pkits::t4.7.5::InvalidkeyUsageNotCriticalcRLSignFalseTest5': {
    feature: 'has-crl',
    why: 'the CRL issuer lacks cRLSign, so revocation status is unknown',
  },
}

/** Features of a case: the vector's, plus derived ones. */
export function featuresOf(suite: Suite, tc: Testcase): string[] {
  const features = [...tc.features]
  const derived = DERIVED_FEATURES[tc.id]
  if (derived) features.push(derived.feature)
  // Go's verify_test expects a HostnameError here (errorCallback `expectHostnameError(...)`,
  // a closure, hence "func1"); the path itself is valid.
  if (suite === 'go-x509' && tc.description.includes('errorCallback=func1)')) features.push('peer-name')
  return features
}

export function derivedReason(id: string): string | undefined {
  return DERIVED_FEATURES[id]?.why
}

/**
 * Ambiguous rules (`conflicts_with`): we take the webpki reading throughout, which is also the
 * client-auth reading: a CA certificate is not a valid leaf, a leaf without EKU does not meet a
 * required EKU, and a non-critical nameConstraints extension is still enforced. The rfc5280::
 * side of each pair is set aside.
 */
export const CONFLICT_READING = 'webpki'

export function setAsideByConflict(tc: Testcase): boolean {
  return tc.conflicts_with.length > 0 && !tc.id.startsWith(`${CONFLICT_READING}::`)
}

export interface Deviation {
  readonly why: string
  readonly cases: readonly string[]
  /** Confirms the case still disagrees for this reason and no other. */
  readonly confirm: (suite: Suite, tc: Testcase, verdict: Verdict) => boolean
}

/** Deliberate security choices that some vectors expect otherwise. Keep this list tiny. */
export const DEVIATIONS: Readonly<Record<string, Deviation>> = {
  'ca-leaf': {
    why: 'A CA certificate (cA=TRUE) cannot authenticate a client (checkLeaf). RFC 5280 allows a CA in leaf position; the client-auth profile does not (the webpki reading of the conflicts_with pair rfc5280::ca-as-leaf / webpki::ca-as-leaf). The path itself validates: confirmed by buildPath alone.',
    cases: [
      'pathlen::validation-ignores-pathlen-in-leaf',
      'pkits::t4.6.8::ValidpathLenConstraintTest8',
      'pkits::t4.6.14::ValidpathLenConstraintTest14',
    ],
    confirm: (suite, tc, v) =>
      /is a CA certificate/.test(v.reason) && runPathOnly(suite, tc).result === 'SUCCESS',
  },
  'sha1-signatures': {
    why: 'SHA-1 certificate signatures are refused (practical chosen-prefix collisions, SHAttered 2017 / Shambles 2020). Go itself rejects them since 1.18; these vectors were produced with GODEBUG=x509sha1=1.',
    cases: [
      'go::verify::dnssec-exp',
      'go::verify::dnssec-exp-AnyEKU',
      'go::verify::dnssec-exp-RootInIntermediates',
      'go::verify::MultipleConstraints',
    ],
    confirm: (_suite, tc, v) => /does not verify/.test(v.reason) && tc.description.includes('SHA-1'),
  },
  dsa: {
    why: 'DSA keys and signatures are refused (FIPS 186-5 withdrew DSA for signing; TLS 1.3 has no DSA). The PKITS DSA certificates are also signed with dsaWithSHA1.',
    cases: ['pkits::t4.1.4::ValidDSASignaturesTest4', 'pkits::t4.1.5::ValidDSAParameterInheritanceTest5'],
    confirm: (_suite, _tc, v) => /dsa key|cannot be loaded/.test(v.reason),
  },
  'strict-generalname': {
    why: 'An element of a SAN or NameConstraints that is not a GeneralName CHOICE (Go writes its "unknown:" test name as universal tag 9) is malformed ASN.1: strict DER parsing refuses the certificate, as OpenSSL does, where Go skips unknown tags.',
    cases: ['go::nc::case-28', 'go::nc::case-29', 'go::nc::case-38', 'go::nc::case-39'],
    confirm: (_suite, _tc, v) => /unknown GeneralName choice/.test(v.reason),
  },
}

const DEVIATION_BY_CASE: ReadonlyMap<string, string> = new Map(
  Object.entries(DEVIATIONS).flatMap(([name, d]) => d.cases.map((id) => [id, name] as const)),
)

export function deviationOf(id: string): string | undefined {
  return DEVIATION_BY_CASE.get(id)
}

/**
 * Disagreements that stay counted as failures: RFC 5280 obligations on CAs, or CA/B Forum
 * root-profile rules, that this validator does not enforce on purpose, and two rules where
 * x509-limbo and go-x509 disagree with each other.
 */
export const KNOWN_DISAGREEMENTS: Readonly<Record<string, string>> = {
  'rfc5280::aki::leaf-missing-aki':
    'AKI presence is a CA obligation (RFC 5280 §4.2.1.1); not enforced, as in Go, OpenSSL and webpki',
  'rfc5280::aki::intermediate-missing-aki': 'as above',
  'rfc5280::ski::root-missing-ski':
    'SKI presence is a CA obligation (RFC 5280 §4.2.1.2); not enforced, as in Go, OpenSSL and webpki',
  'rfc5280::ski::intermediate-missing-ski': 'as above',
  'rfc5280::root-non-critical-basic-constraints':
    'a non-critical basicConstraints in a CA is accepted (Go, OpenSSL and webpki accept it; common in home-grown CAs)',
  'rfc5280::nc::invalid-dnsname-leading-period':
    'a leading-period DNS constraint (".example.com" = subdomains only) is honoured, as go-x509 cases 5–23 require',
  'rfc5280::san::underscore-dns':
    'SAN syntax is checked only when a name constraint applies (go-x509 case-77 requires malformed SANs to pass otherwise)',
  'rfc5280::san::ip-in-dns': 'as above',
  'webpki::aki::root-with-aki-missing-keyidentifier':
    'CA/B Forum root AKI profile (BR §7.1.2.1.3); the anchor is configuration, not checked against the BRs',
  'webpki::aki::root-with-aki-authoritycertissuer': 'as above',
  'webpki::aki::root-with-aki-authoritycertserialnumber': 'as above',
  'webpki::aki::root-with-aki-all-fields': 'as above',
  'webpki::aki::root-with-aki-ski-mismatch': 'as above',
}

export type Scope =
  | { readonly kind: 'skip'; readonly feature: string }
  | { readonly kind: 'conflict' }
  | { readonly kind: 'in' }

export function scopeOf(suite: Suite, tc: Testcase): Scope {
  const skipped = featuresOf(suite, tc).find((f) => SKIPPED_FEATURES[f] !== undefined)
  if (skipped !== undefined) return { kind: 'skip', feature: skipped }
  if (setAsideByConflict(tc)) return { kind: 'conflict' }
  return { kind: 'in' }
}
