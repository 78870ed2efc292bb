import * as http from 'node:http'
import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { loadExampleConfig, urlFor } from '@clientcert/testing'
import { createApp, createListener } from './app.js'
import { startTelemetry, type Telemetry } from './telemetry.js'

const config = await loadExampleConfig(
  process.env,
  fileURLToPath(new URL('../.certs', import.meta.url)),
  8443,
)
// OTEL=console: spans and metrics of every decision on stdout (see docs/guide/observability.md).
let telemetry: Telemetry | undefined
if (process.env.OTEL === 'console') {
  const { ConsoleSpanExporter } = await import('@opentelemetry/sdk-trace-base')
  const { ConsoleMetricExporter, PeriodicExportingMetricReader } = await import('@opentelemetry/sdk-metrics')
  telemetry = startTelemetry({
    spanExporter: new ConsoleSpanExporter(),
    metricReader: new PeriodicExportingMetricReader({
      exporter: new ConsoleMetricExporter(),
      exportIntervalMillis: 60_000,
    }),
  })
}
// One app: direct TLS clients by their socket certificate; with TRUSTED_PROXIES, also
// certificates forwarded by those proxies on the plain-HTTP port.
// MOUNT=front: withClientCert(app) as the server's request listener instead of the middleware.
const options = {
  adminIds: config.adminIds,
  ...(config.forwarded ? { auth: config.forwarded.auth } : {}),
  ...(telemetry ? { telemetry } : {}),
}
if (process.env.MOUNT !== undefined && process.env.MOUNT !== 'front' && process.env.MOUNT !== 'middleware')
  throw new Error(`MOUNT must be "front" or "middleware", not "${process.env.MOUNT}"`)
if (process.env.MOUNT === 'front' && telemetry)
  throw new Error('MOUNT=front does not combine with OTEL=console')
const app = process.env.MOUNT === 'front' ? createListener(options) : createApp(options)

const server = https.createServer(config.https, app)
server.listen(config.port, config.host, () => {
  config.announce('express example', urlFor('https', config.host, (server.address() as AddressInfo).port))
})
if (config.forwarded) {
  const hop = http.createServer(app)
  hop.listen(config.forwarded.httpPort, config.host, () => {
    console.log(
      `express example forwarded-certificate hop on ${urlFor('http', config.host, (hop.address() as AddressInfo).port)}`,
    )
  })
}
