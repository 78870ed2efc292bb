/**
 * `@clientcert/spiffe`: follows the SPIFFE Workload API (e.g. a SPIRE agent) — per-trust-domain
 * X.509 bundles into an authenticator's `trust.spiffe.bundles`, and the workload's own
 * X509-SVID into a TLS server — as they rotate.
 *
 * @packageDocumentation
 */
export { splitDer } from './der.js'
export {
  createWorkloadApiSource,
  type WorkloadApiSource,
  type WorkloadApiSourceOptions,
  type WorkloadApiUpdate,
} from './source.js'
