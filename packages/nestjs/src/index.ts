export type { AllowPolicy, ClientCertError, ClientPrincipal } from '@clientcert/core'
export { AllowClients, ClientCert, OptionalClientCert } from './decorators.js'
export { ClientCertException, ClientCertExceptionFilter, ClientCertGuard, httpError } from './guard.js'
export { installClientCert } from './install.js'
export {
  ClientCertInstallation,
  ClientCertModule,
  type ClientCertModuleAsyncOptions,
  type ClientCertOptionsFactory,
} from './module.js'
export {
  CLIENT_CERT_AUTHENTICATOR,
  CLIENT_CERT_MODULE_OPTIONS,
  type ClientCertModuleOptions,
} from './tokens.js'
