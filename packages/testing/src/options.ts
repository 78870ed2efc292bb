import type { webcrypto } from 'node:crypto'

/**
 * Key algorithms supported by the factory. `'P-256'` is the default (fast to generate); RSA 3072
 * and 4096 take seconds each to generate, so generate them once and pass them as `keys`.
 */
export type KeyAlgorithm = 'P-256' | 'P-384' | 'RSA-2048' | 'RSA-3072' | 'RSA-4096' | 'Ed25519'

/** Options of `generateKeyPair`. */
export interface KeyGenerationOptions {
  /**
   * RSA public exponent (default 65537), e.g. 3 or 17 for the unusual exponents some validators
   * mishandle. Must be odd and at least 3; ignored for non-RSA algorithms.
   */
  publicExponent?: number
}

/**
 * How the validity dates are encoded. `'rfc5280'` (default) follows RFC 5280 §4.1.2.5: UTCTime
 * through 2049, GeneralizedTime from 2050. `'generalized'` uses GeneralizedTime for every date,
 * which RFC 5280 forbids before 2050 (a CA mistake validators should notice or tolerate).
 */
export type ValidityEncoding = 'rfc5280' | 'generalized'

/** Hash used for the certificate signature (ECDSA and RSA issuers only; Ed25519 has none). */
export type SignatureHash = 'SHA-256' | 'SHA-384' | 'SHA-512'

/**
 * One attribute of a relative distinguished name.
 *
 * `type` is a short name (`CN`, `O`, `OU`, `C`, `L`, `ST`, `DC`, `E`, `SN`, `G`, `T`) or a dotted
 * OID such as `'2.5.4.5'`. `E` and `DC` values are encoded as IA5String, `C` as PrintableString,
 * others as PrintableString when possible and UTF8String otherwise.
 */
export interface NameAttribute {
  /** Attribute type: short name or dotted OID. */
  type: 'CN' | 'O' | 'OU' | 'C' | 'L' | 'ST' | 'DC' | 'E' | (string & {})
  /** Attribute value. */
  value: string
}

/** Subject alternative names (all optional). */
export interface SubjectAltNames {
  /** dNSName entries, e.g. `'localhost'`. */
  dns?: string[]
  /** uniformResourceIdentifier entries, e.g. `'spiffe://example.org/ns/prod/sa/api'`. */
  uri?: string[]
  /** rfc822Name entries. */
  email?: string[]
  /** iPAddress entries, IPv4 or IPv6, e.g. `'127.0.0.1'`, `'::1'`. */
  ip?: string[]
}

/** Subtrees of a name constraints extension. */
export interface GeneralSubtrees {
  /** DNS name constraints, e.g. `'example.com'` or `'.example.com'`. */
  dns?: string[]
  /** rfc822 constraints: a mailbox, a host, or `'.domain'`. */
  email?: string[]
  /** URI host constraints, e.g. `'.example.org'`. */
  uri?: string[]
  /** IP ranges in CIDR notation, e.g. `'10.0.0.0/8'` or `'::1/128'` (encoded as address + mask). */
  ip?: string[]
  /** Directory name constraints as DN strings, e.g. `'O=acme, C=US'`. */
  dn?: string[]
}

/** Extended key usage names understood by the factory; any other string is taken as an OID. */
export type ExtendedKeyUsageName =
  | 'clientAuth'
  | 'serverAuth'
  | 'emailProtection'
  | 'codeSigning'
  | 'timeStamping'
  | 'ocspSigning'
  | 'anyExtendedKeyUsage'

/** Key usage bits. */
export type KeyUsageName =
  | 'digitalSignature'
  | 'nonRepudiation'
  | 'keyEncipherment'
  | 'dataEncipherment'
  | 'keyAgreement'
  | 'keyCertSign'
  | 'cRLSign'
  | 'encipherOnly'
  | 'decipherOnly'

/** An arbitrary extension, e.g. an unknown critical extension. */
export interface CustomExtension {
  /** Extension OID. */
  oid: string
  /** Criticality flag (default `false`). */
  critical?: boolean
  /** DER content of `extnValue` (the bytes inside the OCTET STRING). */
  value: Uint8Array
}

/**
 * Options for a certificate. Every profile (`issueClient`, `issueServer`, ...) starts from its own
 * defaults; a property set to `undefined` keeps the default and `null` removes the extension.
 */
export interface CertificateOptions {
  /**
   * Subject DN. Either a string such as `'CN=alice, O=acme'` (RDNs in DER order, i.e. the order
   * OpenSSL and `node:crypto` print them; `+` joins a multi-valued RDN) or an explicit RDN list
   * such as `[[{ type: 'CN', value: 'a' }], [{ type: 'CN', value: 'b' }]]`. `''` or `[]` is an
   * empty subject.
   */
  subject?: string | NameAttribute[][]
  /** Subject alternative names. Marked critical automatically when the subject is empty. */
  san?: SubjectAltNames
  /** Extended key usages (names or OIDs); `null` omits the extension. */
  eku?: Array<ExtendedKeyUsageName | (string & {})> | null
  /** Key usage bits (extension is always critical); `null` omits the extension. */
  keyUsage?: KeyUsageName[] | null
  /** Basic constraints (`critical` defaults to `true`); `null` omits the extension. */
  basicConstraints?: { ca: boolean; pathLen?: number; critical?: boolean } | null
  /** Name constraints (`critical` defaults to `true`). */
  nameConstraints?: { permitted?: GeneralSubtrees; excluded?: GeneralSubtrees; critical?: boolean } | null
  /**
   * Extra extensions appended after the built-in ones. An OID that is already present (e.g.
   * `'2.5.29.19'`) is added again, which gives a certificate with a duplicate extension.
   */
  extensions?: CustomExtension[]
  /** Explicit start of validity (wins over `validity`). */
  notBefore?: Date
  /** Explicit end of validity (wins over `validity`). */
  notAfter?: Date
  /**
   * Validity relative to `now`: starts at `now + startOffsetSeconds` and lasts `days + hours`.
   * Profile defaults: leaf certificates 1 day starting 1 hour before `now`, CAs 30 days.
   */
  validity?: { days?: number; hours?: number; startOffsetSeconds?: number }
  /** The clock validity is relative to (default `new Date()`). */
  now?: Date
  /** Algorithm of the generated key pair (default `'P-256'`); ignored when `keys` is given. */
  keyAlgorithm?: KeyAlgorithm
  /** Reuse an existing extractable key pair (key rotation, same-key tests). */
  keys?: webcrypto.CryptoKeyPair
  /** Serial number in hex; default is a random positive 16-byte number. */
  serialNumber?: string
  /**
   * Subject key identifier: `true` (default) derives it from the key (SHA-1 of the public key
   * bits), `false` omits it, bytes are used as the identifier as they are.
   */
  subjectKeyIdentifier?: boolean | Uint8Array
  /**
   * Authority key identifier: `true` (default) derives it from the issuer key, `false` omits it,
   * bytes are used as the keyIdentifier as they are (e.g. to mismatch the issuer's SKI).
   */
  authorityKeyIdentifier?: boolean | Uint8Array
  /** Encoding of notBefore/notAfter (default `'rfc5280'`). */
  validityEncoding?: ValidityEncoding
  /** Signature hash override; default SHA-384 for P-384 issuers, SHA-256 otherwise. */
  signatureAlgorithm?: SignatureHash
}
