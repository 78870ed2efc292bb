import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import { createTestPki, createUndiciAgent, requestWithUndici } from '@clientcert/testing'
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { createApp } from './app.js'
import { startTelemetry } from './telemetry.js'

export interface TraceDemo {
  readonly spans: readonly ReadableSpan[]
  readonly metrics: InMemoryMetricExporter
}

/**
 * The example app with OpenTelemetry and in-memory exporters, sent a few requests: alice twice
 * on one connection (validated, then the connection's memory), alice on /admin (403), and a
 * client without a certificate (401). Used by test/otel.test.ts and by render-trace.ts, which
 * draws the spans for docs/guide/observability.md.
 */
export async function runTraceDemo(): Promise<TraceDemo> {
  const pki = await createTestPki()
  const alice = await pki.issueClient({ subject: 'CN=alice' })
  const spanExporter = new InMemorySpanExporter()
  const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const metricReader = new PeriodicExportingMetricReader({
    exporter: metrics,
    exportIntervalMillis: 3_600_000,
  })
  const telemetry = startTelemetry({ spanExporter, metricReader })
  const server = https.createServer(
    { ...pki.server.tlsOptions(), ca: pki.clientCaPem, requestCert: true, rejectUnauthorized: false },
    createApp({
      adminIds: ['admin'],
      auth: { trust: { anchors: pki.root.pem, intermediates: pki.intermediate.pem }, onRejected: () => {} },
      telemetry,
    }),
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
  const agent = createUndiciAgent({ client: alice, ca: pki.serverCa.pem })
  try {
    await requestWithUndici(url, { dispatcher: agent, path: '/whoami', ca: pki.serverCa.pem })
    await requestWithUndici(url, { dispatcher: agent, path: '/whoami', ca: pki.serverCa.pem })
    await requestWithUndici(url, { dispatcher: agent, path: '/admin', ca: pki.serverCa.pem })
    await requestWithUndici(url, { path: '/whoami', ca: pki.serverCa.pem, client: null })
    await metricReader.forceFlush()
    return { spans: spanExporter.getFinishedSpans(), metrics }
  } finally {
    await agent.close()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    await telemetry.shutdown()
  }
}
