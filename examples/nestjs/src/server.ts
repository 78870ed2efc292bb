import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { loadExampleConfig, urlFor } from '@clientcert/testing'
import { createApp, type Platform } from './app.js'

const platform = (process.env.PLATFORM ?? 'express') as Platform
if (platform !== 'express' && platform !== 'fastify') {
  throw new Error(`PLATFORM must be express or fastify, not ${JSON.stringify(platform)}`)
}
const config = await loadExampleConfig(
  process.env,
  fileURLToPath(new URL('../.certs', import.meta.url)),
  8445,
)
const auth = config.forwarded ? { auth: config.forwarded.auth } : {}
const app = await createApp({ platform, adminIds: config.adminIds, https: config.https, ...auth })
await app.listen(config.port, config.host)
config.announce(
  `nestjs example (${platform})`,
  urlFor('https', config.host, (app.getHttpServer().address() as AddressInfo).port),
)
if (config.forwarded) {
  // The plain-HTTP hop for the proxy is a second application instance.
  const hop = await createApp({ platform, adminIds: config.adminIds, https: null, ...auth })
  await hop.listen(config.forwarded.httpPort, config.host)
  console.log(
    `nestjs example (${platform}) forwarded-certificate hop on ${urlFor('http', config.host, (hop.getHttpServer().address() as AddressInfo).port)}`,
  )
}
