import { ClientCertConfigError } from '@clientcert/core'
import type { INestApplication } from '@nestjs/common'
import { ClientCertInstallation } from './module.js'
import { RouteRules } from './route-table.js'
import { CLIENT_CERT_RESOLVED, type ResolvedModule } from './tokens.js'

interface FastifyCapableApp {
  register(plugin: unknown, options: unknown): unknown
}

/**
 * Loads the platform's adapter. They are optional peer dependencies, so an Express-platform app
 * installs no Fastify (and the reverse); only the one in use must be there.
 */
async function platformAdapter<T>(
  name: '@clientcert/express' | '@clientcert/fastify',
  load: () => Promise<T>,
): Promise<T> {
  try {
    return await load()
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String(err).includes(name)) {
      throw new ClientCertConfigError(
        'installClientCert',
        `this application runs on the ${name.slice('@clientcert/'.length)} platform, which needs ${name}: install it next to @clientcert/nestjs (npm install ${name})`,
        { cause: err },
      )
    }
    throw err
  }
}

/**
 * Installs the pre-parse stage: on Express, middleware mounted before the body parsers Nest
 * adds in `init()`, which also applies the route's `@AllowClients` / `@OptionalClientCert` from a
 * route table built at bootstrap (the guard checks again); on Fastify, an `onRequest` hook
 * (before any content-type parser). Call it after `NestFactory.create()` and before
 * `app.init()`/`app.listen()`; the module refuses to bootstrap without it, and it refuses to run
 * after `init()`. Needs `@clientcert/express` or `@clientcert/fastify`, for the platform in use.
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
  const { authenticator, optional, logger } = app.get<ResolvedModule>(CLIENT_CERT_RESOLVED)
  const platform = app.getHttpAdapter().getType()
  if (platform === 'express') {
    const { clientCert } = await platformAdapter('@clientcert/express', () => import('@clientcert/express'))
    app.use(clientCert({ authenticator, optional, logger }))
    // Route rules before Nest's body parser and module middleware; the routes, global prefix and
    // versioning are only final at bootstrap, so the table is filled then.
    const rules = new RouteRules(authenticator, optional, logger)
    app.use(rules.middleware)
    installation.onBootstrap = () => rules.build(app)
  } else if (platform === 'fastify') {
    const { clientCert } = await platformAdapter('@clientcert/fastify', () => import('@clientcert/fastify'))
    // Nest replaces Fastify's error handler during init, so the hook answers by itself.
    await (app as unknown as FastifyCapableApp).register(clientCert, {
      authenticator,
      optional,
      logger,
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
