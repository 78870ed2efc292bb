import { TLSSocket } from 'node:tls'
import type { NodeRequestView } from './view.js'

/**
 * What `@grpc/grpc-js` (≥ 1.13) reports of a call's connection: `call.getAuthContext()`. It
 * names a peer certificate only when the TLS stack verified it (the server was created with
 * `checkClientCertificate: true`), and only the leaf, never the chain.
 */
interface GrpcAuthContextLike {
  readonly transportSecurityType?: unknown
  readonly sslPeerCertificate?: unknown
}

const NOT_TLS = Object.freeze({ encrypted: false })
const NO_CALL = Object.freeze({})

/** Interceptors and surface calls between a handler's call and grpc-js's base call. */
const MAX_CALL_WRAPPERS = 32

/**
 * The HTTP/2 stream and TLS socket under a grpc-js call, when grpc-js's own call objects are
 * reachable (the base call keeps `stream`; interceptors keep `nextCall`, handler calls `call`).
 * Read so that the core judges the connection once, as for any HTTP/2 request, instead of
 * copying and re-hashing the certificate on every call (`getAuthContext()` builds a full
 * `PeerCertificate` each time, ≈30 µs). Anything unexpected gives undefined: the caller falls
 * back on the public `getAuthContext()`.
 */
function connectionOf(call: object): (NodeRequestView & object) | undefined {
  let c: unknown = call
  for (let i = 0; i < MAX_CALL_WRAPPERS && typeof c === 'object' && c !== null; i++) {
    const { stream, nextCall, call: inner } = c as { stream?: unknown; nextCall?: unknown; call?: unknown }
    if (typeof stream === 'object' && stream !== null) {
      const session = (stream as { session?: unknown }).session
      const socket =
        typeof session === 'object' && session !== null ? (session as { socket?: unknown }).socket : undefined
      // Only a real TLS socket: a plaintext server's call goes the public way (no certificate).
      return socket instanceof TLSSocket ? { stream, socket } : undefined
    }
    c = nextCall ?? inner
  }
  return undefined
}

/**
 * The request the core reads, built from a grpc-js call (a handler's call or an interceptor's
 * `ServerInterceptingCallInterface`): a socket view with `encrypted`, `authorized` and
 * `getPeerCertificate()` giving the leaf's DER (or, when grpc-js's call objects lead to it, the
 * connection's own HTTP/2 stream and TLS socket). Anything surprising fails closed: a call without
 * `getAuthContext()`, one that throws, or a certificate without DER is not "no certificate"
 * (which optional mode lets through) but a broken connection that is refused. The chain is not
 * available from grpc-js, so asking for it throws: the core then treats the path as unknown.
 */
export function grpcCallView(call: unknown): NodeRequestView & object {
  if (typeof call !== 'object' || call === null) return NO_CALL
  const direct = connectionOf(call)
  if (direct !== undefined) return direct
  const getAuthContext = (call as { getAuthContext?: unknown }).getAuthContext
  if (typeof getAuthContext !== 'function') return NO_CALL
  let context: unknown
  try {
    context = getAuthContext.call(call)
  } catch {
    return NO_CALL
  }
  if (typeof context !== 'object' || context === null) return NO_CALL
  const { transportSecurityType, sslPeerCertificate } = context as GrpcAuthContextLike
  // An empty context is grpc-js's answer for a plaintext connection and for a TLS one whose
  // client sent no (verified) certificate: both are a healthy call without a certificate.
  if (transportSecurityType === undefined && sslPeerCertificate === undefined) return { socket: NOT_TLS }
  if (transportSecurityType !== 'ssl') return NO_CALL
  return {
    socket: {
      encrypted: true,
      // grpc-js hands out only certificates its TLS stack verified against the server's roots.
      authorized: sslPeerCertificate !== undefined,
      authorizationError: '',
      getPeerCertificate(detailed?: boolean) {
        if (detailed === true) throw new TypeError('grpc-js does not expose the peer certificate chain')
        if (sslPeerCertificate === undefined) return undefined
        const raw =
          typeof sslPeerCertificate === 'object' && sslPeerCertificate !== null
            ? (sslPeerCertificate as { raw?: unknown }).raw
            : undefined
        if (!(raw instanceof Uint8Array) || raw.length === 0)
          throw new TypeError('the peer certificate has no DER')
        return { raw }
      },
    },
  }
}
