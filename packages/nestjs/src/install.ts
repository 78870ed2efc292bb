import { type ClientCertAuthenticator, ClientCertConfigError } from '@clientcert/core'
import { clientCert as expressClientCert } from '@clientcert/express'
import { clientCert as fastifyClientCert } from '@clientcert/fastify'
import type { INestApplication } from '@nestjs/common'
import { ClientCertInstallation } from './module.js'
import { RouteRules } from './route-table.js'
import {
  CLIENT_CERT_AUTHENTICATOR,
  CLIENT_CERT_MODULE_OPTIONS,
  type ClientCertModuleOptions,
} from './tokens.js'

interface FastifyCapableApp {
  register(plugin: unknown, options: unknown): unknown
}

/**
 * Installs the pre-parse stage: on Express, middleware mounted before the body parsers Nest
 * adds in `init()`, which also applies the route's `@AllowClients` / `@OptionalClientCert` from a
 * route table built at bootstrap (the guard checks again); on Fastify, an `onRequest` hook (before any content-type parser). Call it
 * after `NestFactory.create()` and before `app.init()`/`app.listen()`; the module refuses to
 * bootstrap without it, and it refuses to run after `init()`.
 */
export async function installClientCert(app: INestApplication): Promise<void> {
  if ((app as { isInitialized?: unknown }).isInitialized === true) {
    throw new ClientCertConfigError(
      'installClientCert',
      'must be called before app.init()/app.listen(): Nest has already registered its body parsers',
    )
  }
  const installation = app.get(ClientCertInstallation)
  if (installation.installed)
    throw new ClientCertConfigError('installClientCert', 'was already called for this application')
  const options = app.get<ClientCertModuleOptions>(CLIENT_CERT_MODULE_OPTIONS)
  const authenticator = app.get<ClientCertAuthenticator>(CLIENT_CERT_AUTHENTICATOR)
  const optional = options.optional ?? false
  const platform = app.getHttpAdapter().getType()
  if (platform === 'express') {
    app.use(expressClientCert({ authenticator, optional }))
    // Route rules before Nest's body parser and module middleware; the routes, global prefix and
    // versioning are only final at bootstrap, so the table is filled then.
    const rules = new RouteRules(authenticator, optional)
    app.use(rules.middleware)
    installation.onBootstrap = () => rules.build(app)
  } else if (platform === 'fastify') {
    // Nest replaces Fastify's error handler during init, so the hook answers by itself.
    await (app as unknown as FastifyCapableApp).register(fastifyClientCert, {
      authenticator,
      optional,
      replyDirectly: true,
    })
  } else {
    throw new ClientCertConfigError(
      'installClientCert',
      `unsupported HTTP platform "${platform}" (expected express or fastify)`,
    )
  }
  installation.installed = true
}
