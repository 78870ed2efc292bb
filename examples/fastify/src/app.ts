import type { Server } from 'node:https'
import type { ClientCertOptions } from '@clientcert/core'
import { clientCert } from '@clientcert/fastify'
import Fastify, { type FastifyHttpsOptions, type FastifyInstance } from 'fastify'

export interface ExampleAppOptions {
  /** Principal IDs allowed on GET /admin. */
  readonly adminIds: readonly string[]
  /** TLS server options (cert, key, ca, requestCert...). */
  readonly https: FastifyHttpsOptions<Server>['https']
  /** Extra core options (trust, identity, hooks...). */
  readonly auth?: Partial<ClientCertOptions>
}

/**
 * The example app. The plugin authenticates in onRequest, so a request without a valid
 * client certificate is rejected before Fastify parses a single body byte.
 */
export async function createApp(options: ExampleAppOptions): Promise<FastifyInstance> {
  const app = Fastify({ https: options.https, logger: false }) as unknown as FastifyInstance
  await app.register(clientCert, { identity: 'cn', allow: { authenticated: true }, ...options.auth })

  app.get('/whoami', async (req) => {
    const p = req.clientCert!
    return {
      principal: {
        id: p.id,
        kind: p.kind,
        subject: p.subject.dn,
        spiffeId: p.spiffeId ?? null,
        fingerprint256: p.fingerprint256,
      },
    }
  })
  app.post('/echo', async (req) => ({ principal: { id: req.clientCert!.id }, body: req.body }))
  app.get('/admin', { config: { clientCert: { allow: { ids: [...options.adminIds] } } } }, async (req) => ({
    principal: { id: req.clientCert!.id },
    admin: true,
  }))
  return app
}
