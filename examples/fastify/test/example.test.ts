import { fileURLToPath } from 'node:url'
import { listenOnLoopback, mtlsServerOptions } from '@clientcert/testing'
import { exampleContract } from '../../../test/support/example-contract.js'
import { createApp } from '../src/app.js'

exampleContract({
  name: 'fastify',
  dir: fileURLToPath(new URL('..', import.meta.url)),
  async start(pki) {
    const app = await createApp({
      adminIds: ['admin'],
      https: mtlsServerOptions({ pki, rejectUnauthorized: false }),
    })
    return { url: await listenOnLoopback(app), close: () => app.close() }
  },
})
