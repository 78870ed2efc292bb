import * as https from 'node:https'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { clientCert, requireClientCert } from '@clientcert/koa'
import { createTestPki, requestWithUndici } from '@clientcert/testing'
import { expect, it } from 'vitest'

// The adapter needs nothing from Koa at run time, so Koa 2 is checked as a consumer would run it:
// `npm install koa@2` into a directory and `KOA2_DIR=<dir> npx vitest run packages/koa/test/koa2.local.test.ts`.
it.skipIf(!process.env.KOA2_DIR)(
  'Koa 2 (from KOA2_DIR): admitted, rejected with the problem body, guard',
  async () => {
    const Koa = createRequire(`${process.env.KOA2_DIR}/`)('koa') as typeof import('koa')
    const pki = await createTestPki()
    const alice = await pki.issueClient({ subject: 'CN=alice' })
    const app = new Koa()
    app.use(clientCert({ identity: 'cn', allow: { authenticated: true }, onRejected: () => {} }))
    app.use(async (ctx, next) =>
      ctx.path === '/admin' ? requireClientCert({ ids: ['admin'] })(ctx, next) : next(),
    )
    app.use((ctx) => {
      ctx.body = {
        id: ctx.state.clientCert?.id,
        koa: (Koa as unknown as { version?: string }).version ?? 'n/a',
      }
    })
    const server = https.createServer(
      { ...pki.server.tlsOptions(), ca: pki.clientCaPem, requestCert: true, rejectUnauthorized: false },
      app.callback(),
    )
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const ok = await requestWithUndici(`${url}/`, { ca: pki.serverCa.pem, client: alice })
      expect(ok.status).toBe(200)
      expect(JSON.parse(ok.body).id).toBe('alice')
      const none = await requestWithUndici(`${url}/`, { ca: pki.serverCa.pem })
      expect(none.status).toBe(401)
      expect(none.headers['content-type']).toBe('application/problem+json')
      const admin = await requestWithUndici(`${url}/admin`, { ca: pki.serverCa.pem, client: alice })
      expect(admin.status).toBe(403)
    } finally {
      server.closeAllConnections()
      server.close()
    }
  },
)
