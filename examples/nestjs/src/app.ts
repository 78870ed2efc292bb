import type { ServerOptions } from 'node:https'
import type { ClientCertOptions } from '@clientcert/core'
import { installClientCert } from '@clientcert/nestjs'
import type { INestApplication, LogLevel } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import type { NestExpressApplication } from '@nestjs/platform-express'
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify'
import { createAppModule } from './app.module.js'

export type Platform = 'express' | 'fastify'

export interface ExampleAppOptions {
  /** Nest's HTTP platform. */
  readonly platform: Platform
  /** Principal IDs allowed on GET /admin. */
  readonly adminIds: readonly string[]
  /**
   * TLS server options (cert, key, ca, requestCert...). Without `SNICallback`, whose type in
   * Nest's `HttpsOptions` (Express platform) differs from Node's.
   */
  readonly https: Omit<ServerOptions, 'SNICallback'> | null
  /** Extra core options (forwarded mode, trust...). */
  readonly auth?: Partial<ClientCertOptions>
  /** Nest's logger; `false` silences it. Default: errors and warnings. */
  readonly logger?: false | LogLevel[]
}

/**
 * Creates the Nest application on the chosen platform with the pre-parse stage installed.
 * The caller starts it with `app.listen(port, host)`.
 */
export async function createApp(options: ExampleAppOptions): Promise<INestApplication> {
  const AppModule = createAppModule(options.adminIds, options.auth)
  const logger = options.logger ?? ['error', 'warn']
  const app =
    options.platform === 'fastify'
      ? await NestFactory.create<NestFastifyApplication>(
          AppModule,
          new FastifyAdapter(options.https ? { https: options.https } : {}),
          { logger },
        )
      : await NestFactory.create<NestExpressApplication>(AppModule, {
          ...(options.https ? { httpsOptions: options.https } : {}),
          logger,
        })
  // Before listen(): on Express this mounts the certificate check ahead of the body parsers
  // Nest registers in init(); on Fastify it adds an onRequest hook. Without it, bootstrap fails.
  await installClientCert(app)
  return app
}
