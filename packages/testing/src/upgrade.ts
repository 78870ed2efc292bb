import { createHash, randomBytes } from 'node:crypto'
import * as http from 'node:http'
import * as https from 'node:https'
import type { Duplex } from 'node:stream'
import {
  type ClientIdentity,
  type ClientResponse,
  DEFAULT_TIMEOUT_MS,
  identityOptions,
  makeResponse,
} from './client.js'

/** Options of {@link requestUpgrade}. */
export interface UpgradeRequestOptions {
  /** Request target (path and query), sent exactly as given; default: the URL's. */
  path?: string
  /** Extra request headers (e.g. forwarded-certificate headers, or `host`). */
  headers?: Record<string, string | string[]>
  /** Client certificate to present over TLS; `null`/omitted sends none. */
  client?: ClientIdentity | null
  /** CA PEM(s) trusted for the server certificate (https URLs). */
  ca?: string | string[]
  /** TLS SNI / name checked against the server certificate. */
  servername?: string
  /** Local address to connect from. */
  localAddress?: string
  /** Overall timeout in milliseconds (default 10000). */
  timeoutMs?: number
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

/**
 * Opens a WebSocket handshake (`GET` with `Upgrade: websocket`) over a fresh connection and
 * reads the answer. A refusal comes back as the HTTP response it is. A `101` whose
 * `Sec-WebSocket-Accept` is right is reported as status `200` with the first text message the
 * server sends as the body, so a test can assert on an upgrade as on a request. `url` may be
 * `http:`, `https:` or `unix:<path>`. Never hangs: fails after `timeoutMs`.
 */
export function requestUpgrade(url: string, opts: UpgradeRequestOptions = {}): Promise<ClientResponse> {
  const key = randomBytes(16).toString('base64')
  const unix = url.startsWith('unix:') ? url.slice('unix:'.length) : undefined
  const target = unix === undefined ? new URL(url) : undefined
  const options: https.RequestOptions = {
    method: 'GET',
    agent: false,
    headers: {
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': key,
      ...opts.headers,
    },
    ...(opts.ca === undefined ? {} : { ca: opts.ca }),
    ...identityOptions(opts.client),
    ...(opts.servername === undefined ? {} : { servername: opts.servername }),
    ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }),
    // Sent as given (not resolved against the URL), so a test can send '//x' or '/a/../b'.
    ...(opts.path === undefined ? {} : { path: opts.path }),
    ...(unix === undefined ? {} : { socketPath: unix, path: opts.path ?? '/' }),
  }
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
  return new Promise((resolve, reject) => {
    const req =
      target === undefined
        ? http.request(options)
        : target.protocol === 'https:'
          ? https.request(target, options)
          : http.request(target, options)
    let upgraded: Duplex | undefined
    let settled = false
    const finish = (error: unknown, response?: ClientResponse) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.destroy()
      upgraded?.destroy()
      if (response) resolve(response)
      else reject(error)
    }
    const timer = setTimeout(() => finish(new Error(`Upgrade timed out after ${timeoutMs} ms`)), timeoutMs)
    req.on('error', (error) => finish(error))
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        finish(
          undefined,
          makeResponse(res.statusCode ?? 0, res.headers, Buffer.concat(chunks).toString('utf8')),
        ),
      )
      res.on('error', (error) => finish(error))
    })
    req.on('upgrade', (res, socket, head) => {
      upgraded = socket
      const accept = createHash('sha1')
        .update(key + WS_GUID)
        .digest('base64')
      if (res.statusCode !== 101 || res.headers['sec-websocket-accept'] !== accept) {
        finish(
          new Error(`bad handshake: ${res.statusCode} accept=${String(res.headers['sec-websocket-accept'])}`),
        )
        return
      }
      let buffer = head
      const tryFrame = () => {
        try {
          const text = firstTextFrame(buffer)
          if (text !== undefined) finish(undefined, makeResponse(200, res.headers, text))
        } catch (error) {
          finish(error)
        }
      }
      socket.on('data', (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk])
        tryFrame()
      })
      socket.on('error', (error) => finish(error))
      socket.on('close', () => finish(new Error('upgraded connection closed before a message')))
      tryFrame()
    })
    req.end()
  })
}

/** The payload of a complete, unmasked, unfragmented text frame at the start of `data`. */
function firstTextFrame(data: Buffer): string | undefined {
  if (data.length < 2) return undefined
  const opcode = (data[0] ?? 0) & 0x0f
  if (opcode !== 1 || ((data[0] ?? 0) & 0x80) === 0) throw new Error('expected one final text frame')
  let length = (data[1] ?? 0) & 0x7f
  let offset = 2
  if (length === 126) {
    if (data.length < 4) return undefined
    length = data.readUInt16BE(2)
    offset = 4
  } else if (length === 127) {
    throw new Error('frame too large for a test message')
  }
  if (data.length < offset + length) return undefined
  return data.subarray(offset, offset + length).toString('utf8')
}
