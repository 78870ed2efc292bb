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
