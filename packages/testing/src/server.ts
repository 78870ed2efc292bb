import * as http from 'node:http'
import * as http2 from 'node:http2'
import * as https from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { isIP } from 'node:net'
import type * as tls from 'node:tls'
import type { TestPki } from './test-pki.js'

/** An HTTP/1.1 request handler: `http.RequestListener`, an Express app or a plain `(req, res)` function. */
export type RequestHandler = (
  req: http.IncomingMessage,
  res: http.ServerResponse & { req: http.IncomingMessage },
) => unknown

/** A handler for `http2: true` servers (HTTP/2 compatibility API). */
export type Http2RequestHandler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => unknown

/** Options of {@link startMtlsServer}. */
export interface MtlsServerOptions {
  /** PKI providing defaults: `ca` = `pki.clientCaPem`, `cert`/`key` = `pki.server`. */
  pki?: TestPki
  /** Client CA PEM(s) the server trusts. */
  ca?: string | string[]
  /** Server certificate chain PEM (default `pki.server.chainPem`). */
  cert?: string
  /** Server private key PEM (default `pki.server.keyPem`). */
  key?: string
  /** Ask for a client certificate (default `true`). */
  requestCert?: boolean
  /** Abort handshakes without a valid client certificate (default `true`). */
  rejectUnauthorized?: boolean
  /**
   * Loopback address to bind (default `'127.0.0.1'`). `'::'` listens dual-stack on all interfaces
   * (the URL then uses `[::1]`); non-loopback addresses are refused.
   */
  host?: string
  /** Minimum TLS version. */
  minVersion?: tls.SecureVersion
  /** Maximum TLS version. */
  maxVersion?: tls.SecureVersion
  /** Serve HTTP/2 (`http2.createSecureServer`) instead of HTTPS/1.1. */
  http2?: boolean
  /** With `http2`, also accept HTTP/1.1 clients (default `true`). */
  allowHTTP1?: boolean
  /** Extra TLS options, merged last. */
  tlsOptions?: tls.TlsOptions
}

/** A listening server. */
export interface RunningServer {
  /** Base URL, e.g. `https://127.0.0.1:40123` or `https://[::1]:40123`. */
  readonly url: string
  /** Ephemeral port. */
  readonly port: number
  /** Host used in `url`. */
  readonly host: string
  /** The underlying server. */
  readonly server: https.Server | http2.Http2SecureServer | http.Server
  /** Stops listening and destroys idle and active connections. Idempotent. */
  close(): Promise<void>
}

type AnyServer = https.Server | http2.Http2SecureServer | http.Server

function assertLoopback(host: string): void {
  const loopback =
    host === 'localhost' || host === '::' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
  if (!loopback) throw new Error(`Refusing to listen on non-loopback host '${host}'`)
}

function urlHost(host: string): string {
  if (host === '::') return '[::1]'
  return isIP(host) === 6 ? `[${host}]` : host
}

function trackConnections(server: AnyServer): Set<Socket> {
  const sockets = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  return sockets
}

function closer(server: AnyServer, sockets: Set<Socket>): () => Promise<void> {
  let closing: Promise<void> | undefined
  return () => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve())
      for (const socket of sockets) socket.destroy()
    })
    return closing
  }
}

async function listen(server: AnyServer, host: string, scheme: 'http' | 'https'): Promise<RunningServer> {
  assertLoopback(host)
  const sockets = trackConnections(server)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  const shownHost = urlHost(host)
  return {
    url: `${scheme}://${shownHost}:${port}`,
    port,
    host: shownHost,
    server,
    close: closer(server, sockets),
  }
}

/**
 * TLS options for an mTLS server (`cert`, `key`, `ca`, `requestCert`, `rejectUnauthorized`),
 * for frameworks that create their own server, e.g. `Fastify({ https: mtlsServerOptions({ pki }) })`.
 */
export function mtlsServerOptions(opts: MtlsServerOptions): tls.TlsOptions {
  return serverTlsOptions(opts)
}

/** An app that listens itself, like a Fastify instance. */
export interface SelfListeningApp {
  listen(opts: { port: number; host: string }): Promise<string>
}

/**
 * Starts a framework app (e.g. Fastify) on an ephemeral loopback port and returns its base
 * URL. Close it with the framework's own `close()`.
 */
export async function listenOnLoopback(app: SelfListeningApp, host = '127.0.0.1'): Promise<string> {
  assertLoopback(host)
  const address = await app.listen({ port: 0, host })
  const port = new URL(address).port
  const scheme = address.startsWith('https') ? 'https' : 'http'
  return `${scheme}://${urlHost(host)}:${port}`
}

function serverTlsOptions(opts: MtlsServerOptions): tls.TlsOptions {
  const cert = opts.cert ?? opts.pki?.server.chainPem
  const key = opts.key ?? opts.pki?.server.keyPem
  if (!cert || !key) throw new Error('startMtlsServer needs `pki` or both `cert` and `key`')
  const ca = opts.ca ?? opts.pki?.clientCaPem
  return {
    cert,
    key,
    ...(ca === undefined ? {} : { ca }),
    requestCert: opts.requestCert ?? true,
    rejectUnauthorized: opts.rejectUnauthorized ?? true,
    ...(opts.minVersion ? { minVersion: opts.minVersion } : {}),
    ...(opts.maxVersion ? { maxVersion: opts.maxVersion } : {}),
    ...opts.tlsOptions,
  }
}

/**
 * Starts an mTLS server on an ephemeral loopback port.
 *
 * @example
 * ```ts
 * const server = await startMtlsServer((req, res) => res.end('ok'), { pki })
 * try {
 *   await requestWithHttps(server.url, { client, ca: pki.serverCa.pem })
 * } finally {
 *   await server.close()
 * }
 * ```
 */
export function startMtlsServer(
  handler: Http2RequestHandler,
  opts: MtlsServerOptions & { http2: true },
): Promise<RunningServer>
export function startMtlsServer(handler: RequestHandler, opts: MtlsServerOptions): Promise<RunningServer>
export async function startMtlsServer(
  handler: RequestHandler | Http2RequestHandler,
  opts: MtlsServerOptions,
): Promise<RunningServer> {
  const tlsOptions = serverTlsOptions(opts)
  const server = opts.http2
    ? http2.createSecureServer(
        { ...tlsOptions, allowHTTP1: opts.allowHTTP1 ?? true },
        handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
      )
    : https.createServer(tlsOptions, handler as http.RequestListener)
  return listen(server, opts.host ?? '127.0.0.1', 'https')
}

/**
 * Starts a plain HTTP server on an ephemeral loopback port (e.g. behind-a-proxy / forwarded
 * header tests).
 */
export async function startHttpServer(
  handler: RequestHandler,
  opts: { host?: string } = {},
): Promise<RunningServer> {
  return listen(http.createServer(handler as http.RequestListener), opts.host ?? '127.0.0.1', 'http')
}
