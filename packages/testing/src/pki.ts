import type { webcrypto } from 'node:crypto'
import type { X509Certificate } from '@peculiar/x509'
import { buildExtensions } from './extensions.js'
import { exportPkcs8, generateKeyPair, signingSetup } from './keys.js'
import { encodeName } from './names.js'
import type { CertificateOptions } from './options.js'
import { sha256Hex, toPem } from './pem.js'
import { CA_PROFILE, CLIENT_PROFILE, SERVER_PROFILE, withDefaults } from './profiles.js'
import { CA_VALIDITY, LEAF_VALIDITY, resolveValidity, type ValidityDefaults } from './validity.js'
import { withGeneralizedTimes } from './validity-encoding.js'
import { loadX509 } from './x509-loader.js'

/** A certificate together with its private key and the chain a TLS peer would send. */
export interface IssuedCertificate {
  /** Parsed certificate (`@peculiar/x509`). */
  readonly certificate: X509Certificate
  /** Certificate DER. */
  readonly der: Uint8Array
  /** Certificate PEM (this certificate only). */
  readonly pem: string
  /** The key pair; the private key is extractable. */
  readonly keys: webcrypto.CryptoKeyPair
  /** PKCS#8 PEM private key, usable as `key` for `node:tls`. */
  readonly keyPem: string
  /** PKCS#8 DER private key. */
  readonly keyDer: Uint8Array
  /** The CA that signed this certificate; `undefined` for self-signed certificates. */
  readonly issuer?: CertificateAuthority | undefined
  /** Issuers above this certificate, nearest first, excluding the root. */
  readonly chain: IssuedCertificate[]
  /** This certificate followed by `chain` as PEM: what a TLS peer sends. */
  readonly chainPem: string
  /** Lowercase hex SHA-256 of the DER, without colons. */
  readonly fingerprint256: string
  /** `{ cert: chainPem, key: keyPem }`, ready to spread into `tls`/`https` options. */
  tlsOptions(): { cert: string; key: string }
}

/** A certificate authority that can issue certificates. */
export interface CertificateAuthority extends IssuedCertificate {
  /**
   * Issues a subordinate CA. Defaults: subject `CN=Test Intermediate CA`, `CA:TRUE` (critical),
   * key usage keyCertSign + cRLSign (critical), no EKU, 30 days starting 1 hour before `now`.
   */
  issueIntermediate(opts?: CertificateOptions): Promise<CertificateAuthority>
  /**
   * Issues a client certificate. Defaults: subject `CN=client`, `CA:FALSE`, key usage
   * digitalSignature (critical), EKU clientAuth, 1 day starting 1 hour before `now`.
   */
  issueClient(opts?: CertificateOptions): Promise<IssuedCertificate>
  /**
   * Issues a TLS server certificate. Defaults: subject `CN=localhost`, `CA:FALSE`, key usage
   * digitalSignature, EKU serverAuth, SAN DNS `localhost` + IP `127.0.0.1` and `::1`.
   */
  issueServer(opts?: CertificateOptions): Promise<IssuedCertificate>
  /**
   * Issues exactly what `opts` describe: no profile extensions, empty subject unless given. Only
   * validity (1 day from 1 hour before `now`), keys, serial number and the key identifier
   * extensions (disable with `subjectKeyIdentifier`/`authorityKeyIdentifier: false`) are defaulted.
   */
  issue(opts: CertificateOptions): Promise<IssuedCertificate>
}

interface Material {
  certificate: X509Certificate
  der: Uint8Array
  keys: webcrypto.CryptoKeyPair
  keyDer: Uint8Array
  subjectDer: Uint8Array
}

function randomSerial(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16))
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40
  return Buffer.from(bytes).toString('hex')
}

function serialNumber(serial: string | undefined): string {
  if (serial === undefined) return randomSerial()
  if (!/^[0-9a-f]+$/i.test(serial)) throw new Error(`serialNumber must be hex, got '${serial}'`)
  return serial
}

async function buildMaterial(
  opts: CertificateOptions,
  validity: ValidityDefaults,
  signer?: CertificateAuthorityImpl,
): Promise<Material> {
  const x509 = await loadX509()
  const keys = opts.keys ?? (await generateKeyPair(opts.keyAlgorithm))
  const subjectDer = encodeName(x509, opts.subject ?? [])
  const issuerKeys = signer?.keys ?? keys
  const signing = await signingSetup(issuerKeys.privateKey, opts.signatureAlgorithm)
  const extensions = await buildExtensions(x509, opts, {
    subjectPublicKey: keys.publicKey,
    issuerPublicKey: issuerKeys.publicKey,
    emptySubject: subjectDer.byteLength <= 2,
  })
  const generated = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(opts.serialNumber),
    subject: new x509.Name(subjectDer),
    issuer: new x509.Name(signer?.subjectDer ?? subjectDer),
    ...resolveValidity(opts, validity),
    publicKey: keys.publicKey,
    signingKey: signing.key,
    signingAlgorithm: signing.algorithm,
    extensions,
  })
  const certificate =
    opts.validityEncoding === 'generalized'
      ? new x509.X509Certificate(
          await withGeneralizedTimes(x509, new Uint8Array(generated.rawData), signing.key, signing.algorithm),
        )
      : generated
  const keyDer = await exportPkcs8(keys.privateKey)
  return { certificate, der: new Uint8Array(certificate.rawData), keys, keyDer, subjectDer }
}

function chainOf(issuer: CertificateAuthorityImpl | undefined): IssuedCertificate[] {
  return issuer?.issuer ? [issuer, ...issuer.chain] : []
}

class IssuedCertificateImpl implements IssuedCertificate {
  readonly certificate: X509Certificate
  readonly der: Uint8Array
  readonly pem: string
  readonly keys: webcrypto.CryptoKeyPair
  readonly keyPem: string
  readonly keyDer: Uint8Array
  readonly issuer: CertificateAuthorityImpl | undefined
  readonly chain: IssuedCertificate[]
  readonly chainPem: string
  readonly fingerprint256: string
  readonly subjectDer: Uint8Array

  constructor(material: Material, issuer: CertificateAuthorityImpl | undefined) {
    this.certificate = material.certificate
    this.der = material.der
    this.pem = toPem(material.der)
    this.keys = material.keys
    this.keyDer = material.keyDer
    this.keyPem = toPem(material.keyDer, 'PRIVATE KEY')
    this.issuer = issuer
    this.chain = chainOf(issuer)
    this.chainPem = [this.pem, ...this.chain.map((c) => c.pem)].join('')
    this.fingerprint256 = sha256Hex(material.der)
    this.subjectDer = material.subjectDer
  }

  tlsOptions(): { cert: string; key: string } {
    return { cert: this.chainPem, key: this.keyPem }
  }
}

class CertificateAuthorityImpl extends IssuedCertificateImpl implements CertificateAuthority {
  async issueIntermediate(opts?: CertificateOptions): Promise<CertificateAuthority> {
    const merged = withDefaults({ ...CA_PROFILE, subject: 'CN=Test Intermediate CA' }, opts)
    return new CertificateAuthorityImpl(await buildMaterial(merged, CA_VALIDITY, this), this)
  }

  issueClient(opts?: CertificateOptions): Promise<IssuedCertificate> {
    return this.issueLeaf(withDefaults(CLIENT_PROFILE, opts))
  }

  issueServer(opts?: CertificateOptions): Promise<IssuedCertificate> {
    return this.issueLeaf(withDefaults(SERVER_PROFILE, opts))
  }

  issue(opts: CertificateOptions): Promise<IssuedCertificate> {
    return this.issueLeaf(opts)
  }

  private async issueLeaf(opts: CertificateOptions): Promise<IssuedCertificate> {
    return new IssuedCertificateImpl(await buildMaterial(opts, LEAF_VALIDITY, this), this)
  }
}

/**
 * Creates a self-signed root CA. Defaults: subject `CN=Test Root CA`, `CA:TRUE` (critical), key
 * usage keyCertSign + cRLSign (critical), no EKU, 30 days starting 1 hour before `now`, P-256.
 *
 * @example
 * ```ts
 * const root = await createRootCA({ subject: 'CN=My Test Root, O=acme' })
 * const alice = await root.issueClient({ subject: 'CN=alice' })
 * ```
 */
export async function createRootCA(opts?: CertificateOptions): Promise<CertificateAuthority> {
  const merged = withDefaults({ ...CA_PROFILE, subject: 'CN=Test Root CA' }, opts)
  return new CertificateAuthorityImpl(await buildMaterial(merged, CA_VALIDITY), undefined)
}

/**
 * Creates a self-signed client certificate (`CA:FALSE`, key usage digitalSignature, EKU
 * clientAuth, subject `CN=self-signed client`), e.g. for certificate pinning tests.
 */
export async function createSelfSigned(opts?: CertificateOptions): Promise<IssuedCertificate> {
  const merged = withDefaults({ ...CLIENT_PROFILE, subject: 'CN=self-signed client' }, opts)
  return new IssuedCertificateImpl(await buildMaterial(merged, LEAF_VALIDITY), undefined)
}
