import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import { ClientCertConfigError } from '@clientcert/core'
import { clientCert, requireClientCert } from '@clientcert/koa'
import Koa from 'koa'
import { describe, expect, it } from 'vitest'

async function serve(app: Koa): Promise<{ url: string; close(): void }> {
  const server = http.createServer(app.callback())
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections()
      server.close()
    },
  }
}

describe('@clientcert/koa', () => {
  it('throws coded errors at construction', () => {
    const cases: Array<[() => unknown, string]> = [
      [() => clientCert({ allow: { authenticated: true }, nope: 1 } as never), 'nope'],
      [() => clientCert({ identity: 'cn' } as never), 'allow'],
      [() => clientCert({ allow: { authenticated: true }, optional: 'yes' } as never), 'optional'],
      [() => requireClientCert({ ids: ['a'], groups: ['b'] } as never), 'requireClientCert(policy)'],
    ]
    for (const [fn, option] of cases) {
      let caught: unknown
      try {
        fn()
      } catch (err) {
        caught = err
      }
      expect(caught).toBeInstanceOf(ClientCertConfigError)
      expect(caught).toMatchObject({ option })
    }
  })

  it('requireClientCert() without clientCert() before it fails closed with the problem body', async () => {
    const app = new Koa()
    let handled = false
    app.use(requireClientCert())
    app.use((ctx) => {
      handled = true
      ctx.body = 'ok'
    })
    const s = await serve(app)
    try {
      const res = await fetch(`${s.url}/`)
      expect(res.status).toBe(500)
      expect(res.headers.get('content-type')).toBe('application/problem+json')
      expect(res.headers.get('cache-control')).toBe('no-store')
      expect(((await res.json()) as { code: string }).code).toBe('ERR_CLIENT_CERT_MISCONFIGURED')
      expect(handled).toBe(false)
    } finally {
      s.close()
    }
  })

  it('a parser that left ctx.request.body before clientCert() → 500 BODY_ALREADY_READ, logged', async () => {
    const app = new Koa()
    const logged: string[] = []
    let handled = false
    app.use((ctx, next) => {
      ;(ctx.request as { body?: unknown }).body = { parsed: true }
      return next()
    })
    app.use(
      clientCert({ allow: { authenticated: true }, logger: (m) => logged.push(m), onRejected: () => {} }),
    )
    app.use((ctx) => {
      handled = true
      ctx.body = 'ok'
    })
    const s = await serve(app)
    try {
      const res = await fetch(`${s.url}/`)
      expect(res.status).toBe(500)
      expect(((await res.json()) as { code: string }).code).toBe('ERR_CLIENT_CERT_BODY_ALREADY_READ')
      expect(logged.join()).toMatch(/@koa\/bodyparser/)
      expect(handled).toBe(false)
    } finally {
      s.close()
    }
  })
})
