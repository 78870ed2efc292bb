import type { IncomingMessage } from 'node:http'
import type { ClientCertAuthenticator, ClientCertOptions } from '@clientcert/core'
import type { AdapterLogger } from '@clientcert/core/adapter'

/**
 * Module options: core options (or an existing authenticator) plus module settings. `R` is the
 * request the hooks (`onRejected`, `onAuthenticated`, …) receive: the Node request on both
 * platforms (Fastify's `request.raw`; on Express the `Request`, which is one), so
 * `ClientCertModule.forRoot<Request>(…)` types it as Express's on the Express platform.
 */
export type ClientCertModuleOptions<R extends object = IncomingMessage> = (
  | ClientCertOptions<R>
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
  /**
   * Where rejections (one line each at Nest's `log` level: method, path, status, code and
   * reason, never the certificate) and deployment mistakes (`warn`/`error`) go: a logger with
   * `info`, `warn` and `error`, a function for every line, or `false`. Default: Nest's `Logger`
   * with the context `ClientCert` (so `app.useLogger()` and log levels apply).
   */
  readonly logger?: AdapterLogger | ((message: string) => void) | false
}

/** DI token of the module options. */
export const CLIENT_CERT_MODULE_OPTIONS = Symbol.for('clientcert.nestjs.options')
/** DI token of the `ClientCertAuthenticator` built from the options. */
export const CLIENT_CERT_AUTHENTICATOR = Symbol.for('clientcert.nestjs.authenticator')
/** @internal DI token of the checked module settings and the authenticator. */
export const CLIENT_CERT_RESOLVED = Symbol.for('clientcert.nestjs.resolved')

/** @internal The module options once checked. */
export interface ResolvedModule {
  readonly authenticator: ClientCertAuthenticator
  readonly optional: boolean
  readonly globalGuard: boolean
  readonly logger: AdapterLogger
}

/** Metadata keys of the decorators. */
export const POLICY_METADATA = 'clientcert:policy'
export const OPTIONAL_METADATA = 'clientcert:optional'
/** @nestjs/platform-fastify's route-config metadata key (FASTIFY_ROUTE_CONFIG_METADATA). */
export const FASTIFY_ROUTE_CONFIG = '__fastify_route_config__'

export type { ClientCertAuthenticator }
