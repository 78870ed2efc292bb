/**
 * The express example with OpenTelemetry (issue 17): spans and metrics exported to the SDK's
 * in-memory exporters from a real run, clientcert spans nested under the request's span, and
 * every attribute name either one of the pinned registry names or clientcert's own.
 */
import { CLIENTCERT_ATTRIBUTES, CLIENTCERT_METRICS, SEMCONV_ATTRIBUTES } from '@clientcert/otel'
import { describe, expect, it } from 'vitest'
import { renderSvg } from '../src/render-trace.js'
import { runTraceDemo } from '../src/trace-demo.js'

describe('examples/express with OpenTelemetry', () => {
  it('exports nested spans with registry attribute names, metrics, and renders them', async () => {
    const { spans, metrics } = await runTraceDemo()
    const servers = spans.filter((s) => s.parentSpanContext === undefined)
    const judged = spans.filter((s) => s.name === 'clientcert.authenticate')
    expect(servers.map((s) => [s.name, s.attributes['http.response.status_code']])).toEqual([
      ['GET /whoami', 200],
      ['GET /whoami', 200],
      ['GET /admin', 403],
      ['GET /whoami', 401],
    ])
    expect(judged).toHaveLength(4)
    // Each judgement is a child of its request's span, in the same trace.
    for (const [i, s] of judged.entries()) {
      expect(s.parentSpanContext?.spanId).toBe(servers[i]!.spanContext().spanId)
      expect(s.spanContext().traceId).toBe(servers[i]!.spanContext().traceId)
    }
    expect(judged.map((s) => s.attributes['clientcert.cached'])).toEqual([
      'none',
      'connection',
      'connection',
      'none',
    ])
    expect(judged[0]!.attributes).toMatchObject({
      'tls.client.subject': 'CN=alice',
      'tls.client.issuer': 'CN=Test Client Intermediate CA',
      'tls.client.hash.sha256': expect.stringMatching(/^[0-9A-F]{64}$/),
    })
    expect(judged[3]!.attributes['error.type']).toBe('ERR_CLIENT_CERT_MISSING')
    expect(judged.some((s) => 'enduser.id' in s.attributes)).toBe(false)

    const registry = new Set<string>(Object.values(SEMCONV_ATTRIBUTES))
    const own = new Set<string>(Object.values(CLIENTCERT_ATTRIBUTES))
    for (const s of judged)
      for (const name of Object.keys(s.attributes)) {
        if (name.startsWith('clientcert.')) expect(own).toContain(name)
        else expect(registry).toContain(name)
      }
    // The tls.* names used are exactly the pinned ones (a rename upstream is one edit there).
    const tlsNames = new Set(
      judged.flatMap((s) => Object.keys(s.attributes)).filter((n) => n.startsWith('tls.')),
    )
    expect([...tlsNames].sort()).toEqual(
      Object.values(SEMCONV_ATTRIBUTES)
        .filter((n) => n.startsWith('tls.'))
        .sort(),
    )

    const exported = metrics.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics))
    const names = new Set(exported.map((m) => m.descriptor.name))
    for (const n of [
      CLIENTCERT_METRICS.DECISIONS,
      CLIENTCERT_METRICS.DURATION,
      CLIENTCERT_METRICS.CLIENT_DAYS_TO_EXPIRY,
      CLIENTCERT_METRICS.TRUST_DAYS_TO_EXPIRY,
    ])
      expect(names).toContain(n)

    const svg = renderSvg(spans)
    expect(svg).toContain('<svg')
    expect(svg).toContain('clientcert.authenticate')
    expect(svg).toContain('error.type=ERR_CLIENT_CERT_MISSING')
  })
})
