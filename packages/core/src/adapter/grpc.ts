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

/**
 * The request the core reads, built from a grpc-js call (a handler's call or an interceptor's
 * `ServerInterceptingCallInterface`): a socket view with `encrypted`, `authorized` and
 * `getPeerCertificate()` giving the leaf's DER. Anything surprising fails closed: a call without
 * `getAuthContext()`, one that throws, or a certificate without DER is not "no certificate"
 * (which optional mode lets through) but a broken connection that is refused. The chain is not
 * available from grpc-js, so asking for it throws: the core then treats the path as unknown.
 */
export function grpcCallView(call: unknown): NodeRequestView & object {
  if (typeof call !== 'object' || call === null) return NO_CALL
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
