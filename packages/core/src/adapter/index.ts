/**
 * The adapter kit (`@clientcert/core/adapter`): everything a framework adapter needs, so that an
 * adapter holds only what is specific to its framework. Express, Fastify, Passport and NestJS
 * are written on it; see docs/adapters/writing-an-adapter.md.
 */
export type { MaybePromise } from '../maybe-promise.js'
export {
  type Admission,
  admitRequest,
  admitView,
  authorizePrincipal,
  checkRoute,
  compileRouteRule,
  judgeRequest,
  type RouteRule,
  whenSettled,
} from './admit.js'
export { grpcCallView } from './grpc.js'
export { type AdapterLogger, consoleLogger, loggerOption, logRejection } from './log.js'
export { type AdapterOptions, adapterCheck, resolveAuthenticator, splitAdapterOptions } from './options.js'
export { writeProblem } from './respond.js'
export {
  authenticateUpgrade,
  type ClientCertUpgradeOptions,
  clientCertUpgrade,
  refuseUpgrade,
  type UpgradeHandler,
  type UpgradeRule,
  type UpgradeSocket,
} from './upgrade.js'
export { mountedAfterBody, type NodeRequestView, nodeRequestOf } from './view.js'
