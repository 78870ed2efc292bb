import type { ClientPrincipal } from '@clientcert/core'
import {
  type ClientCertEnv,
  clientCert,
  requireClientCert,
  type WebClientCertEnv,
  webClientCert,
} from '@clientcert/hono'
import { Hono } from 'hono'
import { describe, expectTypeOf, it } from 'vitest'

describe('@clientcert/hono types', () => {
  it("types c.get('clientCert') through the Variables of ClientCertEnv and WebClientCertEnv", () => {
    const node = new Hono<ClientCertEnv>()
    node.use(clientCert({ allow: { authenticated: true } }))
    node.get('/', requireClientCert({ ids: ['a'] }), (c) => {
      expectTypeOf(c.get('clientCert')).toEqualTypeOf<ClientPrincipal | undefined>()
      expectTypeOf(c.env.incoming.socket).not.toBeAny()
      return c.text('ok')
    })
    const web = new Hono<WebClientCertEnv>()
    web.use(
      webClientCert({
        allow: { authenticated: true },
        trust: { anchors: 'pem' },
        forwarded: { format: 'rfc9440' },
        trustedBoundary: { sharedSecretHeader: 'x-proxy-auth', secret: 's' },
      }),
    )
    web.get('/', (c) => c.text(c.get('clientCert')?.id ?? ''))
  })

  it('requires a trust boundary on Web runtimes (a type error, then a startup error)', () => {
    // @ts-expect-error trustedBoundary is required
    expectTypeOf(webClientCert).toBeCallableWith({
      allow: { authenticated: true },
      forwarded: { format: 'rfc9440' },
    })
  })
})
