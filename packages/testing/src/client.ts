import * as http from 'node:http'
import * as https from 'node:https'
import type { Socket } from 'node:net'
import type * as tls from 'node:tls'
import type { IssuedCertificate } from './pki.js'

/** A client identity: an issued certificate (its `chainPem` is sent) or explicit PEM strings. */
export type ClientIdentity = IssuedCertificate | { cert: string; key: string }

/** Options shared by the request helpers. */
export interface ClientRequestOptions {
  /** HTTP method (default `GET`, or `POST` when `body` is set). */
  method?: string
  /** Path (and query) resolved against the URL, e.g. `'/whoami?x=1'`. */
  path?: string
  /** Request headers. */
  headers?: Record<string, string | string[]>
  /** Request body; `content-length` is added unless present. */
  body?: string | Uint8Array
  /** Client certificate to present; `null`/omitted sends none. */
  client?: ClientIdentity | null
  /** CA PEM(s) trusted for the server certificate (e.g. `pki.serverCa.pem`). */
  ca: string | string[]
  /** TLS SNI / name checked against the server certificate. */
  servername?: string
  /** Local address to connect from, e.g. `'127.0.0.2'` to act as another peer. */
  localAddress?: string
  /** TLS session to resume (from a previous {@link ClientResponse.session}). */
  session?: Buffer
  /** Maximum TLS version. */
  maxVersion?: tls.SecureVersion
  /** Overall timeout in milliseconds (default 10000). */
  timeoutMs?: number
}

/** A fully read response. */
export interface ClientResponse {
  /** HTTP status code. */
  status: number
  /** Response headers (lower-case names). */
  headers: Record<string, string | string[] | undefined>
  /** Body decoded as UTF-8. */
  body: string
  /** Parses `body` as JSON. */
  json<T = unknown>(): T
  /** TLS session for resumption tests (`requestWithHttps` only). */
  session?: Buffer | undefined
  /** Whether the TLS session was resumed (`requestWithHttps` only; always `false` elsewhere). */
  sessionReused: boolean
}

/** Options of {@link requestHttp}. */
export interface HttpRequestOptions {
  /** HTTP method (default `GET`, or `POST` when `body` is set). */
  method?: string
  /** Path (and query) resolved against the URL. */
  path?: string
  /** Request headers. */
  headers?: Record<string, string | string[]>
  /** Request body; `content-length` is added unless present. */
  body?: string | Uint8Array
  /** Local address to connect from, e.g. `'127.0.0.2'`. */
  localAddress?: string
  /** Overall timeout in milliseconds (default 10000). */
  timeoutMs?: number
}

/** Default timeout of every client helper. */
export const DEFAULT_TIMEOUT_MS = 10_000

/** Returns the `cert`/`key` TLS options of a client identity. */
export function identityOptions(client: ClientIdentity | null | undefined): { cert?: string; key?: string } {
  if (!client) return {}
  return 'tlsOptions' in client ? client.tlsOptions() : { cert: client.cert, key: client.key }
}

/** Resolves `path` against `url`. */
export function resolveUrl(url: string, path: string | undefined): URL {
  return path === undefined ? new URL(url) : new URL(path, url)
}

/** Method and headers of a request, with `content-length` for bodies. */
export function prepareRequest(opts: HttpRequestOptions): {
  method: string
  headers: Record<string, string | string[]>
} {
  const method = opts.method ?? (opts.body === undefined ? 'GET' : 'POST')
  const headers = { ...opts.headers }
  const hasLength = Object.keys(headers).some((name) => name.toLowerCase() === 'content-length')
  if (opts.body !== undefined && !hasLength) headers['content-length'] = String(Buffer.byteLength(opts.body))
  return { method, headers }
}

/** Builds a {@link ClientResponse}. */
export function makeResponse(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  body: string,
  tlsInfo: { session?: Buffer | undefined; sessionReused?: boolean } = {},
): ClientResponse {
  return {
    status,
    headers,
    body,
    json: <T>() => JSON.parse(body) as T,
    session: tlsInfo.session,
    sessionReused: tlsInfo.sessionReused ?? false,
  }
}

function isTlsSocket(socket: Socket): socket is tls.TLSSocket {
  return 'encrypted' in socket
}

/** Waits (briefly) for the TLS 1.3 session ticket so it can be returned for resumption. */
function sessionOf(socket: Socket, current: Buffer | undefined): Promise<Buffer | undefined> {
  if (current || !isTlsSocket(socket) || socket.destroyed) return Promise.resolve(current)
  return new Promise((resolve) => {
    const done = (session?: Buffer) => {
      clearTimeout(timer)
      socket.off('session', done)
      socket.off('close', onClose)
      resolve(session)
    }
    const onClose = () => done(undefined)
    const timer = setTimeout(onClose, 500)
    socket.on('session', done)
    socket.once('close', onClose)
  })
}

type RequestFactory = (url: URL, options: https.RequestOptions) => http.ClientRequest

function readResponse(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    res.on('data', (chunk: Buffer) => chunks.push(chunk))
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    res.on('error', reject)
    res.on('aborted', () => reject(new Error('Response aborted')))
  })
}

function send(
  factory: RequestFactory,
  url: URL,
  options: https.RequestOptions,
  body: string | Uint8Array | undefined,
  timeoutMs: number,
): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    let socket: Socket | undefined
    let session: Buffer | undefined
    const req = factory(url, { ...options, agent: false })
    const timer = setTimeout(
      () => req.destroy(new Error(`Request timed out after ${timeoutMs} ms`)),
      timeoutMs,
    )
    let settled = false
    const finish = (error: unknown, response?: ClientResponse) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.destroy()
      socket?.destroy()
      if (response) resolve(response)
      else reject(error)
    }
    req.on('socket', (s: Socket) => {
      socket = s
      s.on('session', (ticket: Buffer) => {
        session = ticket
      })
    })
    req.on('error', (error) => finish(error))
    req.on('response', async (res) => {
      const reused = socket && isTlsSocket(socket) ? socket.isSessionReused() : false
      try {
        const text = await readResponse(res)
        const ticket = socket ? await sessionOf(socket, session) : undefined
        finish(
          undefined,
          makeResponse(res.statusCode ?? 0, res.headers, text, { session: ticket, sessionReused: reused }),
        )
      } catch (error) {
        finish(error)
      }
    })
    req.end(body)
  })
}

/**
 * Sends one HTTPS request over a fresh connection (`agent: false`) with `node:https`, presenting
 * `client` and trusting `ca`. Supports `session` for TLS resumption. Never hangs: the request
 * fails after `timeoutMs` and the socket is always destroyed.
 *
 * @example
 * ```ts
 * const res = await requestWithHttps(server.url, { path: '/me', client: alice, ca: pki.serverCa.pem })
 * expect(res.status).toBe(200)
 * ```
 */
export function requestWithHttps(url: string, opts: ClientRequestOptions): Promise<ClientResponse> {
  const options: https.RequestOptions = {
    ...prepareRequest(opts),
    ca: opts.ca,
    ...identityOptions(opts.client),
    ...(opts.servername === undefined ? {} : { servername: opts.servername }),
    ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }),
    ...(opts.session === undefined ? {} : { session: opts.session }),
    ...(opts.maxVersion === undefined ? {} : { maxVersion: opts.maxVersion }),
  }
  return send(
    https.request,
    resolveUrl(url, opts.path),
    options,
    opts.body,
    opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  )
}

/** Sends one plain HTTP request over a fresh connection (e.g. forwarded-header mode behind a proxy). */
export function requestHttp(url: string, opts: HttpRequestOptions = {}): Promise<ClientResponse> {
  const options: http.RequestOptions = {
    ...prepareRequest(opts),
    ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }),
  }
  return send(
    http.request,
    resolveUrl(url, opts.path),
    options,
    opts.body,
    opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  )
}
