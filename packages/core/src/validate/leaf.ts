import { KU, OID, type ParsedCertificate } from '../cert/parse.js'
import type { Rejection } from '../errors.js'
import { checkProfile } from './profile.js'
import { checkWindow } from './window.js'

/** How the leaf's extended key usage is judged (RFC 5280 §4.2.1.12). */
export interface EkuRule {
  /** OID the leaf must carry; `null` disables the EKU check. Default: clientAuth. */
  readonly required: string | null
  /** Accept a leaf whose EKU lists anyExtendedKeyUsage instead. Default false. */
  readonly allowAny: boolean
  /** Accept a leaf without an EKU extension. Default false. */
  readonly allowMissing: boolean
}

export type LeafFailure = Rejection

/**
 * Rules for the certificate that authenticates the client, whatever verified its chain:
 * not a CA, may sign (digitalSignature, used by TLS CertificateVerify), well-formed with an
 * acceptable key (validate/profile.ts), and meant for client authentication.
 */
export function checkLeaf(cert: ParsedCertificate, eku: EkuRule): LeafFailure | undefined {
  if (cert.basicConstraints?.ca === true) {
    return {
      code: 'ERR_CLIENT_CERT_BASIC_CONSTRAINTS',
      reason: 'the client certificate is a CA certificate (basicConstraints cA=TRUE)',
    }
  }
  if (cert.keyUsage !== undefined && (cert.keyUsage & KU.digitalSignature) === 0) {
    return {
      code: 'ERR_CLIENT_CERT_KEY_USAGE',
      reason: 'the client certificate keyUsage lacks digitalSignature',
    }
  }
  const profile = checkProfile(cert)
  if (profile) return profile
  if (cert.unknownCriticalExtensions.length > 0) {
    return {
      code: 'ERR_CLIENT_CERT_CRITICAL_EXTENSION',
      reason: `the client certificate has unsupported critical extension ${cert.unknownCriticalExtensions.join(', ')}`,
    }
  }
  if (eku.required === null) return undefined
  const list = cert.extKeyUsage
  if (list === undefined) {
    return eku.allowMissing
      ? undefined
      : { code: 'ERR_CLIENT_CERT_EKU', reason: 'the client certificate has no extendedKeyUsage extension' }
  }
  if (list.includes(eku.required)) return undefined
  if (eku.allowAny && list.includes(OID.ekuAny)) return undefined
  return {
    code: 'ERR_CLIENT_CERT_EKU',
    reason: `the client certificate extendedKeyUsage (${list.join(', ')}) lacks ${eku.required}`,
  }
}

/** Validity of one certificate at `at`, with `skewMs` tolerance. */
export function checkTime(cert: ParsedCertificate, at: number, skewMs: number): Rejection | undefined {
  return checkWindow(cert.notBefore, cert.notAfter, at, skewMs, 'the client certificate')
}
