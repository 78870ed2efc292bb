import { createHash, createPrivateKey, type KeyObject, sign } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  BasicOCSPResponse,
  CertStatus,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  ResponderID,
  ResponseBytes,
  ResponseData,
  RevokedInfo,
  SingleResponse,
} from '@peculiar/asn1-ocsp'
import { AsnConvert, OctetString } from '@peculiar/asn1-schema'
import {
  AccessDescription,
  AlgorithmIdentifier,
  AuthorityInfoAccessSyntax,
  Certificate,
  CertificateList,
  CRLDistributionPoints,
  DistributionPoint,
  DistributionPointName,
  Extension,
  GeneralName,
  type Name,
  RevokedCertificate,
  TBSCertList,
  Time,
  Version,
} from '@peculiar/asn1-x509'
import type { CustomExtension } from './options.js'
import { toPem } from './pem.js'
import type { CertificateAuthority, IssuedCertificate } from './pki.js'

function ab(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
}

/** The signing key and AlgorithmIdentifier of an issued certificate's key (P-256/P-384/RSA/Ed25519). */
function signerOf(cert: IssuedCertificate): {
  key: KeyObject
  hash: string | null
  alg: AlgorithmIdentifier
} {
  const key = createPrivateKey({ key: Buffer.from(cert.keyDer), format: 'der', type: 'pkcs8' })
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const p384 = key.asymmetricKeyDetails?.namedCurve === 'secp384r1'
      return {
        key,
        hash: p384 ? 'sha384' : 'sha256',
        alg: new AlgorithmIdentifier({ algorithm: p384 ? '1.2.840.10045.4.3.3' : '1.2.840.10045.4.3.2' }),
      }
    }
    case 'rsa':
      return {
        key,
        hash: 'sha256',
        alg: new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.1.11', parameters: null }),
      }
    case 'ed25519':
      return { key, hash: null, alg: new AlgorithmIdentifier({ algorithm: '1.3.101.112' }) }
    default:
      throw new Error(`unsupported signing key type ${String(key.asymmetricKeyType)}`)
  }
}

function subjectNameOf(cert: IssuedCertificate): Name {
  return AsnConvert.parse(cert.der, Certificate).tbsCertificate.subject
}

function serialBuffer(hex: string): ArrayBuffer {
  if (!/^[0-9a-f]+$/i.test(hex)) throw new Error(`serialNumber must be hex, got '${hex}'`)
  const bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex')
  return ab(bytes[0]! >= 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes)
}

/** Options of {@link createCrl}. */
export interface CrlOptions {
  /** Revoked certificates: serial number as hex (as `certificate.serialNumber`), revocation date (default: `thisUpdate`). */
  revoked?: Array<{ serialNumber: string; date?: Date }>
  /** Default: one hour ago. */
  thisUpdate?: Date
  /** Default: one day after `thisUpdate`; `null` omits the field. */
  nextUpdate?: Date | null
  /** Signs with this CA's key instead of `ca`'s (the issuer name stays `ca`'s): a wrongly signed CRL. */
  signer?: CertificateAuthority | IssuedCertificate
  /** Extra CRL extensions, e.g. an unknown critical one. A CRL number is always included. */
  extensions?: CustomExtension[]
}

/** A CRL produced by {@link createCrl}. */
export interface TestCrl {
  /** DER bytes. */
  readonly der: Uint8Array
  /** PEM (`X509 CRL` block). */
  readonly pem: string
}

let crlNumber = 1

/**
 * Creates a v2 CRL issued by `ca` (RFC 5280 §5), signed with `node:crypto`.
 *
 * @example
 * ```ts
 * const crl = createCrl(root, { revoked: [{ serialNumber: alice.certificate.serialNumber }] })
 * ```
 */
export function createCrl(ca: CertificateAuthority, opts: CrlOptions = {}): TestCrl {
  const thisUpdate = opts.thisUpdate ?? new Date(Date.now() - 3_600_000)
  const nextUpdate =
    opts.nextUpdate === null ? undefined : (opts.nextUpdate ?? new Date(thisUpdate.getTime() + 86_400_000))
  const signer = signerOf(opts.signer ?? ca)
  const numberBytes = serialBuffer((crlNumber++).toString(16))
  const extensions = [
    new Extension({
      extnID: '2.5.29.20',
      critical: false,
      extnValue: new OctetString(integerDer(numberBytes)),
    }),
    ...(opts.extensions ?? []).map(
      (e) =>
        new Extension({
          extnID: e.oid,
          critical: e.critical ?? false,
          extnValue: new OctetString(ab(e.value)),
        }),
    ),
  ]
  const tbs = new TBSCertList({
    version: Version.v2,
    signature: signer.alg,
    issuer: subjectNameOf(ca),
    thisUpdate: new Time(thisUpdate),
    nextUpdate: nextUpdate === undefined ? undefined : new Time(nextUpdate),
    revokedCertificates:
      opts.revoked && opts.revoked.length > 0
        ? opts.revoked.map(
            (r) =>
              new RevokedCertificate({
                userCertificate: serialBuffer(r.serialNumber),
                revocationDate: new Time(r.date ?? thisUpdate),
              }),
          )
        : undefined,
    crlExtensions: extensions,
  })
  const tbsDer = new Uint8Array(AsnConvert.serialize(tbs))
  const signature = sign(signer.hash, tbsDer, signer.key)
  const list = new CertificateList({
    tbsCertList: tbs,
    signatureAlgorithm: signer.alg,
    signature: ab(signature),
  })
  const der = new Uint8Array(AsnConvert.serialize(list))
  return { der, pem: toPem(der, 'X509 CRL') }
}

// A tiny INTEGER round-trip helper so the CRL number is encoded as DER INTEGER.
function integerDer(content: ArrayBuffer): ArrayBuffer {
  const c = new Uint8Array(content)
  return ab(Uint8Array.from([0x02, c.length, ...c]))
}

/**
 * Extensions that point a certificate at revocation services: a CRL distribution point and/or
 * an AIA OCSP responder. Pass them as `extensions` when issuing.
 *
 * @example
 * ```ts
 * const leaf = await ca.issueClient({ extensions: revocationExtensions({ ocspUrl: responder.url }) })
 * ```
 */
export function revocationExtensions(opts: { crlUrl?: string; ocspUrl?: string }): CustomExtension[] {
  const out: CustomExtension[] = []
  if (opts.crlUrl !== undefined) {
    const cdp = new CRLDistributionPoints([
      new DistributionPoint({
        distributionPoint: new DistributionPointName({
          fullName: [new GeneralName({ uniformResourceIdentifier: opts.crlUrl })],
        }),
      }),
    ])
    out.push({ oid: '2.5.29.31', value: new Uint8Array(AsnConvert.serialize(cdp)) })
  }
  if (opts.ocspUrl !== undefined) {
    const aia = new AuthorityInfoAccessSyntax([
      new AccessDescription({
        accessMethod: '1.3.6.1.5.5.7.48.1',
        accessLocation: new GeneralName({ uniformResourceIdentifier: opts.ocspUrl }),
      }),
    ])
    out.push({ oid: '1.3.6.1.5.5.7.1.1', value: new Uint8Array(AsnConvert.serialize(aia)) })
  }
  return out
}

/** Status an OCSP test responder gives a serial number. */
export type OcspTestStatus = 'good' | 'revoked' | 'unknown'

/** Options of {@link startOcspResponder}. */
export interface OcspResponderOptions {
  /** The CA whose certificates this responder answers for. */
  ca: CertificateAuthority
  /** Status per serial number (lower-case hex, no leading zero byte). */
  statuses: (serialHex: string) => OcspTestStatus
  /** Who signs: `'issuer'` (default) or a delegated responder certificate (included in the response). */
  signer?: 'issuer' | IssuedCertificate
  /** Delay before answering, to exercise client timeouts. */
  delayMs?: number
  /** Default `'127.0.0.1'`. */
  host?: string
  /** What to do with a request nonce: echo it (default), leave it out, or send a different one. */
  nonce?: 'echo' | 'omit' | 'wrong'
  /** Lifetime of answers (`nextUpdate - thisUpdate`); default one hour, `null` omits nextUpdate. */
  validityMs?: number | null
  /** How the response names its signer: by key hash (default) or by subject name. */
  responderId?: 'key' | 'name'
  /** Answer with this HTTP status and an empty body instead (e.g. 500). */
  httpStatus?: number
}

/** A running OCSP responder. */
export interface OcspResponder {
  /** `http://127.0.0.1:<port>/` */
  readonly url: string
  /** Number of requests received so far. */
  readonly requests: number
  close(): Promise<void>
}

/**
 * Starts an RFC 6960 OCSP responder (HTTP POST, `application/ocsp-request`) on an ephemeral
 * loopback port. It answers for certificates of `ca` (a CertID naming another issuer gets
 * `unknown`) with a signed basic response.
 */
export async function startOcspResponder(opts: OcspResponderOptions): Promise<OcspResponder> {
  const signerCert = opts.signer === undefined || opts.signer === 'issuer' ? opts.ca : opts.signer
  const signer = signerOf(signerCert)
  const caCert = AsnConvert.parse(opts.ca.der, Certificate)
  const caNameHash = createHash('sha1')
    .update(Buffer.from(AsnConvert.serialize(caCert.tbsCertificate.subject)))
    .digest()
  const caKeyHash = createHash('sha1')
    .update(Buffer.from(caCert.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey))
    .digest()
  const signerSpki = AsnConvert.parse(signerCert.der, Certificate).tbsCertificate.subjectPublicKeyInfo
  const signerKeyHash = createHash('sha1').update(Buffer.from(signerSpki.subjectPublicKey)).digest()
  let requests = 0

  const answer = (body: Buffer): Uint8Array => {
    const req = AsnConvert.parse(body, OCSPRequest)
    const now = Date.now()
    const responses = req.tbsRequest.requestList.map((r) => {
      const id = r.reqCert
      const ours =
        Buffer.from(id.issuerNameHash.buffer).equals(caNameHash) &&
        Buffer.from(id.issuerKeyHash.buffer).equals(caKeyHash)
      const serialBytes = new Uint8Array(id.serialNumber)
      const serial = Buffer.from(
        serialBytes[0] === 0 && serialBytes.length > 1 ? serialBytes.subarray(1) : serialBytes,
      ).toString('hex')
      const status = ours ? opts.statuses(serial) : 'unknown'
      const certStatus =
        status === 'good'
          ? new CertStatus({ good: null })
          : status === 'revoked'
            ? new CertStatus({ revoked: new RevokedInfo({ revocationTime: new Date(now - 60_000) }) })
            : new CertStatus({ unknown: null })
      return new SingleResponse({
        certID: id,
        certStatus,
        thisUpdate: new Date(now - 60_000),
        nextUpdate: opts.validityMs === null ? undefined : new Date(now + (opts.validityMs ?? 3_600_000)),
      })
    })
    const nonceExt = req.tbsRequest.requestExtensions?.find((e) => e.extnID === id_pkix_ocsp_nonce)
    const mode = opts.nonce ?? 'echo'
    let responseExtensions: Extension[] | undefined
    if (nonceExt !== undefined && mode !== 'omit') {
      const value =
        mode === 'echo'
          ? nonceExt.extnValue
          : new OctetString(AsnConvert.serialize(new OctetString(new Uint8Array(32).fill(7))))
      responseExtensions = [new Extension({ extnID: id_pkix_ocsp_nonce, critical: false, extnValue: value })]
    }
    const data = new ResponseData({
      responderID:
        opts.responderId === 'name'
          ? new ResponderID({ byName: subjectNameOf(signerCert) })
          : new ResponderID({ byKey: new OctetString(ab(signerKeyHash)) }),
      producedAt: new Date(now),
      responses,
      responseExtensions,
    })
    const tbsDer = new Uint8Array(AsnConvert.serialize(data))
    const signature = sign(signer.hash, tbsDer, signer.key)
    const basic = new BasicOCSPResponse({
      tbsResponseData: data,
      signatureAlgorithm: signer.alg,
      signature: ab(signature),
      certs: signerCert === opts.ca ? undefined : [AsnConvert.parse(signerCert.der, Certificate)],
    })
    const resp = new OCSPResponse({
      responseStatus: OCSPResponseStatus.successful,
      responseBytes: new ResponseBytes({
        responseType: id_pkix_ocsp_basic,
        response: new OctetString(AsnConvert.serialize(basic)),
      }),
    })
    return new Uint8Array(AsnConvert.serialize(resp))
  }

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    requests++
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > 65_536) req.destroy()
      else chunks.push(c)
    })
    req.on('end', () => {
      const reply = () => {
        if (opts.httpStatus !== undefined) {
          res.writeHead(opts.httpStatus).end()
          return
        }
        if (req.method !== 'POST') {
          res.writeHead(405).end()
          return
        }
        let body: Uint8Array
        try {
          body = answer(Buffer.concat(chunks))
        } catch {
          const malformed = new OCSPResponse({ responseStatus: OCSPResponseStatus.malformedRequest })
          body = new Uint8Array(AsnConvert.serialize(malformed))
        }
        res
          .writeHead(200, { 'content-type': 'application/ocsp-response', 'content-length': body.length })
          .end(body)
      }
      if (opts.delayMs) setTimeout(reply, opts.delayMs).unref()
      else reply()
    })
  }

  const server = createServer(handle)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, opts.host ?? '127.0.0.1', () => resolve())
  })
  const { port, address } = server.address() as AddressInfo
  const host = address.includes(':') ? `[${address}]` : address
  return {
    url: `http://${host}:${port}/`,
    get requests() {
      return requests
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
