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
 * The response for a rejection: the problem body, `no-store`, and — for an HTTP/1 request
 * whose body has not been received — `Connection: close`, so the server does not drain an
 * unread (possibly endless) body. HTTP/2 forbids the Connection header; streams reset instead.
 */
export function problemResponse(error: ClientCertError, request?: unknown): ProblemResponse {
  const headers: Record<string, string> = {
    'content-type': PROBLEM_CONTENT_TYPE,
    'cache-control': 'no-store',
  }
  const r = (typeof request === 'object' && request !== null ? request : {}) as {
    complete?: unknown
    httpVersionMajor?: unknown
  }
  if (r.complete === false && (typeof r.httpVersionMajor !== 'number' || r.httpVersionMajor < 2))
    headers.connection = 'close'
  return { status: error.status, headers, body: JSON.stringify(toProblemDetails(error)) }
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
