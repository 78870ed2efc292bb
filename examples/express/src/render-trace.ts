/**
 * Draws the spans of a real run of the example (runTraceDemo, in-memory exporter) as an SVG
 * waterfall, one trace per request, the way a tracing UI shows them:
 *   pnpm --filter @clientcert/example-express trace:svg
 * writes docs/guide/observability-trace.svg. Nothing in the picture is made up: names,
 * nesting, timings and attributes are the exported spans'.
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { runTraceDemo } from './trace-demo.js'

const ms = (t: readonly [number, number]): number => t[0] * 1000 + t[1] / 1e6
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** The attributes shown under a clientcert span: what an operator looks at first. */
const SHOWN = ['error.type', 'clientcert.cached', 'tls.client.subject', 'tls.protocol.version', 'tls.resumed']

export function renderSvg(spans: readonly ReadableSpan[]): string {
  const roots = spans
    .filter((s) => s.parentSpanContext === undefined)
    .sort((a, b) => ms(a.startTime) - ms(b.startTime))
  const width = 960
  const label = 330
  const barWidth = width - label - 20
  const rows: string[] = []
  let y = 40
  for (const root of roots) {
    const children = spans.filter((s) => s.parentSpanContext?.spanId === root.spanContext().spanId)
    const t0 = ms(root.startTime)
    const total = Math.max(ms(root.duration), 0.001)
    const status = root.attributes['http.response.status_code']
    rows.push(
      `<text x="10" y="${y}" class="trace">trace ${root.spanContext().traceId.slice(0, 8)}… ${esc(root.name)} → ${status}</text>`,
    )
    y += 8
    for (const [depth, s] of [root, ...children].map((s, i) => [i === 0 ? 0 : 1, s] as const)) {
      y += 22
      const x = label + ((ms(s.startTime) - t0) / total) * barWidth
      const w = Math.max((ms(s.duration) / total) * barWidth, 2)
      const failed = s.status.code === 2 || (typeof status === 'number' && status >= 400 && depth === 0)
      rows.push(
        `<text x="${10 + depth * 16}" y="${y}" class="name">${esc(s.name)}</text>`,
        `<text x="${label - 10}" y="${y}" class="dur" text-anchor="end">${ms(s.duration).toFixed(2)} ms</text>`,
        `<rect x="${x.toFixed(1)}" y="${y - 12}" width="${w.toFixed(1)}" height="15" rx="3" class="${depth === 0 ? 'server' : 'cc'}${failed ? ' failed' : ''}"/>`,
      )
      if (depth === 1) {
        const attrs = SHOWN.filter((k) => s.attributes[k] !== undefined).map(
          (k) => `${k}=${String(s.attributes[k])}`,
        )
        y += 16
        rows.push(`<text x="${10 + depth * 16}" y="${y}" class="attr">${esc(attrs.join('  '))}</text>`)
      }
    }
    y += 28
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="ui-monospace, Menlo, monospace" font-size="12">`,
    '<title>clientcert.authenticate spans under each request span, from a real run of examples/express</title>',
    '<style>.trace{font-weight:bold;fill:#333}.name{fill:#222}.dur{fill:#666}.attr{fill:#555;font-size:11px}.server{fill:#8fb8de}.cc{fill:#5b9a68}.failed{fill:#d9534f}</style>',
    `<rect width="${width}" height="${y}" fill="#fff"/>`,
    '<text x="10" y="20" class="trace">clientcert spans from examples/express (OpenTelemetry SDK, in-memory exporter)</text>',
    ...rows,
    '</svg>',
    '',
  ].join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { spans } = await runTraceDemo()
  const out = fileURLToPath(new URL('../../../docs/guide/observability-trace.svg', import.meta.url))
  writeFileSync(out, renderSvg(spans))
  console.log(`wrote ${out} (${spans.length} spans)`)
}
