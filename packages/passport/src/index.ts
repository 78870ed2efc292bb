import type { ClientPrincipal } from '@clientcert/core'

declare global {
  namespace Express {
    interface Request {
      /**
       * The authenticated client. Set by `ClientCertStrategy` when authentication succeeds
       * (and by `@clientcert/express`'s `clientCert()`); undefined otherwise.
       */
      clientCert?: ClientPrincipal | undefined
    }
  }
}

export type { AllowPolicy, ClientCertError, ClientPrincipal } from '@clientcert/core'
export {
  type ClientCertErrorHandlerOptions,
  type ClientCertErrorMiddleware,
  clientCertErrorHandler,
} from './error-handler.js'
export { getClientCertError } from './request.js'
export {
  type AuthenticatorOptions,
  type ClientCertFailureInfo,
  ClientCertStrategy,
  type ClientCertStrategyOptions,
  type ClientCertStrategyOptionsWithRequest,
  type VerifiedCallback,
  type VerifyFunction,
  type VerifyFunctionWithRequest,
} from './strategy.js'
