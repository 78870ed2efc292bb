import type { ClientPrincipal } from '@clientcert/core'

// \`req.clientCert\` on the Express platform, without importing express: a global namespace
// merges with @types/express when it is installed and costs nothing when it is not, so a Nest
// app gets the property typed from @clientcert/nestjs alone (same declaration as
// @clientcert/express, which the compiler merges).
declare global {
  namespace Express {
    interface Request {
      /** The authenticated client, set by the pre-parse stage; undefined when none was required and none was sent. */
      clientCert?: ClientPrincipal | undefined
    }
  }
}

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
