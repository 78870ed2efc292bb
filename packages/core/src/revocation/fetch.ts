import { request } from 'node:http'

/** What a revocation fetch sends. */
export interface RevocationFetchInit {
  readonly method: 'GET' | 'POST'
  readonly body?: Uint8Array | undefined
  readonly headers: Record<string, string>
  readonly signal: AbortSignal
}

/** What a revocation fetch answers. */
export interface RevocationFetchResponse {
  readonly status: number
  readonly body: Uint8Array
}

/** Injectable transport for CRL and OCSP fetches (tests, proxies, custom agents). */
export type RevocationFetch = (url: string, init: RevocationFetchInit) => Promise<RevocationFetchResponse>

/** Throws unless `url` is an absolute `http:` URL (no https, no credentials). */
export function assertHttpUrl(url: string): URL {
  const u = new URL(url)
  if (u.protocol !== 'http:') throw new Error(`only http: URLs are fetched, got ${u.protocol}`)
  if (u.username !== '' || u.password !== '') throw new Error('URLs with credentials are not fetched')
  return u
}

/**
 * The default transport: one plain `node:http` request, no redirects (a 3xx is just a status),
 * no keep-alive agent, aborted by `signal`, and the body is capped at `maxBytes` (the socket
 * is destroyed as soon as the cap is passed or a larger Content-Length is announced).
 */
export function httpFetch(
  url: string,
  init: RevocationFetchInit,
  maxBytes: number,
): Promise<RevocationFetchResponse> {
  return new Promise((resolve, reject) => {
    let u: URL
    try {
      u = assertHttpUrl(url)
    } catch (err) {
      reject(err)
      return
    }
    if (init.signal.aborted) {
      reject(new Error('aborted'))
      return
    }
    const headers: Record<string, string> = { ...init.headers, connection: 'close' }
    if (init.body !== undefined) headers['content-length'] = String(init.body.length)
    const req = request(u, { method: init.method, headers, agent: false, signal: init.signal }, (res) => {
      const announced = Number(res.headers['content-length'])
      if (Number.isFinite(announced) && announced > maxBytes) {
        res.destroy()
        reject(new Error(`response larger than ${maxBytes} bytes`))
        return
      }
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > maxBytes) {
          res.destroy()
          reject(new Error(`response larger than ${maxBytes} bytes`))
          return
        }
        chunks.push(chunk)
      })
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: new Uint8Array(Buffer.concat(chunks)) }),
      )
      res.on('error', reject)
      res.on('aborted', () => reject(new Error('response aborted')))
    })
    req.on('error', reject)
    req.end(init.body === undefined ? undefined : Buffer.from(init.body))
  })
}

/** Runs one fetch with a timeout and a byte cap, whatever the transport; non-200 is an error. */
export async function boundedFetch(
  fetcher: RevocationFetch | undefined,
  url: string,
  init: Omit<RevocationFetchInit, 'signal'>,
  timeoutMs: number,
  maxBytes: number,
): Promise<Uint8Array> {
  assertHttpUrl(url)
  const controller = new AbortController()
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort()
      reject(new Error(`timed out after ${timeoutMs} ms`))
    }, timeoutMs)
    timer.unref()
  })
  try {
    const full = { ...init, signal: controller.signal }
    const res = await Promise.race([fetcher ? fetcher(url, full) : httpFetch(url, full, maxBytes), timeout])
    if (res.status !== 200) throw new Error(`HTTP status ${res.status}`)
    if (res.body.length > maxBytes) throw new Error(`response larger than ${maxBytes} bytes`)
    return res.body
  } finally {
    clearTimeout(timer)
    controller.abort()
  }
}
