import type { ServerResponse } from 'node:http'
import type { ClientCertError } from '../errors.js'
import { problemResponse } from '../problem.js'

/**
 * Writes the rejection to Node's response: the RFC 9457 body built from the code alone, so it
 * can never carry a certificate, an OpenSSL string or a stack. When headers are already out
 * (something wrote before the adapter answered) the connection is destroyed instead: a partial
 * success must never stand.
 */
export function writeProblem(
  response: Pick<ServerResponse, 'headersSent' | 'destroy' | 'writeHead' | 'end'>,
  error: ClientCertError,
  request?: object,
): void {
  if (response.headersSent) {
    response.destroy()
    return
  }
  const answer = problemResponse(error, request)
  response.writeHead(answer.status, answer.headers)
  response.end(answer.body)
}
