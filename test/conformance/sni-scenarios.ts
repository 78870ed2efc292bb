import * as http2 from 'node:http2'
import * as https from 'node:https'
import * as tls from 'node:tls'
import { type ClientIdentity, requestUpgrade } from '@clientcert/testing'
import { expect } from 'vitest'
import type { ClientName } from '../support/fixtures.js'
import type { Outcome, Scenario, ScenarioContext } from './scenarios.js'

/**
 * Class G: trust per server name (issue 13, finding 2). The listener serves a.test (client CA:
 * the scenario clients' root) and b.test (client CA: an unrelated root) through
 * `createMtlsServerOptions({ sni, mode: 'verify-in-app' })` (mode `sni`), or through a hand-made
 * SNICallback with `requireServernameMatch: true` (mode `sni-custom`). A client that did its
 * handshake under one name and asks for another (Host or `:authority`) must get 421, before
 * its certificate is judged: that is the answer browsers' connection coalescing expects.
 */

interface SniRequest {
  /** SNI to send; `''` sends none (the default context answers). */
  readonly servername: string
  /** Host / `:authority` to send; undefined = the URL's own authority. */
  readonly host?: string
  readonly client: ClientName | null
  /** Speak HTTP/2 (`:authority`); otherwise HTTP/1.1 with a Host header. */
  readonly h2: boolean
}

/** One request with an explicit SNI and Host / `:authority`, from node:https or node:http2. */
async function sniRequest(ctx: ScenarioContext, r: SniRequest): Promise<Outcome> {
  const target = new URL(ctx.url)
  const identity = r.client === null ? {} : identityOf(ctx.f.clients[r.client])
  const ca = ctx.f.pki.serverCa.pem
  if (ctx.upgrade) {
    return requestUpgrade(ctx.url, {
      path: '/whoami',
      ca,
      client: r.client === null ? null : ctx.f.clients[r.client],
      servername: r.servername,
      headers: { host: r.host ?? target.host },
    })
  }
  if (r.h2) {
    // Our own TLS connection: http2.connect would put the IP address in SNI when given none.
    const session = http2.connect(ctx.url, {
      createConnection: () =>
        tls.connect({
          host: target.hostname,
          port: Number(target.port),
          ca,
          ...identity,
          ALPNProtocols: ['h2'],
          ...(r.servername === '' ? {} : { servername: r.servername }),
        }),
    })
    try {
      return await new Promise<Outcome>((resolve, reject) => {
        session.on('error', reject)
        const stream = session.request({
          ':method': 'GET',
          ':path': '/whoami',
          ':authority': r.host ?? target.host,
        })
        let status = 0
        let headers: Outcome['headers'] = {}
        let body = ''
        stream.on('response', (h) => {
          status = Number(h[':status'])
          headers = h as Outcome['headers']
        })
        stream.setEncoding('utf8')
        stream.on('data', (chunk: string) => {
          body += chunk
        })
        stream.on('end', () => resolve({ status, body, headers }))
        stream.on('error', reject)
        stream.end()
      })
    } finally {
      session.destroy()
    }
  }
  return new Promise<Outcome>((resolve, reject) => {
    const req = https.request(
      {
        host: target.hostname,
        port: target.port,
        path: '/whoami',
        method: 'GET',
        ca,
        ...identity,
        servername: r.servername,
        agent: false,
        headers: { host: r.host ?? target.host },
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => {
          body += c
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }))
      },
    )
    req.on('error', reject)
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')))
    req.end()
  })
}

/** Writes `head` as the whole HTTP/1 request over TLS and reads the answer until the server closes. */
async function rawRequest(
  ctx: ScenarioContext,
  servername: string,
  client: ClientName,
  head: string,
): Promise<Outcome> {
  const target = new URL(ctx.url)
  const socket = tls.connect({
    host: target.hostname,
    port: Number(target.port),
    ca: ctx.f.pki.serverCa.pem,
    ...identityOf(ctx.f.clients[client]),
    servername,
    ALPNProtocols: ['http/1.1'],
  })
  const data = await new Promise<string>((resolve, reject) => {
    let text = ''
    socket.setEncoding('utf8')
    socket.on('secureConnect', () => socket.write(head))
    socket.on('data', (c: string) => {
      text += c
    })
    socket.on('end', () => resolve(text))
    socket.on('close', () => resolve(text))
    socket.on('error', reject)
    socket.setTimeout(10_000, () => socket.destroy(new Error('timeout')))
  })
  socket.destroy()
  const split = data.indexOf('\r\n\r\n')
  const lines = data.slice(0, split).split('\r\n')
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0)
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    const at = line.indexOf(':')
    headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim()
  }
  let body = data.slice(split + 4)
  if (headers['transfer-encoding'] === 'chunked') body = unchunk(body)
  return { status, body, headers }
}

function unchunk(text: string): string {
  let out = ''
  let rest = text
  for (;;) {
    const eol = rest.indexOf('\r\n')
    const size = Number.parseInt(rest.slice(0, eol), 16)
    if (!(size > 0)) return out
    out += rest.slice(eol + 2, eol + 2 + size)
    rest = rest.slice(eol + 2 + size + 2)
  }
}

function identityOf(c: ClientIdentity): { cert: string; key: string } {
  return 'chainPem' in c ? { cert: c.chainPem, key: c.keyPem } : c
}

const MISDIRECTED = { status: 421, code: 'ERR_CLIENT_CERT_MISDIRECTED' } as const

/** The same case over HTTP/1.1, and over HTTP/2 where the driver speaks it. */
function bothProtocols(
  name: string,
  base: Omit<Scenario, 'name' | 'run' | 'h1Only'>,
  r: Omit<SniRequest, 'h2'>,
): Scenario[] {
  return [
    { ...base, name: `${name} [HTTP/1.1]`, h1Only: true, run: (ctx) => sniRequest(ctx, { ...r, h2: false }) },
    {
      ...base,
      name: `${name} [HTTP/2 :authority where the adapter speaks it]`,
      run: (ctx) => sniRequest(ctx, { ...r, h2: ctx.h2 }),
    },
  ]
}

export const sniScenarios: readonly Scenario[] = [
  // ── positive controls ────────────────────────────────────────────────────────────────
  ...bothProtocols(
    "SNI trust: SNI a.test, Host a.test, client of a.test's CA → 200",
    { threat: 'ok', mode: 'sni', expect: { status: 200, id: 'alice' } },
    { servername: 'a.test', host: 'a.test', client: 'alice' },
  ),
  ...bothProtocols(
    'SNI trust: Host with port, trailing dot and other case (A.Test.:443) matching SNI a.test → 200',
    { threat: 'ok', mode: 'sni', expect: { status: 200, id: 'alice' } },
    { servername: 'a.test', host: 'A.Test.:443', client: 'alice' },
  ),
  ...bothProtocols(
    'SNI trust: no SNI, IP-literal Host (the default context is the one a client of that host gets) → 200',
    { threat: 'ok', mode: 'sni', expect: { status: 200, id: 'alice' } },
    { servername: '', client: 'alice' },
  ),
  // ── the attack ───────────────────────────────────────────────────────────────────────
  ...bothProtocols(
    'SNI trust: handshake as a.test (CA A), Host b.test (CA B never vouched) → 421',
    { threat: 'G', mode: 'sni', expect: MISDIRECTED },
    { servername: 'a.test', host: 'b.test', client: 'alice' },
  ),
  ...bothProtocols(
    'SNI trust: Host b.test:443 with port on an a.test connection → 421',
    { threat: 'G', mode: 'sni', expect: MISDIRECTED },
    { servername: 'a.test', host: 'b.test:443', client: 'alice' },
  ),
  ...bothProtocols(
    'SNI trust: no SNI (default context), Host naming another SNI context (b.test) → 421',
    { threat: 'G', mode: 'sni', expect: MISDIRECTED },
    { servername: '', host: 'b.test', client: 'alice' },
  ),
  ...bothProtocols(
    'SNI trust: coalesced connection whose certificate this name rejects still gets 421, not 401',
    { threat: 'G', mode: 'sni', expect: MISDIRECTED },
    { servername: 'b.test', host: 'a.test', client: 'alice' },
  ),
  ...bothProtocols(
    'SNI trust: mismatched Host without any certificate → 421 (judged before the certificate)',
    { threat: 'G', mode: 'sni', expect: MISDIRECTED },
    { servername: 'a.test', host: 'b.test', client: null },
  ),
  ...bothProtocols(
    'SNI trust: IPv6 literal Host ([::1]:443) on an a.test connection → 421',
    { threat: 'G', mode: 'sni', expect: MISDIRECTED },
    { servername: 'a.test', host: '[::1]:443', client: 'alice' },
  ),
  {
    // node:https refuses it (requireHostHeader); an HTTP/2 server's HTTP/1 fallback does not.
    name: 'SNI trust: HTTP/1.1 without Host → 400 from Node, or 421; never reaches the app',
    threat: 'G',
    mode: 'sni',
    h1Only: true,
    run: async (ctx) => {
      const o = await rawRequest(ctx, 'a.test', 'alice', 'GET /whoami HTTP/1.1\r\nConnection: close\r\n\r\n')
      if (o.status === 421) expect(JSON.parse(o.body).code).toBe('ERR_CLIENT_CERT_MISDIRECTED')
      return o.status === 400 ? { ...o, status: 421, body: '' } : { ...o, body: '' }
    },
    expect: { status: 421 },
    check: (_o, { probes }) => expect(probes.handled).toBe(0),
  },
  {
    name: 'SNI trust: HTTP/1.0 without Host → 421 (the request names no server)',
    threat: 'G',
    mode: 'sni',
    h1Only: true,
    run: (ctx) => rawRequest(ctx, 'a.test', 'alice', 'GET /whoami HTTP/1.0\r\n\r\n'),
    expect: MISDIRECTED,
  },
  {
    name: 'SNI trust: two Host lines (a.test, b.test) → 421 or 400, never 200',
    threat: 'G',
    mode: 'sni',
    h1Only: true,
    run: async (ctx) => {
      const o = await rawRequest(
        ctx,
        'a.test',
        'alice',
        'GET /whoami HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\nConnection: close\r\n\r\n',
      )
      // Node may refuse the duplicate itself (400); if it passes it on, clientcert answers 421.
      if (o.status === 421) expect(JSON.parse(o.body).code).toBe('ERR_CLIENT_CERT_MISDIRECTED')
      return o.status === 400 ? { ...o, status: 421, body: '' } : { ...o, body: '' }
    },
    expect: { status: 421 },
    check: (_o, { probes }) => expect(probes.handled).toBe(0),
  },
  {
    name: 'SNI trust: absolute-form target naming b.test with Host a.test → 421',
    threat: 'G',
    mode: 'sni',
    h1Only: true,
    run: (ctx) =>
      rawRequest(
        ctx,
        'a.test',
        'alice',
        'GET https://b.test/whoami HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n',
      ),
    expect: MISDIRECTED,
  },
  // ── hand-made SNICallback servers opt in ─────────────────────────────────────────────
  ...bothProtocols(
    'SNI trust, hand-made SNICallback + requireServernameMatch: Host b.test on an a.test connection → 421',
    { threat: 'G', mode: 'sni-custom', auth: { requireServernameMatch: true }, expect: MISDIRECTED },
    { servername: 'a.test', host: 'b.test', client: 'alice' },
  ),
  ...bothProtocols(
    'SNI trust, hand-made SNICallback + requireServernameMatch: no SNI with a DNS Host → 421 (which context it names is unknown)',
    { threat: 'G', mode: 'sni-custom', auth: { requireServernameMatch: true }, expect: MISDIRECTED },
    { servername: '', host: 'a.test', client: 'alice' },
  ),
  ...bothProtocols(
    'SNI trust, hand-made SNICallback + requireServernameMatch: matching Host → 200',
    {
      threat: 'ok',
      mode: 'sni-custom',
      // A policy naming the client: where Node reports the chain cut short (Node 24.21 / 26.8+),
      // a hand-made SNICallback leaves the verifying store unknown, and a policy naming nobody
      // is refused (packages/core/test/public-roots.test.ts).
      auth: { requireServernameMatch: true, allow: { ids: ['alice'] } },
      expect: { status: 200, id: 'alice' },
    },
    { servername: 'a.test', host: 'a.test:443', client: 'alice' },
  ),
]
