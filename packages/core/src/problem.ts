import { type ClientCertError, publicMessage } from './errors.js'

/** RFC 9457 problem details, the body every adapter answers a rejection with. */
export interface ProblemDetails {
  readonly type: 'about:blank'
  readonly title: string
  readonly status: number
  readonly detail: string
  readonly code: string
}

const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  421: 'Misdirected Request',
  495: 'SSL Certificate Error',
  496: 'SSL Certificate Required',
  500: 'Internal Server Error',
}

/**
 * The response body for an error. Built from the code and status alone, so it can never carry
 * a certificate, an OpenSSL message or a stack trace.
 */
export function toProblemDetails(error: ClientCertError): ProblemDetails {
  const status = error.status
  return {
    type: 'about:blank',
    title: TITLES[status] ?? (status >= 500 ? 'Internal Server Error' : 'Client Error'),
    status,
    detail: publicMessage(error.code),
    code: error.code,
  }
}

/** Media type of the body. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

/** A complete rejection response, for adapters that write to Node's response themselves. */
export interface ProblemResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/**
 * The challenge sent with every 401. RFC 9110 §11.6.1 requires a 401 to carry a
 * `WWW-Authenticate` with at least one challenge, and no scheme is registered for TLS client
 * certificates: this is an unregistered scheme name (a valid `token`) that says which credential
 * is missing. Browsers ignore unknown schemes (no login prompt); clients should key on the
 * body's `code`, not on this header. See docs/errors/README.md.
 */
export const CLIENT_CERT_CHALLENGE = 'ClientCertificate'

/**
 * The response for a rejection: the problem body, `no-store`, a `WWW-Authenticate` challenge on
 * 401, and — for an HTTP/1 request whose body has not been received — `Connection: close`, so
 * the server does not drain an unread (possibly endless) body. A request without a body
 * (neither `Content-Length` above 0 nor `Transfer-Encoding`, RFC 9112 §6.3) keeps its
 * connection even when Node has not yet marked it complete. HTTP/2 forbids the Connection
 * header; streams reset instead.
 */
export function problemResponse(error: ClientCertError, request?: unknown): ProblemResponse {
  const headers: Record<string, string> = {
    'content-type': PROBLEM_CONTENT_TYPE,
    'cache-control': 'no-store',
  }
  if (error.status === 401) headers['www-authenticate'] = CLIENT_CERT_CHALLENGE
  const r = (typeof request === 'object' && request !== null ? request : {}) as {
    complete?: unknown
    httpVersionMajor?: unknown
    headers?: unknown
  }
  if (
    r.complete === false &&
    (typeof r.httpVersionMajor !== 'number' || r.httpVersionMajor < 2) &&
    mayHaveBody(r.headers)
  )
    headers.connection = 'close'
  return { status: error.status, headers, body: JSON.stringify(toProblemDetails(error)) }
}

/** False only when the headers say for sure that no body follows; anything unreadable may have one. */
function mayHaveBody(headers: unknown): boolean {
  if (typeof headers !== 'object' || headers === null) return true
  const h = headers as Record<string, unknown>
  if (h['transfer-encoding'] !== undefined) return true
  const length = h['content-length']
  return length !== undefined && length !== '0'
}

/**
 * True when something already read the request body: body-parser's `_body`, any parser's
 * `body`, or any stream consumer (`readableDidRead`), on the request or, for frameworks that
 * wrap it, on `request.raw`. An authentication stage that sees this was mounted too late.
 */
export function bodyAlreadyRead(request: unknown): boolean {
  if (typeof request !== 'object' || request === null) return false
  const r = request as {
    _body?: unknown
    body?: unknown
    readableDidRead?: unknown
    raw?: { readableDidRead?: unknown }
  }
  return (
    r._body === true || r.body !== undefined || r.readableDidRead === true || r.raw?.readableDidRead === true
  )
}
