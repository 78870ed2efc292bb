import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { exampleContract } from '../../../test/support/example-contract.js'
import { createApp, createListener } from '../src/app.js'

// The same contract for both mounts: the middleware, and withClientCert() in front of the app.
for (const [name, build, env] of [
  ['express', createApp, {}],
  ['express (withClientCert)', createListener, { MOUNT: 'front' }],
] as const) {
  exampleContract({
    name,
    env,
    dir: fileURLToPath(new URL('..', import.meta.url)),
    async start(pki) {
      const server = https.createServer(
        { ...pki.server.tlsOptions(), ca: pki.clientCaPem, requestCert: true, rejectUnauthorized: false },
        build({ adminIds: ['admin'], auth: { onRejected: () => {} } }),
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
}
