import type { ClientPrincipal } from '@clientcert/core'
import { clientCert, requireClientCert } from '@clientcert/koa'
import Router from '@koa/router'
import Koa, { type Middleware } from 'koa'
import { describe, expectTypeOf, it } from 'vitest'

describe('@clientcert/koa types', () => {
  it('types ctx.state.clientCert through DefaultState', () => {
    const app = new Koa()
    app.use((ctx) => {
      expectTypeOf(ctx.state.clientCert).toEqualTypeOf<ClientPrincipal | undefined>()
    })
    const router = new Router()
    router.get('/', requireClientCert({ ids: ['a'] }), (ctx) => {
      expectTypeOf(ctx.state.clientCert).toEqualTypeOf<ClientPrincipal | undefined>()
    })
  })

  it('returns Koa middleware', () => {
    expectTypeOf(clientCert({ allow: { authenticated: true }, optional: true })).toEqualTypeOf<Middleware>()
    expectTypeOf(requireClientCert()).toEqualTypeOf<Middleware>()
  })
})
