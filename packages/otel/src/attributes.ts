/**
 * Attribute names from the OpenTelemetry semantic-conventions registry that this package sets.
 * The `tls.*` and `enduser.*` names are "development" stability in the registry (semantic
 * conventions 1.3x): they may still be renamed upstream. They are pinned here, in one list,
 * so a rename is one edit here and the tests assert every emitted registry name against it.
 */
export const SEMCONV_ATTRIBUTES = Object.freeze({
  /** RFC 4514 subject DN of the client certificate. Development. */
  TLS_CLIENT_SUBJECT: 'tls.client.subject',
  /** RFC 4514 issuer DN of the client certificate. Development. */
  TLS_CLIENT_ISSUER: 'tls.client.issuer',
  /** SHA-256 of the client certificate's DER, upper-case hex as the registry asks. Development. */
  TLS_CLIENT_HASH_SHA256: 'tls.client.hash.sha256',
  /** ISO 8601. Development. */
  TLS_CLIENT_NOT_BEFORE: 'tls.client.not_before',
  /** ISO 8601. Development. */
  TLS_CLIENT_NOT_AFTER: 'tls.client.not_after',
  /** Whether the TLS session was resumed. Development. */
  TLS_RESUMED: 'tls.resumed',
  /** `tls`. Development. */
  TLS_PROTOCOL_NAME: 'tls.protocol.name',
  /** `1.2`, `1.3`. Development. */
  TLS_PROTOCOL_VERSION: 'tls.protocol.version',
  /** The `ERR_CLIENT_CERT_*` code of a rejection. Stable. */
  ERROR_TYPE: 'error.type',
  /** The principal's id; only with `enduserId: true` (it identifies a person or a host). Development. */
  ENDUSER_ID: 'enduser.id',
  /** A refused forwarded header's sender. Stable. */
  NETWORK_PEER_ADDRESS: 'network.peer.address',
  /** A revocation fetch's URL. Stable. */
  URL_FULL: 'url.full',
} as const)

/** This package's own attributes (not in the registry), under `clientcert.*`. */
export const CLIENTCERT_ATTRIBUTES = Object.freeze({
  /** `accepted` or `rejected`. */
  OUTCOME: 'clientcert.outcome',
  /** `tls` or `forwarded`. */
  SOURCE: 'clientcert.source',
  /** The forwarded preset (`nginx`, `envoy-xfcc`, ...). */
  FORWARDED_PRESET: 'clientcert.forwarded.preset',
  /** `connection`, `cache` or `none` (validated now). */
  CACHED: 'clientcert.cached',
  /** How the principal's id was taken (`cn`, `spiffe`, ...). */
  PRINCIPAL_KIND: 'clientcert.principal.kind',
  /** A rejection's full reason (operator-facing; never sent to clients). */
  REASON: 'clientcert.reason',
  /** `untrusted-peer`, `spelling` or `own-certificate`. */
  REFUSED_WHY: 'clientcert.forwarded.refused.why',
  /** The refused header's name. */
  REFUSED_HEADER: 'clientcert.forwarded.refused.header',
  /** `crl` or `ocsp`. */
  REVOCATION_KIND: 'clientcert.revocation.kind',
  /** `anchor`, `intermediate`. */
  TRUST_KIND: 'clientcert.trust.kind',
  /** Subject DN of the trust certificate (or issuer DN of the CRL) a gauge reports. */
  TRUST_NAME: 'clientcert.trust.name',
  /** `configured` or `fetched`. */
  CRL_ORIGIN: 'clientcert.crl.origin',
} as const)

/** Metric instrument names. */
export const CLIENTCERT_METRICS = Object.freeze({
  DECISIONS: 'clientcert.decisions',
  DURATION: 'clientcert.authenticate.duration',
  CLIENT_DAYS_TO_EXPIRY: 'clientcert.client.certificate.days_to_expiry',
  TRUST_DAYS_TO_EXPIRY: 'clientcert.trust.days_to_expiry',
  CRL_DAYS_TO_NEXT_UPDATE: 'clientcert.crl.days_to_next_update',
  FORWARDED_REFUSED: 'clientcert.forwarded.refused',
  REVOCATION_FETCH_DURATION: 'clientcert.revocation.fetch.duration',
} as const)
