import * as http from 'node:http'
import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { loadExampleConfig, urlFor } from '@clientcert/testing'
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

const server = https.createServer(config.https, app.callback())
server.listen(config.port, config.host, () => {
  config.announce('koa example', urlFor('https', config.host, (server.address() as AddressInfo).port))
})
if (config.forwarded) {
  const hop = http.createServer(app.callback())
  hop.listen(config.forwarded.httpPort, config.host, () => {
    console.log(
      `koa example forwarded-certificate hop on ${urlFor('http', config.host, (hop.address() as AddressInfo).port)}`,
    )
  })
}
