import type * as tls from 'node:tls'
import { Agent, type Dispatcher, request } from 'undici'
import {
  type ClientIdentity,
  type ClientRequestOptions,
  type ClientResponse,
  DEFAULT_TIMEOUT_MS,
  identityOptions,
  makeResponse,
  prepareRequest,
  resolveUrl,
} from './client.js'

/** Options of {@link createUndiciAgent}. */
export interface UndiciAgentOptions {
  /** Client certificate to present; `null`/omitted sends none. */
  client?: ClientIdentity | null
  /** CA PEM(s) trusted for the server certificate. */
  ca: string | string[]
  /** TLS SNI / name checked against the server certificate. */
  servername?: string
  /** Local address to connect from, e.g. `'127.0.0.2'`. */
  localAddress?: string
  /** Offer HTTP/2 through ALPN. */
  allowH2?: boolean
  /** Maximum TLS version. */
  maxVersion?: tls.SecureVersion
  /** TLS session to resume on the first connection. */
  session?: Buffer
  /** Maximum connections per origin (default 1, so sequential requests share one connection). */
  connections?: number
}

/**
 * Creates a keep-alive undici `Agent` presenting `client` and trusting `ca`, for tests that send
 * several requests over one connection (one connection per origin unless `connections` says
 * otherwise). Call `agent.close()` (or `destroy()`) when done.
 */
export function createUndiciAgent(opts: UndiciAgentOptions): Agent {
  return new Agent({
    connect: {
      ca: opts.ca,
      ...identityOptions(opts.client),
      ...(opts.servername === undefined ? {} : { servername: opts.servername }),
      ...(opts.maxVersion === undefined ? {} : { maxVersion: opts.maxVersion }),
      ...(opts.session === undefined ? {} : { session: opts.session }),
    },
    connections: opts.connections ?? 1,
    ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }),
    ...(opts.allowH2 === undefined ? {} : { allowH2: opts.allowH2 }),
  })
}

/** Options of {@link requestWithUndici}. */
export interface UndiciRequestOptions extends ClientRequestOptions {
  /** Use this dispatcher (e.g. from {@link createUndiciAgent}) instead of a one-off agent. */
  dispatcher?: Dispatcher
  /** Offer HTTP/2 through ALPN (one-off agent only). */
  allowH2?: boolean
}

/**
 * Sends one request with undici. Without `dispatcher`, a one-off agent with the given TLS options
 * is created and destroyed afterwards; with it, the TLS-related options are ignored. The request
 * is aborted after `timeoutMs`. `session`/`sessionReused` are not reported (always `undefined`/`false`).
 */
export async function requestWithUndici(url: string, opts: UndiciRequestOptions): Promise<ClientResponse> {
  const ownAgent = opts.dispatcher ? undefined : createUndiciAgent(opts)
  const { method, headers } = prepareRequest(opts)
  try {
    const res = await request(resolveUrl(url, opts.path), {
      dispatcher: opts.dispatcher ?? ownAgent,
      method: method as Dispatcher.HttpMethod,
      headers,
      body: opts.body ?? null,
      signal: AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    })
    const text = await res.body.text()
    return makeResponse(res.statusCode, res.headers, text)
  } finally {
    await ownAgent?.destroy()
  }
}
