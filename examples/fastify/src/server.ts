import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { loadExampleConfig, urlFor } from '@clientcert/testing'
import { createApp } from './app.js'

const config = await loadExampleConfig(
  process.env,
  fileURLToPath(new URL('../.certs', import.meta.url)),
  8444,
)
const auth = config.forwarded ? { auth: config.forwarded.auth } : {}
const app = await createApp({ adminIds: config.adminIds, https: config.https, ...auth })
await app.listen({ port: config.port, host: config.host })
config.announce('fastify example', urlFor('https', config.host, (app.server.address() as AddressInfo).port))
if (config.forwarded) {
  // A Fastify instance has one server: the plain-HTTP hop for the proxy is a second one.
  const hop = await createApp({ adminIds: config.adminIds, https: null, ...auth })
  await hop.listen({ port: config.forwarded.httpPort, host: config.host })
  console.log(
    `fastify example forwarded-certificate hop on ${urlFor('http', config.host, (hop.server.address() as AddressInfo).port)}`,
  )
}
