import type { webcrypto } from 'node:crypto'
import { AsnConvert } from '@peculiar/asn1-schema'
import { Certificate, Time } from '@peculiar/asn1-x509'
import type { X509Module } from './x509-loader.js'

/**
 * Re-encodes a certificate's validity dates as GeneralizedTime and signs it again. The x509
 * generator always picks the RFC 5280 encoding, so a certificate that breaks that rule (a CA
 * mistake seen in the wild) can only be made by editing the TBSCertificate after the fact.
 */
export async function withGeneralizedTimes(
  x509: X509Module,
  der: Uint8Array,
  signingKey: webcrypto.CryptoKey,
  signingAlgorithm: webcrypto.Algorithm,
): Promise<Uint8Array> {
  const cert = AsnConvert.parse(der, Certificate)
  const validity = cert.tbsCertificate.validity
  validity.notBefore = new Time({ generalTime: validity.notBefore.getTime() })
  validity.notAfter = new Time({ generalTime: validity.notAfter.getTime() })
  const tbs = AsnConvert.serialize(cert.tbsCertificate)
  const algorithm = { ...signingAlgorithm, ...signingKey.algorithm }
  const raw = await globalThis.crypto.subtle.sign(algorithm, signingKey, tbs)
  const formatted =
    algorithm.name === 'ECDSA' ? new x509.AsnEcSignatureFormatter().toAsnSignature(algorithm, raw) : raw
  if (formatted === null) throw new Error('cannot encode the ECDSA signature')
  cert.signatureValue = formatted
  return new Uint8Array(AsnConvert.serialize(cert))
}
