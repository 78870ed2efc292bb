import type { IncomingMessage } from 'node:http'
import type { ClientCertError, ClientPrincipal } from '@clientcert/core'
import { ClientCertModule, type ClientCertModuleOptions } from '@clientcert/nestjs'
import type { Request } from 'express'
import { describe, expectTypeOf, it } from 'vitest'

describe('@clientcert/nestjs types', () => {
  it('hook contexts carry the Node request by default, or the request type the application names', () => {
    ClientCertModule.forRoot({
      allow: { authenticated: true },
      onRejected: (err, { request }) => {
        expectTypeOf(err).toEqualTypeOf<ClientCertError>()
        expectTypeOf(request).toEqualTypeOf<IncomingMessage>()
        expectTypeOf(request.url).toEqualTypeOf<string | undefined>()
      },
    })
    ClientCertModule.forRoot<Request>({
      allow: { authenticated: true },
      logger: false,
      onRejected: (_err, { request }) => {
        expectTypeOf(request).toEqualTypeOf<Request>()
        expectTypeOf(request.originalUrl).toBeString()
      },
    })
    ClientCertModule.forRootAsync<Request>({
      useFactory: (): ClientCertModuleOptions<Request> => ({
        allow: { authenticated: true },
        onAuthenticated: (_p, { request }) => expectTypeOf(request).toEqualTypeOf<Request>(),
      }),
    })
    // @ts-expect-error a logger needs info, warn and error
    ClientCertModule.forRoot({ allow: { authenticated: true }, logger: { info() {} } })
    // @ts-expect-error globalGuard is a boolean
    ClientCertModule.forRoot({ allow: { authenticated: true }, globalGuard: 'no' })
  })

  it('types req.clientCert on the Express request (declared by @clientcert/nestjs itself)', () => {
    expectTypeOf<Request['clientCert']>().toEqualTypeOf<ClientPrincipal | undefined>()
  })
})
