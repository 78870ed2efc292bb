import type { ClientCertError, ClientPrincipal } from '@clientcert/core'
import { clientCert, requireClientCert } from '@clientcert/express'
import express, { type Request, type RequestHandler } from 'express'
import { describe, expectTypeOf, it } from 'vitest'

describe('@clientcert/express types', () => {
  it('augments Express Request with clientCert', () => {
    expectTypeOf<Request['clientCert']>().toEqualTypeOf<ClientPrincipal | undefined>()
    const app = express()
    app.get('/', (req) => {
      expectTypeOf(req.clientCert).toEqualTypeOf<ClientPrincipal | undefined>()
      if (req.clientCert) {
        expectTypeOf(req.clientCert.id).toBeString()
        expectTypeOf(req.clientCert.x5tS256).toBeString()
        expectTypeOf(req.clientCert.spiffeId).toEqualTypeOf<string | undefined>()
      }
    })
  })

  it('returns Express handlers and checks option types', () => {
    expectTypeOf(clientCert({ allow: { authenticated: true } })).toEqualTypeOf<RequestHandler>()
    expectTypeOf(requireClientCert({ ids: ['a'] })).toEqualTypeOf<RequestHandler>()
    clientCert({
      identity: 'spiffe',
      allow: { spiffe: { trustDomain: 'example.org', pathPrefix: '/ns/prod' } },
      optional: true,
      onRejected: (err, { request }) => {
        expectTypeOf(err).toEqualTypeOf<ClientCertError>()
        // Hook contexts carry the Express request, typed: no cast to read its path.
        expectTypeOf(request).toEqualTypeOf<Request>()
        expectTypeOf(request.originalUrl).toBeString()
      },
      onAuthenticated: (principal, { request }) => {
        expectTypeOf(principal).toEqualTypeOf<ClientPrincipal>()
        expectTypeOf(request).toEqualTypeOf<Request>()
      },
    })
    // @ts-expect-error allow is required
    clientCert({ identity: 'cn' })
    // @ts-expect-error unknown identity mapping
    clientCert({ identity: 'common-name', allow: { authenticated: true } })
    // @ts-expect-error a policy key that does not exist
    requireClientCert({ id: ['a'] })
  })
})
