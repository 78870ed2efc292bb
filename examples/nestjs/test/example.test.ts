import { fileURLToPath } from 'node:url'
import { mtlsServerOptions, type TestPki } from '@clientcert/testing'
import { exampleContract } from '../../../test/support/example-contract.js'
import { createApp, type Platform } from '../src/app.js'

const dir = fileURLToPath(new URL('..', import.meta.url))

async function start(platform: Platform, pki: TestPki) {
  const app = await createApp({
    platform,
    adminIds: ['admin'],
    https: mtlsServerOptions({ pki, rejectUnauthorized: false }),
    logger: false,
  })
  await app.listen(0, '127.0.0.1')
  return { url: await app.getUrl(), close: () => app.close() }
}

exampleContract({ name: 'nestjs', dir, env: { PLATFORM: 'express' }, start: (pki) => start('express', pki) })
exampleContract({
  name: 'nestjs-fastify',
  dir,
  env: { PLATFORM: 'fastify' },
  start: (pki) => start('fastify', pki),
})
