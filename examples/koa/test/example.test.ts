import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { exampleContract } from '../../../test/support/example-contract.js'
import { createApp } from '../src/app.js'

exampleContract({
  name: 'koa',
  dir: fileURLToPath(new URL('..', import.meta.url)),
  async start(pki) {
    const server = https.createServer(
      { ...pki.server.tlsOptions(), ca: pki.clientCaPem, requestCert: true, rejectUnauthorized: false },
      createApp({ adminIds: ['admin'], auth: { onRejected: () => {} } }).callback(),
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
