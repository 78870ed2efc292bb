import type { ClientCertOptions } from '@clientcert/core'
import { type ClientCertEnv, clientCert, requireClientCert } from '@clientcert/hono'
import { Hono } from 'hono'

export interface ExampleAppOptions {
  /** Principal IDs allowed on GET /admin. */
  readonly adminIds: readonly string[]
  /** Extra core options (trust, identity, hooks...). */
  readonly auth?: Partial<ClientCertOptions>
}

/**
 * The example app, for `@hono/node-server`. `clientCert()` is mounted first, so a request
 * without a valid client certificate is rejected before any handler reads the body.
 */
export function createApp(options: ExampleAppOptions): Hono<ClientCertEnv> {
  const app = new Hono<ClientCertEnv>()
  app.use(
    clientCert({
      identity: 'cn',
      allow: { authenticated: true },
      onRejected: (err) => console.warn(`rejected: ${err.code} (${err.reason})`),
      ...options.auth,
    }),
  )
  app.get('/whoami', (c) => {
    const p = c.get('clientCert')!
    return c.json({
      principal: {
        id: p.id,
        kind: p.kind,
        subject: p.subject.dn,
        spiffeId: p.spiffeId ?? null,
        fingerprint256: p.fingerprint256,
      },
    })
  })
  app.post('/echo', async (c) => {
    const body = await c.req.json().catch(() => undefined)
    if (body === undefined) return c.json({ error: 'expected a JSON body' }, 400)
    return c.json({ principal: { id: c.get('clientCert')!.id }, body })
  })
  app.get('/admin', requireClientCert({ ids: [...options.adminIds] }), (c) =>
    c.json({ principal: { id: c.get('clientCert')!.id }, admin: true }),
  )
  return app
}
