/**
 * `@clientcert/cli`: the `clientcert` command (development PKI, certificate issuing, inspection
 * against a clientcert configuration, and an mTLS endpoint probe), also callable as `run(argv)`.
 *
 * @packageDocumentation
 */
export { type CertificateDetails, describeCertificate, type Verdict, verdictFor } from './inspect.js'
export { CliError, type Io } from './output.js'
export { PKI_FILES } from './pki.js'
export {
  type CheckResult,
  type CheckStatus,
  type ForwardedProbe,
  type ProbeOptions,
  probe,
  UntrustedServerError,
} from './probe.js'
export { HELP, run } from './run.js'
