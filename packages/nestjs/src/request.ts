import { type AuthenticationMark, authenticationOf, type ClientPrincipal } from '@clientcert/core'

/** The raw Node request behind Express's `req` or Fastify's `request`. */
export function rawRequest(request: unknown): unknown {
  if (typeof request === 'object' && request !== null && 'raw' in request)
    return (request as { raw: unknown }).raw
  return request
}

/** The pre-parse stage's mark on this request, if it ran. */
export function markOf(request: unknown): AuthenticationMark | undefined {
  return authenticationOf(rawRequest(request))
}

export function principalOf(request: unknown): ClientPrincipal | undefined {
  return markOf(request)?.principal
}
