import diagnostics_channel from 'node:diagnostics_channel'
import {
  type AuthenticateContext,
  CLIENTCERT_CHANNELS,
  type ClientCertAuthenticator,
  type DiagnosticsCertificate,
  describeTrust,
  type ForwardedRefusedMessage,
  type RevocationFetchContext,
} from '@clientcert/core'
import {
  type Attributes,
  type MeterProvider,
  metrics,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TracerProvider,
  trace,
} from '@opentelemetry/api'
import {
  CLIENTCERT_ATTRIBUTES as CC,
  CLIENTCERT_METRICS as M,
  SEMCONV_ATTRIBUTES as SC,
} from './attributes.js'

export { CLIENTCERT_ATTRIBUTES, CLIENTCERT_METRICS, SEMCONV_ATTRIBUTES } from './attributes.js'

/** The core hands out one certificate summary per principal: its attributes are built once. */
const facts = new WeakMap<
  DiagnosticsCertificate,
  { readonly attributes: Attributes; readonly notAfter: number }
>()
function certificateFacts(cert: DiagnosticsCertificate): {
  readonly attributes: Attributes
  readonly notAfter: number
} {
  let f = facts.get(cert)
  if (f === undefined) {
    f = {
      attributes: {
        [SC.TLS_CLIENT_SUBJECT]: cert.subject,
        [SC.TLS_CLIENT_ISSUER]: cert.issuer,
        [SC.TLS_CLIENT_HASH_SHA256]: cert.sha256.toUpperCase(),
        [SC.TLS_CLIENT_NOT_BEFORE]: cert.notBefore,
        [SC.TLS_CLIENT_NOT_AFTER]: cert.notAfter,
      },
      notAfter: Date.parse(cert.notAfter),
    }
    facts.set(cert, f)
  }
  return f
}

const NAME = '@clientcert/otel'
const VERSION = '0.1.0'
const DAY_MS = 86_400_000

export interface ClientCertInstrumentationOptions {
  /** Default: the global tracer provider. */
  readonly tracerProvider?: TracerProvider
  /** Default: the global meter provider. */
  readonly meterProvider?: MeterProvider
  /**
   * Set `enduser.id` to the principal's id. Default false: an id names a person or a host
   * (personal data), and traces travel further than logs.
   */
  readonly enduserId?: boolean
  /** Authenticators whose trust anchors, intermediates and CRLs the expiry gauges watch. */
  readonly authenticators?: readonly ClientCertAuthenticator[]
}

export interface ClientCertInstrumentation {
  /** Adds an authenticator to the expiry gauges. */
  watch(authenticator: ClientCertAuthenticator): void
  /** Unsubscribes from every channel and stops observing the gauges. */
  close(): void
}

/**
 * Maps clientcert's `diagnostics_channel` events to OpenTelemetry: one span per judgement
 * (`clientcert.authenticate`) and per revocation fetch, decision counters, latency and
 * expiry histograms, and expiry gauges for trust material. Subscribing is what turns the
 * events on: without this (or another subscriber) the core publishes nothing.
 */
export function instrumentClientCert(
  options: ClientCertInstrumentationOptions = {},
): ClientCertInstrumentation {
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(NAME, VERSION)
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(NAME, VERSION)
  const enduserId = options.enduserId === true
  const watched = new Set<ClientCertAuthenticator>(options.authenticators ?? [])

  const decisions = meter.createCounter(M.DECISIONS, {
    description: 'Client-certificate decisions, by outcome and error code',
  })
  const duration = meter.createHistogram(M.DURATION, {
    description: 'Time to judge a request, answered from memory (cached) or validated now (cold)',
    unit: 's',
  })
  const clientExpiry = meter.createHistogram(M.CLIENT_DAYS_TO_EXPIRY, {
    description: 'Days until the accepted client certificate expires',
    unit: 'd',
  })
  const refused = meter.createCounter(M.FORWARDED_REFUSED, {
    description: 'Forwarded-certificate headers refused (sent by a stranger, or another spelling)',
  })
  const fetchDuration = meter.createHistogram(M.REVOCATION_FETCH_DURATION, {
    description: 'CRL and OCSP fetches',
    unit: 's',
  })
  const trustGauge = meter.createObservableGauge(M.TRUST_DAYS_TO_EXPIRY, {
    description: 'Days until the earliest-expiring trust anchor or intermediate expires',
    unit: 'd',
  })
  const crlGauge = meter.createObservableGauge(M.CRL_DAYS_TO_NEXT_UPDATE, {
    description: "Days until each CRL's nextUpdate (negative: stale)",
    unit: 'd',
  })
  const observeTrust = (result: { observe(value: number, attributes?: Attributes): void }): void => {
    const now = Date.now()
    for (const a of watched) {
      const t = describeTrust(a)
      const all = [
        ...t.anchors.map((c) => ({ kind: 'anchor', c })),
        ...t.intermediates.map((c) => ({ kind: 'intermediate', c })),
      ]
      const earliest = all.sort((x, y) => Date.parse(x.c.notAfter) - Date.parse(y.c.notAfter))[0]
      if (earliest !== undefined)
        result.observe((Date.parse(earliest.c.notAfter) - now) / DAY_MS, {
          [CC.TRUST_KIND]: earliest.kind,
          [CC.TRUST_NAME]: earliest.c.subject,
        })
    }
  }
  const observeCrls = (result: { observe(value: number, attributes?: Attributes): void }): void => {
    const now = Date.now()
    for (const a of watched)
      for (const crl of describeTrust(a).crls)
        if (crl.nextUpdate !== undefined)
          result.observe((Date.parse(crl.nextUpdate) - now) / DAY_MS, {
            [CC.TRUST_NAME]: crl.issuer,
            [CC.CRL_ORIGIN]: crl.origin,
            ...(crl.url === undefined ? {} : { [SC.URL_FULL]: crl.url }),
          })
  }
  trustGauge.addCallback(observeTrust)
  crlGauge.addCallback(observeCrls)

  // The judgement's span, between start and end of its synchronous part: a forwarded header
  // refused during it is recorded on it as an event.
  const spans = new WeakMap<object, Span>()
  let current: Span | undefined

  const finishJudgement = (ctx: AuthenticateContext): void => {
    const span = spans.get(ctx)
    const outcome = ctx.outcome
    if (span === undefined || outcome === undefined) return
    spans.delete(ctx)
    const attrs: Attributes = {}
    if (ctx.source !== undefined) {
      attrs[CC.SOURCE] = ctx.source.type
      if (ctx.source.type === 'forwarded') attrs[CC.FORWARDED_PRESET] = ctx.source.preset
    }
    attrs[CC.CACHED] = ctx.cached
    const metricAttrs: Attributes = { ...attrs, [CC.OUTCOME]: outcome.ok ? 'accepted' : 'rejected' }
    if (ctx.tls !== undefined) {
      attrs[SC.TLS_RESUMED] = ctx.tls.resumed
      const version = /^TLSv(\d(?:\.\d)?)$/.exec(ctx.tls.protocol ?? '')?.[1]
      if (version !== undefined) {
        attrs[SC.TLS_PROTOCOL_NAME] = 'tls'
        attrs[SC.TLS_PROTOCOL_VERSION] = version
      }
    }
    const cert = ctx.certificate
    if (cert !== undefined) {
      const facts = certificateFacts(cert)
      Object.assign(attrs, facts.attributes)
      clientExpiry.record((facts.notAfter - Date.now()) / DAY_MS, {
        [CC.SOURCE]: ctx.source?.type ?? 'tls',
      })
    }
    if (outcome.ok) {
      if (outcome.principal !== undefined) {
        attrs[CC.PRINCIPAL_KIND] = outcome.principal.kind
        if (enduserId) attrs[SC.ENDUSER_ID] = outcome.principal.id
      }
    } else {
      attrs[SC.ERROR_TYPE] = outcome.code
      attrs[CC.REASON] = outcome.reason
      metricAttrs[SC.ERROR_TYPE] = outcome.code
      span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.code })
    }
    span.setAttributes(attrs)
    span.end()
    decisions.add(1, metricAttrs)
    if (ctx.durationMs !== undefined)
      duration.record(ctx.durationMs / 1000, {
        [CC.CACHED]: ctx.cached,
        [CC.OUTCOME]: metricAttrs[CC.OUTCOME] as string,
      })
  }

  const authenticate = {
    start(message: unknown) {
      const span = tracer.startSpan('clientcert.authenticate', { kind: SpanKind.INTERNAL })
      spans.set(message as object, span)
      current = span
    },
    end(message: unknown) {
      current = undefined
      finishJudgement(message as AuthenticateContext)
    },
    asyncStart() {},
    asyncEnd(message: unknown) {
      finishJudgement(message as AuthenticateContext)
    },
    error() {},
  }

  const onRefused = (message: unknown): void => {
    const m = message as ForwardedRefusedMessage
    refused.add(1, {
      [CC.REFUSED_WHY]: m.why,
      ...(m.preset === undefined ? {} : { [CC.FORWARDED_PRESET]: m.preset }),
    })
    current?.addEvent('clientcert.forwarded.refused', {
      [SC.NETWORK_PEER_ADDRESS]: m.peer,
      [CC.REFUSED_HEADER]: m.header,
      [CC.REFUSED_WHY]: m.why,
      ...(m.preset === undefined ? {} : { [CC.FORWARDED_PRESET]: m.preset }),
    })
  }

  const fetchSpans = new WeakMap<object, Span>()
  const revocation = {
    start(message: unknown) {
      const ctx = message as RevocationFetchContext
      fetchSpans.set(
        ctx,
        tracer.startSpan('clientcert.revocation.fetch', {
          kind: SpanKind.CLIENT,
          attributes: { [CC.REVOCATION_KIND]: ctx.kind, [SC.URL_FULL]: ctx.url },
        }),
      )
    },
    end() {},
    asyncStart() {},
    asyncEnd(message: unknown) {
      const ctx = message as RevocationFetchContext
      const span = fetchSpans.get(ctx)
      if (span === undefined) return
      fetchSpans.delete(ctx)
      const ok = ctx.outcome?.ok === true
      if (!ok) {
        span.setAttribute(SC.ERROR_TYPE, 'fetch_failed')
        span.setStatus({
          code: SpanStatusCode.ERROR,
          ...(ctx.outcome?.ok === false ? { message: ctx.outcome.reason } : {}),
        })
      }
      span.end()
      if (ctx.durationMs !== undefined)
        fetchDuration.record(ctx.durationMs / 1000, {
          [CC.REVOCATION_KIND]: ctx.kind,
          ...(ok ? {} : { [SC.ERROR_TYPE]: 'fetch_failed' }),
        })
    },
    error() {},
  }

  const authChannel = diagnostics_channel.tracingChannel(CLIENTCERT_CHANNELS.authenticate)
  const fetchChannel = diagnostics_channel.tracingChannel(CLIENTCERT_CHANNELS.revocationFetch)
  authChannel.subscribe(authenticate)
  fetchChannel.subscribe(revocation)
  diagnostics_channel.subscribe(CLIENTCERT_CHANNELS.forwardedRefused, onRefused)

  return {
    watch(authenticator) {
      describeTrust(authenticator)
      watched.add(authenticator)
    },
    close() {
      authChannel.unsubscribe(authenticate)
      fetchChannel.unsubscribe(revocation)
      diagnostics_channel.unsubscribe(CLIENTCERT_CHANNELS.forwardedRefused, onRefused)
      trustGauge.removeCallback(observeTrust)
      crlGauge.removeCallback(observeCrls)
      watched.clear()
    },
  }
}
