export { resolveAuthenticator } from './adapter/options.js'
// Upgrades are app code, not adapter code: the listener an app adds next to any adapter.
export {
  authenticateUpgrade,
  type ClientCertUpgradeOptions,
  clientCertUpgrade,
  type UpgradeHandler,
  type UpgradeRule,
  type UpgradeSocket,
} from './adapter/upgrade.js'
export type {
  AuthenticateOptions,
  AuthResult,
  ClientCertAuthenticator,
  OptionalAuthResult,
  RequestLike,
  TrustUpdate,
} from './api.js'
export type { DistinguishedName, NameAttribute } from './asn1/name.js'
export { createClientCertAuthenticator } from './authenticator.js'
export type { SubjectAltNames } from './cert/parse.js'
export {
  type AuthenticateContext,
  CLIENTCERT_CHANNELS,
  type CrlDescription,
  type DiagnosticsCertificate,
  type DiagnosticsOutcome,
  type DiagnosticsSource,
  type ForwardedRefusedMessage,
  type RevocationFetchContext,
  type TrustCertificateDescription,
  type TrustDescription,
  type TrustUpdatedMessage,
} from './diagnostics.js'
export {
  CLIENT_CERT_ERROR_CODES,
  ClientCertConfigError,
  type ClientCertConfigErrorCode,
  ClientCertError,
  type ClientCertErrorCode,
  type ClientCertErrorOptions,
  type ErrorCategory,
  isClientCertError,
  publicMessage,
  TrustSourceError,
  type TrustSourceErrorCode,
} from './errors.js'
export {
  createExpiryMonitor,
  describeTrust,
  type ExpiringItem,
  type ExpiryMonitor,
  type ExpiryMonitorOptions,
  type ServerCertificates,
} from './expiry.js'
export type { CertificateFacts, IdentityFunction, IdentityMapping, IdentityName } from './identity/map.js'
export type { ClientPrincipal, PrincipalKind, PrincipalSource } from './identity/principal.js'
export { parseSpiffeId, type SpiffeId } from './identity/spiffe.js'
export { type AuthenticationMark, authenticationOf, markAuthenticated } from './mark.js'
export type {
  CacheOptions,
  ClientCertOptions,
  DiagnosticsOptions,
  EkuOptions,
  ForwardedSourceOptions,
  HookContext,
  RequestHeaderSourceOptions,
  SourceOptions,
  StatusOptions,
  TrustOptions,
} from './options.js'
export {
  type AllowPolicy,
  type CompiledPolicy,
  compilePolicy,
  isCompiledPolicy,
  type SpiffeRule,
} from './policy/match.js'
export {
  bodyAlreadyRead,
  CLIENT_CERT_CHALLENGE,
  PROBLEM_CONTENT_TYPE,
  type ProblemDetails,
  type ProblemResponse,
  problemResponse,
  toProblemDetails,
} from './problem.js'
export type { CrlSource, RevocationFetch, RevocationOptions } from './revocation/index.js'
export { isCertificateBound } from './rfc8705.js'
export {
  applyServerTrust,
  createMtlsServerOptions,
  type MtlsIdentity,
  type MtlsServerOptionsInput,
} from './server-options.js'
export type { ForwardedOptions } from './sources/forwarded/index.js'
export {
  type CustomForwardedFormat,
  FORWARDED_FORMATS,
  type ForwardedDecoder,
  type ForwardedFormat,
} from './sources/forwarded/presets.js'
export type { ProxyCertificateOptions } from './sources/proxy-identity.js'
export type { RequestHeaderOptions } from './sources/request-header.js'
export {
  type CloudflareAuthResult,
  type CloudflareClient,
  type CloudflareTlsClientAuth,
  type CloudflareTlsClientAuthOptions,
  createWebRequestAuthenticator,
  readCloudflareTlsClientAuth,
  type TrustedBoundary,
  type WebClientCertOptions,
  type WebForwardedOptions,
  type WebRequestAuthenticator,
  type WebRequestLike,
} from './sources/web.js'
export {
  broadcastTrust,
  type ClusterTrust,
  deriveTicketKeys,
  type FollowClusterTrustOptions,
  followClusterTrust,
} from './trust/cluster.js'
export type { CertificateInput } from './trust/load.js'
export type { SpiffeTrustOptions } from './trust/spiffe.js'
export {
  type RotatableTlsServer,
  type TrustWatcher,
  type WatchTrustOptions,
  watchTrust,
} from './trust/watch.js'
