import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { getRequestListener } from '@hono/node-server'
import { exampleContract } from '../../../test/support/example-contract.js'
import { createApp } from '../src/app.js'

exampleContract({
  name: 'hono',
  dir: fileURLToPath(new URL('..', import.meta.url)),
  async start(pki) {
    const app = createApp({ adminIds: ['admin'], auth: { onRejected: () => {} } })
    const server = https.createServer(
      { ...pki.server.tlsOptions(), ca: pki.clientCaPem, requestCert: true, rejectUnauthorized: false },
      getRequestListener(app.fetch, { hostname: '127.0.0.1' }),
    )
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return {
      url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: async () => {
        server.closeAllConnections()
        server.close()
      },
    }
  },
})
