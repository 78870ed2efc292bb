import * as http from 'node:http'
import * as https from 'node:https'
import type { Socket } from 'node:net'
import { type ClientIdentity, DEFAULT_TIMEOUT_MS, identityOptions, resolveUrl } from './client.js'

/** Options of {@link slowBodyRequest}. */
export interface SlowBodyRequestOptions {
  /** HTTP method (default `POST`). */
  method?: string
  /** Path resolved against the URL. */
  path?: string
  /** Extra headers (merged over the defaults). */
  headers?: Record<string, string | string[]>
  /** Client certificate to present (HTTPS only). */
  client?: ClientIdentity | null
  /** CA PEM(s) trusted for the server certificate (required for `https:` URLs). */
  ca?: string | string[]
  /** TLS SNI / name checked against the server certificate. */
  servername?: string
  /** Local address to connect from. */
  localAddress?: string
  /** Announced `content-length` (default 10 MB). */
  contentLength?: number
  /** Delay between body bytes in milliseconds (default 100). */
  intervalMs?: number
  /** Rejects when no response arrived within this time (default 10000). */
  timeoutMs?: number
}

/** Outcome of {@link slowBodyRequest}. */
export interface SlowBodyResult {
  /** Status of the response the server sent before the body was complete. */
  status: number
  /** Milliseconds from sending the headers to receiving the response. */
  elapsedMs: number
  /** Headers of that response (e.g. `connection: close`, since the body was left unread). */
  headers: http.IncomingHttpHeaders
}

function slowRequestOptions(url: URL, opts: SlowBodyRequestOptions): https.RequestOptions {
  const tlsOptions =
    url.protocol === 'https:'
      ? {
          ca: opts.ca,
          ...identityOptions(opts.client),
          ...(opts.servername === undefined ? {} : { servername: opts.servername }),
        }
      : {}
  return {
    method: opts.method ?? 'POST',
    agent: false,
    headers: {
      'content-type': 'application/json',
      'content-length': String(opts.contentLength ?? 10 * 1024 * 1024),
      ...opts.headers,
    },
    ...tlsOptions,
    ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }),
  }
}

/**
 * Starts a request that announces a large JSON body (`content-length` 10 MB by default) and then
 * trickles one byte every `intervalMs`. Resolves as soon as any response arrives, e.g. to check
 * that a server rejects unauthenticated clients before reading their body; rejects on timeout or
 * when the connection fails first. The socket is always destroyed at the end.
 */
export function slowBodyRequest(url: string, opts: SlowBodyRequestOptions = {}): Promise<SlowBodyResult> {
  const target = resolveUrl(url, opts.path)
  const factory = target.protocol === 'https:' ? https.request : http.request
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
  return new Promise((resolve, reject) => {
    const started = performance.now()
    let socket: Socket | undefined
    let settled = false
    const req = factory(target, slowRequestOptions(target, opts))
    const ticker = setInterval(() => req.write(' '), opts.intervalMs ?? 100)
    const timer = setTimeout(() => finish(new Error(`No response within ${timeoutMs} ms`)), timeoutMs)
    function finish(error: unknown, result?: SlowBodyResult): void {
      if (settled) return
      settled = true
      clearInterval(ticker)
      clearTimeout(timer)
      req.destroy()
      socket?.destroy()
      if (result) resolve(result)
      else reject(error)
    }
    req.on('socket', (s: Socket) => {
      socket = s
    })
    req.on('error', (error) => finish(error))
    req.on('response', (res) => {
      res.resume()
      finish(undefined, {
        status: res.statusCode ?? 0,
        elapsedMs: Math.round(performance.now() - started),
        headers: res.headers,
      })
    })
    req.flushHeaders()
  })
}
