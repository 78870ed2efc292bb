import { createHash, randomBytes } from 'node:crypto'
import {
  BasicOCSPResponse,
  CertID,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  Request,
  TBSRequest,
} from '@peculiar/asn1-ocsp'
import { AsnConvert, OctetString } from '@peculiar/asn1-schema'
import { AlgorithmIdentifier, Extension, type Name } from '@peculiar/asn1-x509'
import { children, DerError, expectTag, raw, readBitString, readRoot, TAG } from '../asn1/der.js'
import { parseNameDer } from '../asn1/name.js'
import { KU, type ParsedCertificate, parseCertificate } from '../cert/parse.js'
import { algorithmsMatch, publicKeyOf, verifyData, verifySignature } from '../validate/signature.js'
import { readAlgorithm, subjectPublicKeyBits } from './der-util.js'

const SHA1 = '1.3.14.3.2.26'
const OCSP_SIGNING = '1.3.6.1.5.5.7.3.9'
/** Extensions an OCSP response may mark critical and still be understood. */
const KNOWN_RESPONSE_EXTENSIONS: ReadonlySet<string> = new Set([id_pkix_ocsp_nonce])

/** The identity of a certificate in OCSP (RFC 6960 §4.1.1), SHA-1 as the RFC requires of clients. */
export interface OcspCertId {
  readonly issuerNameHash: Buffer
  readonly issuerKeyHash: Buffer
  /** Serial as lower-case hex, same normalisation as `ParsedCertificate.serialNumber`. */
  readonly serial: string
}

export function certIdFor(cert: ParsedCertificate, issuer: ParsedCertificate): OcspCertId {
  return {
    issuerNameHash: createHash('sha1').update(cert.issuerDer).digest(),
    issuerKeyHash: createHash('sha1').update(subjectPublicKeyBits(issuer.spki)).digest(),
    serial: cert.serialNumber,
  }
}

function serialBytes(serialHex: string): Uint8Array {
  const padded = serialHex.length % 2 === 1 ? `0${serialHex}` : serialHex
  const bytes = Buffer.from(padded, 'hex')
  return bytes[0]! >= 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes
}

function normaliseSerial(buf: ArrayBuffer): string {
  const bytes = new Uint8Array(buf)
  const b = bytes[0] === 0 && bytes.length > 1 ? bytes.subarray(1) : bytes
  return Buffer.from(b).toString('hex')
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
}

/** DER `OCSPRequest` for one certificate, with an RFC 8954 nonce when `nonce` is given. */
export function buildOcspRequest(id: OcspCertId, nonce?: Uint8Array): Uint8Array {
  const certId = new CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: SHA1, parameters: null }),
    issuerNameHash: new OctetString(toArrayBuffer(id.issuerNameHash)),
    issuerKeyHash: new OctetString(toArrayBuffer(id.issuerKeyHash)),
    serialNumber: toArrayBuffer(serialBytes(id.serial)),
  })
  const tbs = new TBSRequest({ requestList: [new Request({ reqCert: certId })] })
  if (nonce !== undefined) {
    tbs.requestExtensions = [
      new Extension({
        extnID: id_pkix_ocsp_nonce,
        critical: false,
        extnValue: new OctetString(AsnConvert.serialize(new OctetString(toArrayBuffer(nonce)))),
      }),
    ]
  }
  return new Uint8Array(AsnConvert.serialize(new OCSPRequest({ tbsRequest: tbs })))
}

export function newNonce(): Uint8Array {
  return new Uint8Array(randomBytes(32))
}

/** A verified OCSP answer for one certificate. */
export type OcspAnswer =
  | { readonly status: 'good' | 'revoked' | 'unknown'; readonly nextUpdate?: number | undefined }
  | { readonly status: 'error'; readonly reason: string }

/**
 * Parses and verifies an OCSP response (RFC 6960): successful status, basic response type, a
 * signature by the issuer itself or by a delegated responder certificate that the issuer
 * signed and that carries id-kp-OCSPSigning (checked for validity at `now`), a SingleResponse
 * for exactly this CertID, `thisUpdate` not in the future, `nextUpdate` not passed, and the
 * nonce echoed when one was sent. An answer that neither echoes a nonce nor carries a
 * `nextUpdate` has nothing that dates it but `thisUpdate`: it is refused once `thisUpdate` is
 * more than `maxAgeMs` old, so a recorded "good" cannot be replayed for ever.
 */
export function verifyOcspResponse(
  body: Uint8Array,
  id: OcspCertId,
  issuer: ParsedCertificate,
  now: number,
  nonce: Uint8Array | undefined,
  maxAgeMs: number,
): OcspAnswer {
  const fail = (reason: string): OcspAnswer => ({ status: 'error', reason })
  let response: OCSPResponse
  try {
    readRoot(body)
    response = AsnConvert.parse(body, OCSPResponse)
  } catch {
    return fail('OCSP response is not parseable')
  }
  if (response.responseStatus !== OCSPResponseStatus.successful)
    return fail(
      `OCSP responder answered ${OCSPResponseStatus[response.responseStatus] ?? response.responseStatus}`,
    )
  if (response.responseBytes?.responseType !== id_pkix_ocsp_basic)
    return fail('OCSP response is not a basic response')
  const basicDer = new Uint8Array(response.responseBytes.response.buffer)
  let basic: BasicOCSPResponse
  let tbs: Uint8Array
  let signature: Uint8Array
  let alg: ReturnType<typeof readAlgorithm>
  let certs: ParsedCertificate[] = []
  try {
    const root = expectTag(readRoot(basicDer), TAG.SEQUENCE, 'BasicOCSPResponse')
    const [tbsTlv, algTlv, sigTlv, certsTlv, extra] = children(basicDer, root)
    if (tbsTlv === undefined || sigTlv === undefined || extra !== undefined)
      throw new DerError('bad BasicOCSPResponse')
    tbs = raw(basicDer, expectTag(tbsTlv, TAG.SEQUENCE, 'ResponseData'))
    alg = readAlgorithm(basicDer, algTlv)
    const sig = readBitString(basicDer, sigTlv)
    if (sig.unused !== 0) throw new DerError('signature has unused bits')
    signature = sig.bytes
    if (certsTlv !== undefined) {
      const [seq, more] = children(basicDer, expectTag(certsTlv, 0xa0, 'certs'))
      if (more !== undefined) throw new DerError('bad certs wrapper')
      certs = children(basicDer, expectTag(seq, TAG.SEQUENCE, 'certs'))
        .slice(0, 8)
        .map((c) => parseCertificate(raw(basicDer, c)))
    }
    basic = AsnConvert.parse(basicDer, BasicOCSPResponse)
  } catch {
    return fail('OCSP basic response is not parseable')
  }
  const data = basic.tbsResponseData

  // Who signed it: the issuer, or a delegated responder the issuer certified for OCSP signing.
  const rid = data.responderID
  const matchesResponder = (c: ParsedCertificate): boolean => {
    if (rid.byKey !== undefined) {
      const keyHash = createHash('sha1').update(subjectPublicKeyBits(c.spki)).digest()
      return keyHash.equals(Buffer.from(rid.byKey.buffer))
    }
    if (rid.byName !== undefined) {
      try {
        return (
          parseNameDer(new Uint8Array(AsnConvert.serialize(rid.byName as Name))).matchKey ===
          c.subject.matchKey
        )
      } catch {
        return false
      }
    }
    return false
  }
  const verifies = (c: ParsedCertificate): boolean => verifyData(alg, publicKeyOf(c), tbs, signature)
  let signer: 'issuer' | 'delegated' | undefined
  if (matchesResponder(issuer) && verifies(issuer)) signer = 'issuer'
  else {
    let why = 'OCSP response is not signed by the issuer or a certificate in the response'
    for (const c of certs) {
      if (!matchesResponder(c)) continue
      const problem = delegateProblem(c, issuer, now)
      if (problem !== undefined) {
        why = problem
        continue
      }
      if (!verifies(c)) {
        why = 'OCSP response signature does not verify with the delegated responder key'
        continue
      }
      signer = 'delegated'
      break
    }
    if (signer === undefined) return fail(why)
  }

  for (const ext of data.responseExtensions ?? []) {
    if (ext.critical && !KNOWN_RESPONSE_EXTENSIONS.has(ext.extnID))
      return fail(`unsupported critical OCSP response extension ${ext.extnID}`)
  }
  if (nonce !== undefined) {
    const ext = data.responseExtensions?.find((e) => e.extnID === id_pkix_ocsp_nonce)
    const expected = Buffer.from(AsnConvert.serialize(new OctetString(toArrayBuffer(nonce))))
    if (ext === undefined) return fail('OCSP response does not echo the nonce')
    if (!Buffer.from(ext.extnValue.buffer).equals(expected)) return fail('OCSP response nonce does not match')
  }

  const single = data.responses.find(
    (r) =>
      r.certID.hashAlgorithm.algorithm === SHA1 &&
      Buffer.from(r.certID.issuerNameHash.buffer).equals(id.issuerNameHash) &&
      Buffer.from(r.certID.issuerKeyHash.buffer).equals(id.issuerKeyHash) &&
      normaliseSerial(r.certID.serialNumber) === id.serial,
  )
  if (single === undefined) return fail('OCSP response has no answer for this certificate')
  for (const ext of single.singleExtensions ?? []) {
    if (ext.critical) return fail(`unsupported critical OCSP single extension ${ext.extnID}`)
  }
  const thisUpdate = single.thisUpdate.getTime()
  const nextUpdate = single.nextUpdate?.getTime()
  if (!(thisUpdate <= now)) return fail('OCSP response thisUpdate is in the future')
  if (nextUpdate !== undefined && !(nextUpdate >= now))
    return fail('OCSP response is stale (nextUpdate passed)')
  if (nonce === undefined && nextUpdate === undefined && now - thisUpdate > maxAgeMs)
    return fail(
      `OCSP response has no nextUpdate and is older than ${maxAgeMs} ms (thisUpdate ${single.thisUpdate.toISOString()}); without a nonce it may be a replay`,
    )
  const st = single.certStatus
  if (st.revoked !== undefined && st.revoked !== null) return { status: 'revoked', nextUpdate }
  if (st.good === null) return { status: 'good', nextUpdate }
  return { status: 'unknown', nextUpdate }
}

/** Why `c` cannot act as a delegated OCSP responder for `issuer` at `now` (RFC 6960 §4.2.2.2). */
function delegateProblem(c: ParsedCertificate, issuer: ParsedCertificate, now: number): string | undefined {
  if (c.issuer.matchKey !== issuer.subject.matchKey || !algorithmsMatch(c) || !verifySignature(c, issuer))
    return 'OCSP responder certificate is not issued by the certificate issuer'
  if (!c.extKeyUsage?.includes(OCSP_SIGNING)) return 'OCSP responder certificate lacks id-kp-OCSPSigning'
  if (c.notBefore > now || c.notAfter < now) return 'OCSP responder certificate is not valid now'
  if (c.keyUsage !== undefined && (c.keyUsage & KU.digitalSignature) === 0)
    return 'OCSP responder certificate key usage does not allow signing'
  if (c.basicConstraints?.ca === true) return 'OCSP responder certificate is a CA'
  if (c.unknownCriticalExtensions.length > 0)
    return 'OCSP responder certificate has unknown critical extensions'
  return undefined
}
