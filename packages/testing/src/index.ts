/**
 * `@clientcert/testing`: a throw-away test PKI (real certificates, generated at test time) and
 * helpers to run mTLS servers on loopback and send requests with a chosen client certificate.
 *
 * @packageDocumentation
 */

export {
  type ClientIdentity,
  type ClientRequestOptions,
  type ClientResponse,
  DEFAULT_TIMEOUT_MS,
  type HttpRequestOptions,
  requestHttp,
  requestWithHttps,
} from './client.js'
export {
  type DevTls,
  type ExampleConfig,
  type ExampleForwardedAuth,
  loadExampleConfig,
  loadOrCreateDevTls,
  urlFor,
} from './dev-pki.js'
export { EKU_OIDS, NAME_CONSTRAINTS_OID } from './extensions.js'
export {
  albEscape,
  FORWARDED_HEADER_FORMATS,
  type ForwardedHeaderFormat,
  type ForwardedHeaderOptions,
  forwardedHeaders,
  nginxEscape,
} from './forwarded.js'
export { largeExponentRsaSpki, malleateEcdsaSignature, rsaSpki, withPublicKey } from './hostile.js'
export { generateKeyPair } from './keys.js'
export type {
  CertificateOptions,
  CustomExtension,
  ExtendedKeyUsageName,
  GeneralSubtrees,
  KeyAlgorithm,
  KeyGenerationOptions,
  KeyUsageName,
  NameAttribute,
  SignatureHash,
  SubjectAltNames,
  ValidityEncoding,
} from './options.js'
export { toPem } from './pem.js'
export {
  type CertificateAuthority,
  createRootCA,
  createSelfSigned,
  type IssuedCertificate,
} from './pki.js'
export {
  type CrlOptions,
  createCrl,
  type OcspResponder,
  type OcspResponderOptions,
  type OcspTestStatus,
  revocationExtensions,
  startOcspResponder,
  type TestCrl,
} from './revocation.js'
export {
  type Http2RequestHandler,
  listenOnLoopback,
  type MtlsServerOptions,
  mtlsServerOptions,
  type RequestHandler,
  type RunningServer,
  type SelfListeningApp,
  startHttpServer,
  startMtlsServer,
} from './server.js'
export { type SlowBodyRequestOptions, type SlowBodyResult, slowBodyRequest } from './slow-body.js'
export { createTestPki, type TestPki, type TestPkiOptions } from './test-pki.js'
export {
  createUndiciAgent,
  requestWithUndici,
  type UndiciAgentOptions,
  type UndiciRequestOptions,
} from './undici.js'
export { requestUpgrade, type UpgradeRequestOptions } from './upgrade.js'
