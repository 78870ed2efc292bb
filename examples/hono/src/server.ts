import * as http from 'node:http'
import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { loadExampleConfig, urlFor } from '@clientcert/testing'
import { getRequestListener } from '@hono/node-server'
import { createApp } from './app.js'

const config = await loadExampleConfig(
  process.env,
  fileURLToPath(new URL('../.certs', import.meta.url)),
  8443,
)
// One app: direct TLS clients by their socket certificate; with TRUSTED_PROXIES, also
// certificates forwarded by those proxies on the plain-HTTP port.
const app = createApp({
  adminIds: config.adminIds,
  ...(config.forwarded ? { auth: config.forwarded.auth } : {}),
})
// `@hono/node-server`'s listener: the Node request reaches clientcert as `c.env.incoming`.
const listener = getRequestListener(app.fetch, { hostname: config.host })

const server = https.createServer(config.https, listener)
server.listen(config.port, config.host, () => {
  config.announce('hono example', urlFor('https', config.host, (server.address() as AddressInfo).port))
})
if (config.forwarded) {
  const hop = http.createServer(listener)
  hop.listen(config.forwarded.httpPort, config.host, () => {
    console.log(
      `hono example forwarded-certificate hop on ${urlFor('http', config.host, (hop.address() as AddressInfo).port)}`,
    )
  })
}
