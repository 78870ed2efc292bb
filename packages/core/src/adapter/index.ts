/**
 * The adapter kit (`@clientcert/core/adapter`): everything a framework adapter needs, so that an
 * adapter holds only what is specific to its framework. Express, Fastify, Passport and NestJS
 * are written on it; see docs/adapters/writing-an-adapter.md.
 */
export {
  type Admission,
  admitRequest,
  checkRoute,
  compileRouteRule,
  type MaybePromise,
  type RouteRule,
  whenSettled,
} from './admit.js'
export { grpcCallView } from './grpc.js'
export { type AdapterOptions, adapterCheck, splitAdapterOptions } from './options.js'
export { writeProblem } from './respond.js'
export { mountedAfterBody, type NodeRequestView, nodeRequestOf } from './view.js'
