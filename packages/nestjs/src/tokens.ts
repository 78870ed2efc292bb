import type { ClientCertAuthenticator, ClientCertOptions } from '@clientcert/core'

/** Module options: core options (or an existing authenticator) plus module settings. */
export type ClientCertModuleOptions = (
  | ClientCertOptions
  | { readonly authenticator: ClientCertAuthenticator }
) & {
  /**
   * Let requests without a certificate through the pre-parse stage for routes marked
   * `@OptionalClientCert()`. See docs/adapters/nestjs.md for what each platform can decide
   * before the body is parsed.
   */
  readonly optional?: boolean
  /** Register `ClientCertGuard` for every route (APP_GUARD). Default true. */
  readonly globalGuard?: boolean
}

/** DI token of the module options. */
export const CLIENT_CERT_MODULE_OPTIONS = Symbol.for('clientcert.nestjs.options')
/** DI token of the `ClientCertAuthenticator` built from the options. */
export const CLIENT_CERT_AUTHENTICATOR = Symbol.for('clientcert.nestjs.authenticator')

/** Metadata keys of the decorators. */
export const POLICY_METADATA = 'clientcert:policy'
export const OPTIONAL_METADATA = 'clientcert:optional'
/** @nestjs/platform-fastify's route-config metadata key (FASTIFY_ROUTE_CONFIG_METADATA). */
export const FASTIFY_ROUTE_CONFIG = '__fastify_route_config__'

export type { ClientCertAuthenticator }
