/**
 * The one-command demo (README command one, `clientcert demo`). With nothing configured it
 * creates a throwaway PKI, starts every example on loopback — in TLS mode, and behind a small
 * TLS-terminating proxy that forwards the certificate (RFC 9440) from 127.0.0.2 — then drives
 * real TLS clients through a table of scenarios and prints outcome, status and code per
 * adapter; the gRPC example gets its own table (gRPC status and the code from the trailers).
 * Exits 1 if any outcome is not the expected one.
 */

import * as http from 'node:http'
import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { createApp as createExpressApp } from '@clientcert/example-express/src/app.js'
import { createApp as createFastifyApp } from '@clientcert/example-fastify/src/app.js'
import { createGreeterServer, GreeterClient } from '@clientcert/example-grpc/src/service.js'
import { createApp as createHonoApp } from '@clientcert/example-hono/src/app.js'
import { createApp as createKoaApp } from '@clientcert/example-koa/src/app.js'
import { createApp as createNestApp } from '@clientcert/example-nestjs/src/app.js'
import { createApp as createPassportApp } from '@clientcert/example-passport/src/app.js'
import {
  createRootCA,
  createTestPki,
  forwardedHeaders,
  type IssuedCertificate,
  requestHttp,
  requestWithUndici,
  type TestPki,
} from '@clientcert/testing'
import * as grpc from '@grpc/grpc-js'
import { getRequestListener } from '@hono/node-server'

const PROXY_ADDRESS = '127.0.0.2'
const STRANGER_ADDRESS = '127.0.0.3'
const quiet = { onRejected: () => {} }

interface Running {
  readonly url: string
  close(): Promise<void>
}

interface Adapter {
  readonly name: string
  /** The example over mTLS (the TLS stack verifies against the client CA; clientcert does the rest). */
  tls(pki: TestPki): Promise<Running>
  /** The example on plain HTTP, trusting certificates forwarded by the proxy address; undefined when the example has no forwarded mode. */
  forwarded?(pki: TestPki): Promise<Running>
}

const tlsOptions = (pki: TestPki) => ({
  ...pki.server.tlsOptions(),
  ca: pki.clientCaPem,
  requestCert: true,
  rejectUnauthorized: false,
})
const forwardedAuth = (pki: TestPki) => ({
  ...quiet,
  source: { forwarded: { format: 'rfc9440' as const, trustedProxies: [PROXY_ADDRESS] } },
  trust: { anchors: pki.root.pem, intermediates: pki.intermediate.pem },
})

async function listenNode(server: http.Server | https.Server, scheme: 'http' | 'https'): Promise<Running> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

const adapters: Adapter[] = [
  {
    name: 'express',
    tls: (pki) =>
      listenNode(
        https.createServer(tlsOptions(pki), createExpressApp({ adminIds: ['admin'], auth: quiet })),
        'https',
      ),
    forwarded: (pki) =>
      listenNode(
        http.createServer(createExpressApp({ adminIds: ['admin'], auth: forwardedAuth(pki) })),
        'http',
      ),
  },
  {
    name: 'fastify',
    tls: async (pki) => {
      const app = await createFastifyApp({ adminIds: ['admin'], https: tlsOptions(pki), auth: quiet })
      const url = await app.listen({ port: 0, host: '127.0.0.1' })
      return { url, close: () => app.close() }
    },
    forwarded: async (pki) => {
      const app = await createFastifyApp({ adminIds: ['admin'], https: null, auth: forwardedAuth(pki) })
      const url = await app.listen({ port: 0, host: '127.0.0.1' })
      return { url, close: () => app.close() }
    },
  },
  ...(['express', 'fastify'] as const).map(
    (platform): Adapter => ({
      name: `nestjs (${platform})`,
      tls: async (pki) => {
        const app = await createNestApp({
          platform,
          adminIds: ['admin'],
          https: tlsOptions(pki),
          logger: false,
        })
        await app.listen(0, '127.0.0.1')
        return {
          url: `https://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`,
          close: () => app.close(),
        }
      },
    }),
  ),
  {
    name: 'koa',
    tls: (pki) =>
      listenNode(
        https.createServer(tlsOptions(pki), createKoaApp({ adminIds: ['admin'], auth: quiet }).callback()),
        'https',
      ),
    forwarded: (pki) =>
      listenNode(
        http.createServer(createKoaApp({ adminIds: ['admin'], auth: forwardedAuth(pki) }).callback()),
        'http',
      ),
  },
  {
    name: 'hono',
    tls: (pki) =>
      listenNode(
        https.createServer(
          tlsOptions(pki),
          getRequestListener(createHonoApp({ adminIds: ['admin'], auth: quiet }).fetch),
        ),
        'https',
      ),
    forwarded: (pki) =>
      listenNode(
        http.createServer(
          getRequestListener(createHonoApp({ adminIds: ['admin'], auth: forwardedAuth(pki) }).fetch),
        ),
        'http',
      ),
  },
  {
    name: 'passport',
    tls: (pki) =>
      listenNode(
        https.createServer(tlsOptions(pki), createPassportApp({ adminIds: ['admin'], auth: quiet })),
        'https',
      ),
    forwarded: (pki) =>
      listenNode(
        http.createServer(createPassportApp({ adminIds: ['admin'], auth: forwardedAuth(pki) })),
        'http',
      ),
  },
]

/**
 * A minimal TLS-terminating proxy: verifies client certificates against the client CA, strips
 * any Client-Cert headers the client sent, and forwards the verified certificate as RFC 9440
 * headers from PROXY_ADDRESS.
 */
async function startProxy(pki: TestPki, upstream: string): Promise<Running> {
  const target = new URL(upstream)
  const server = https.createServer(
    { ...pki.server.tlsOptions(), ca: pki.clientCaPem, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const headers = { ...req.headers }
      delete headers['client-cert']
      delete headers['client-cert-chain']
      const peer = (req.socket as TLSSocket).getPeerX509Certificate()
      if (peer) headers['client-cert'] = `:${peer.raw.toString('base64')}:`
      const out = http.request(
        {
          host: target.hostname,
          port: target.port,
          path: req.url,
          method: req.method,
          headers,
          localAddress: PROXY_ADDRESS,
        },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers)
          up.pipe(res)
        },
      )
      out.on('error', () => res.writeHead(502).end())
      req.pipe(out)
    },
  )
  return listenNode(server, 'https')
}

interface Row {
  readonly adapter: string
  readonly mode: string
  readonly scenario: string
  /** An HTTP status, or a gRPC status name. */
  readonly expected: number | string
  readonly status: number | string
  readonly code: string
}

async function outcome(
  run: () => Promise<{ status: number; body: string }>,
): Promise<{ status: number | 'no TLS'; code: string }> {
  try {
    const res = await run()
    const body = res.body.startsWith('{')
      ? (JSON.parse(res.body) as { code?: string; principal?: { id?: string } })
      : {}
    return { status: res.status, code: body.code ?? (body.principal?.id ? `id=${body.principal.id}` : '') }
  } catch {
    return { status: 'no TLS', code: 'handshake refused' }
  }
}

async function main(): Promise<number> {
  const pki = await createTestPki()
  const now = Date.now()
  const clients = {
    alice: await pki.issueClient({ subject: 'CN=alice' }),
    admin: await pki.issueClient({ subject: 'CN=admin' }),
    stranger: await (await createRootCA({ subject: 'CN=Stranger CA' })).issueClient({ subject: 'CN=alice' }),
    serverEku: await pki.issueClient({ subject: 'CN=alice', eku: ['serverAuth'] }),
    expired: await pki.issueClient({
      subject: 'CN=alice',
      notBefore: new Date(now - 2 * 86_400_000),
      notAfter: new Date(now - 3_600_000),
    }),
  }
  const ca = pki.serverCa.pem
  const get =
    (url: string, path: string, client?: IssuedCertificate, headers: Record<string, string> = {}) =>
    () =>
      requestWithUndici(url, { path, ca, client: client ?? null, headers })
  const rows: Row[] = []

  for (const adapter of adapters) {
    const app = await adapter.tls(pki)
    try {
      const table: Array<[string, number, () => Promise<{ status: number; body: string }>]> = [
        ['valid client', 200, get(app.url, '/whoami', clients.alice)],
        ['no certificate', 401, get(app.url, '/whoami')],
        [
          'no certificate + malformed JSON',
          401,
          () =>
            requestWithUndici(app.url, {
              path: '/echo',
              method: 'POST',
              body: '{"x":',
              headers: { 'content-type': 'application/json' },
              ca,
            }),
        ],
        ['unknown CA', 401, get(app.url, '/whoami', clients.stranger)],
        ['wrong EKU (serverAuth)', 401, get(app.url, '/whoami', clients.serverEku)],
        ['expired', 401, get(app.url, '/whoami', clients.expired)],
        ['not-allowed identity on /admin', 403, get(app.url, '/admin', clients.alice)],
        ['allowed identity on /admin', 200, get(app.url, '/admin', clients.admin)],
        [
          'forged Client-Cert header (admin) from a stranger',
          401,
          get(app.url, '/whoami', undefined, forwardedHeaders('rfc9440', clients.admin)),
        ],
      ]
      for (const [scenario, expected, run] of table)
        rows.push({ adapter: adapter.name, mode: 'tls', scenario, expected, ...(await outcome(run)) })
    } finally {
      await app.close()
    }
    if (!adapter.forwarded) continue
    const backend = await adapter.forwarded(pki)
    const proxy = await startProxy(pki, backend.url)
    try {
      const table: Array<[string, number, () => Promise<{ status: number; body: string }>]> = [
        ['valid client through the proxy', 200, get(proxy.url, '/whoami', clients.alice)],
        ['not-allowed identity through the proxy', 403, get(proxy.url, '/admin', clients.alice)],
        [
          'client header forged through the proxy (stripped)',
          200,
          get(proxy.url, '/whoami', clients.alice, forwardedHeaders('rfc9440', clients.admin)),
        ],
        [
          'forged header sent straight to the app by a stranger',
          401,
          () =>
            requestHttp(backend.url, {
              path: '/whoami',
              localAddress: STRANGER_ADDRESS,
              headers: forwardedHeaders('rfc9440', clients.admin),
            }),
        ],
      ]
      for (const [scenario, expected, run] of table)
        rows.push({ adapter: adapter.name, mode: 'forwarded', scenario, expected, ...(await outcome(run)) })
    } finally {
      await proxy.close()
      await backend.close()
    }
  }
  rows.push(...(await grpcRows(pki, clients)))
  return print(rows)
}

type Clients = Record<'alice' | 'admin' | 'stranger' | 'serverEku' | 'expired', IssuedCertificate>

/**
 * The gRPC example has no HTTP routes: its table calls WhoAmI and Admin with a real grpc-js
 * client. grpc-js verifies the client certificate in the handshake, so a missing, unknown,
 * expired or serverAuth-only one never reaches the app (UNAVAILABLE, no call); the rest are
 * judged by clientcert and come back with the stable code in the trailing metadata.
 */
async function grpcRows(pki: TestPki, clients: Clients): Promise<Row[]> {
  const noEku = await pki.issueClient({ subject: 'CN=printer', eku: null })
  const { server, credentials } = createGreeterServer({
    clientCa: pki.clientCaPem + pki.intermediate.pem,
    cert: pki.server.chainPem,
    key: pki.server.keyPem,
    adminIds: ['admin'],
    auth: quiet,
  })
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))),
  )
  const call = (method: 'whoAmI' | 'admin', who: IssuedCertificate | null) =>
    new Promise<{ status: string; code: string }>((resolve) => {
      const client = new GreeterClient(
        `127.0.0.1:${port}`,
        grpc.credentials.createSsl(
          Buffer.from(pki.serverCa.pem),
          who ? Buffer.from(who.keyPem) : null,
          who ? Buffer.from(who.chainPem) : null,
        ),
        // The server certificate names localhost; the IP target avoids resolving it to ::1.
        { 'grpc.ssl_target_name_override': 'localhost' },
      )
      type Unary = (
        request: unknown,
        options: grpc.CallOptions,
        callback: (err: grpc.ServiceError | null, value?: unknown) => void,
      ) => void
      const unary = (client as unknown as Record<typeof method, Unary>)[method].bind(client)
      unary({}, { deadline: Date.now() + 10_000 }, (err, value) => {
        client.close()
        if (err === null) {
          const id = (value as { principal?: { id?: unknown } } | undefined)?.principal?.id
          resolve({ status: 'OK', code: typeof id === 'string' ? `id=${id}` : '' })
          return
        }
        const code = err.metadata?.get('clientcert-error-code')[0]
        resolve({
          status: grpc.status[err.code] ?? String(err.code),
          code:
            typeof code === 'string' ? code : err.code === grpc.status.UNAVAILABLE ? 'handshake refused' : '',
        })
      })
    })
  const table: Array<[string, string, () => Promise<{ status: string; code: string }>]> = [
    ['valid client, WhoAmI', 'OK', () => call('whoAmI', clients.alice)],
    ['no certificate', 'UNAVAILABLE', () => call('whoAmI', null)],
    ['unknown CA', 'UNAVAILABLE', () => call('whoAmI', clients.stranger)],
    ['wrong EKU (serverAuth)', 'UNAVAILABLE', () => call('whoAmI', clients.serverEku)],
    // OpenSSL lets a certificate without any EKU through; clientcert requires clientAuth.
    ['no EKU (clientAuth required by the app)', 'UNAUTHENTICATED', () => call('whoAmI', noEku)],
    ['expired', 'UNAVAILABLE', () => call('whoAmI', clients.expired)],
    ['not-allowed identity on Admin', 'PERMISSION_DENIED', () => call('admin', clients.alice)],
    ['allowed identity on Admin', 'OK', () => call('admin', clients.admin)],
  ]
  const rows: Row[] = []
  try {
    for (const [scenario, expected, run] of table)
      rows.push({ adapter: 'grpc', mode: 'tls', scenario, expected, ...(await run()) })
  } finally {
    server.forceShutdown()
  }
  return rows
}

function print(rows: readonly Row[]): number {
  const widths = [18, 10, 52, 17, 17] as const
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' ')
  console.log('\nclientcert demo: real TLS clients with real certificates, every adapter\n')
  console.log(line(['adapter', 'mode', 'scenario', 'expected', 'status']), 'code / principal')
  let unexpected = 0
  for (const r of rows) {
    const ok = r.status === r.expected
    if (!ok) unexpected++
    console.log(
      line([r.adapter, r.mode, r.scenario, String(r.expected), String(r.status)]),
      r.code,
      ok ? '' : '  <-- UNEXPECTED',
    )
  }
  console.log(
    unexpected === 0
      ? `\nall ${rows.length} outcomes as expected`
      : `\n${unexpected} of ${rows.length} outcomes unexpected`,
  )
  return unexpected === 0 ? 0 : 1
}

process.exitCode = await main()
