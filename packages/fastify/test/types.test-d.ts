import type { ClientPrincipal } from '@clientcert/core'
import { clientCert } from '@clientcert/fastify'
import Fastify, { type FastifyRequest } from 'fastify'
import { describe, expectTypeOf, it } from 'vitest'

describe('@clientcert/fastify types', () => {
  it('decorates FastifyRequest with clientCert', () => {
    expectTypeOf<FastifyRequest['clientCert']>().toEqualTypeOf<ClientPrincipal | undefined>()
  })

  it('types plugin options and route config', async () => {
    const app = Fastify()
    await app.register(clientCert, { identity: 'spiffe', allow: { spiffe: { trustDomain: 'example.org' } } })
    app.get('/a', { config: { clientCert: { allow: { ids: ['x'] }, optional: false } } }, async (req) => {
      expectTypeOf(req.clientCert).toEqualTypeOf<ClientPrincipal | undefined>()
      return req.clientCert?.id
    })
    // @ts-expect-error unknown policy key in a route config
    app.get('/b', { config: { clientCert: { allow: { id: ['x'] } } } }, async () => 'b')
    // @ts-expect-error allow is required
    await app.register(clientCert, { identity: 'cn' })
    await app.register(clientCert, {
      allow: { authenticated: true },
      // Hook contexts carry Fastify's Node request (request.raw), typed.
      onRejected: (_err, { request }) => expectTypeOf(request).toEqualTypeOf<FastifyRequest['raw']>(),
    })
  })
})
