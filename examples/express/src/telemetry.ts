import { type ClientCertAuthenticator, createExpiryMonitor } from '@clientcert/core'
import { instrumentClientCert } from '@clientcert/otel'
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { MeterProvider, type MetricReader } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base'
import type { RequestHandler } from 'express'

export interface Telemetry {
  /** Mount first: one server span per request, the parent of clientcert's spans. */
  readonly requestSpans: RequestHandler
  /** Adds an authenticator to the trust and CRL expiry gauges (and the expiry warning). */
  watch(authenticator: ClientCertAuthenticator): void
  shutdown(): Promise<void>
}

/**
 * OpenTelemetry for the example: a tracer and a meter provider with the given exporters, an
 * AsyncLocalStorage context manager (so clientcert's spans find the request's span), and
 * `@clientcert/otel`. In production the server span comes from
 * `@opentelemetry/instrumentation-http`; `requestSpans` stands in for it here.
 */
export function startTelemetry(options: {
  readonly spanExporter: SpanExporter
  readonly metricReader: MetricReader
  readonly enduserId?: boolean
}): Telemetry {
  const contextManager = new AsyncLocalStorageContextManager().enable()
  context.setGlobalContextManager(contextManager)
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(options.spanExporter)],
  })
  const meterProvider = new MeterProvider({ readers: [options.metricReader] })
  const otel = instrumentClientCert({ tracerProvider, meterProvider, enduserId: options.enduserId ?? false })
  const tracer = tracerProvider.getTracer('example-express')
  const monitors: Array<{ close(): void }> = []

  const requestSpans: RequestHandler = (req, res, next) => {
    const span = tracer.startSpan(`${req.method} ${req.path}`, {
      kind: SpanKind.SERVER,
      attributes: { 'http.request.method': req.method, 'url.path': req.path },
    })
    res.on('finish', () => {
      span.setAttribute('http.response.status_code', res.statusCode)
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR })
      span.end()
    })
    context.with(trace.setSpan(context.active(), span), next)
  }

  return {
    requestSpans,
    watch(authenticator) {
      otel.watch(authenticator)
      monitors.push(
        createExpiryMonitor({
          authenticator,
          horizonDays: 30,
          onExpiringSoon: (items) => {
            for (const i of items)
              console.warn(`expiring: ${i.kind} ${i.name} in ${i.daysLeft} days (${i.expiresAt})`)
          },
        }),
      )
    },
    async shutdown() {
      for (const m of monitors) m.close()
      otel.close()
      await tracerProvider.shutdown()
      await meterProvider.shutdown()
      context.disable()
    },
  }
}
