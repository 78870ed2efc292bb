import type { X509Certificate } from '@peculiar/x509'
import type { DistinguishedName } from '../asn1/name.js'
import type { SubjectAltNames } from '../cert/parse.js'

/** Which certificate field the principal's `id` was taken from. */
export type PrincipalKind =
  | 'spiffe'
  | 'dns'
  | 'uri'
  | 'email'
  | 'ip'
  | 'subject'
  | 'cn'
  | 'kubernetes'
  | 'fingerprint'
  | 'spki'
  | 'custom'
  /** A user asserted by a certificate-authenticated front proxy (`source.requestHeader`); no client certificate. */
  | 'request-header'

/** Where the certificate came from: the TLS socket, or a header from an allowlisted proxy. */
export type PrincipalSource =
  | { readonly type: 'tls' }
  | {
      readonly type: 'forwarded'
      /** The forwarded format (preset name, or 'custom'). */
      readonly format: string
      /** The proxy's address (IPv4-mapped IPv6 normalised), or 'unix'. */
      readonly proxy: string
    }
  | {
      /** Kubernetes-style request headers (X-Remote-User, ...) from a front proxy (`source.requestHeader`). */
      readonly type: 'request-header'
      /** The proxy's address (IPv4-mapped IPv6 normalised), or 'unix'. */
      readonly proxy: string
      /** The subject DN of the proxy's certificate. */
      readonly proxySubject: string
      /** Lower-case hex SHA-256 of the proxy's certificate. */
      readonly proxySha256: string
    }

/**
 * The authenticated client. For `kind: 'request-header'` (a user asserted by a front proxy,
 * docs/guide/front-proxy.md) there is no client certificate: the certificate fields are empty
 * (`''`, empty names and SANs, no chain), `notBefore`/`notAfter` are the proxy certificate's
 * validated window, and reading `certificate` throws. Deeply immutable (every nested object and array is frozen; dates
 * are fresh copies on each read); shared by the requests of one connection and by cache hits.
 */
export interface ClientPrincipal {
  /** The identity policies compare, per the `identity` option (e.g. a SPIFFE ID or a CN). */
  readonly id: string
  readonly kind: PrincipalKind
  /** Group names for the `kubernetes` mapping (each O attribute), empty otherwise. */
  readonly groups: readonly string[]
  readonly subject: DistinguishedName
  readonly issuer: DistinguishedName
  readonly san: SubjectAltNames
  /** The certificate's SPIFFE ID when it is a valid X509-SVID (exactly one URI SAN, valid syntax). */
  readonly spiffeId?: string | undefined
  /** Lower-case hex, without leading zero bytes. */
  readonly serialNumber: string
  readonly notBefore: Date
  readonly notAfter: Date
  /** Lower-case hex SHA-256 of the certificate DER, no separators. */
  readonly fingerprint256: string
  /** base64url (no padding) SHA-256 of the certificate DER: RFC 8705 `cnf["x5t#S256"]`. */
  readonly x5tS256: string
  /** Lower-case hex SHA-256 of the SubjectPublicKeyInfo DER. */
  readonly spkiSha256: string
  /** The certificate as an @peculiar/x509 object (parsed on first access). */
  readonly certificate: X509Certificate
  /** The validated issuers, nearest first, anchor last; empty when the TLS stack alone verified the chain. */
  readonly chain: readonly X509Certificate[]
  readonly source: PrincipalSource
  /**
   * `request-header` principals only: the extra attributes the proxy asserted
   * (`X-Remote-Extra-<key>`: key lower-cased and percent-decoded, one value per header line).
   */
  readonly extra?: Readonly<Record<string, readonly string[]>>
}
