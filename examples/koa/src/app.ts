import type { ClientCertOptions } from '@clientcert/core'
import { clientCert, requireClientCert } from '@clientcert/koa'
import { bodyParser } from '@koa/bodyparser'
import Router from '@koa/router'
import Koa from 'koa'

export interface ExampleAppOptions {
  /** Principal IDs allowed on GET /admin. */
  readonly adminIds: readonly string[]
  /** Extra core options (trust, identity, hooks...). */
  readonly auth?: Partial<ClientCertOptions>
}

/**
 * The example app. `clientCert()` is mounted first, so a request without a valid client
 * certificate is rejected before `@koa/bodyparser` reads a single body byte.
 */
export function createApp(options: ExampleAppOptions): Koa {
  const app = new Koa()
  app.use(
    clientCert({
      identity: 'cn',
      allow: { authenticated: true },
      onRejected: (err) => console.warn(`rejected: ${err.code} (${err.reason})`),
      ...options.auth,
    }),
  )
  app.use(bodyParser({ enableTypes: ['json'], jsonLimit: '100kb' }))
  const router = new Router()
  router.get('/whoami', (ctx) => {
    const p = ctx.state.clientCert!
    ctx.body = {
      principal: {
        id: p.id,
        kind: p.kind,
        subject: p.subject.dn,
        spiffeId: p.spiffeId ?? null,
        fingerprint256: p.fingerprint256,
      },
    }
  })
  router.post('/echo', (ctx) => {
    ctx.body = { principal: { id: ctx.state.clientCert!.id }, body: ctx.request.body }
  })
  router.get('/admin', requireClientCert({ ids: [...options.adminIds] }), (ctx) => {
    ctx.body = { principal: { id: ctx.state.clientCert!.id }, admin: true }
  })
  app.use(router.routes())
  return app
}
