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

/**
 * The grpc-js call of a Nest gRPC handler: its third argument (`@GrpcMethod` handlers get
 * `(data, metadata, call)`). Undefined for other RPC transports, whose arguments are no such call.
 */
export function grpcCallOf(host: { getArgByIndex<T = unknown>(index: number): T }): object | undefined {
  const call = host.getArgByIndex<unknown>(2)
  if (typeof call !== 'object' || call === null) return undefined
  const c = call as { getAuthContext?: unknown; metadata?: unknown }
  return typeof c.getAuthContext === 'function' && typeof c.metadata === 'object' && c.metadata !== null
    ? call
    : undefined
}
