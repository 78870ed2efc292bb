import type { ClientCertOptions } from '@clientcert/core'
import { clientCertInterceptor, clientCertOf } from '@clientcert/grpc'
import * as grpc from '@grpc/grpc-js'

/** JSON messages, so the example needs no .proto file; a proto-generated service works the same. */
const json = {
  serialize: (value: unknown) => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer) => JSON.parse(bytes.toString()) as unknown,
}
const unary = (path: string) => ({
  path,
  requestStream: false,
  responseStream: false,
  requestSerialize: json.serialize,
  requestDeserialize: json.deserialize,
  responseSerialize: json.serialize,
  responseDeserialize: json.deserialize,
})

export const GREETER = {
  whoAmI: unary('/example.Greeter/WhoAmI'),
  admin: unary('/example.Greeter/Admin'),
} satisfies grpc.ServiceDefinition

/** A client class for GREETER, for tests and scripts. */
export const GreeterClient = grpc.makeGenericClientConstructor(GREETER, 'Greeter')

export interface ExampleServerOptions {
  /** PEM of the CA(s) that issue client certificates: the TLS roots and the app's trust anchors. */
  readonly clientCa: string
  /** Server certificate chain and key (PEM). */
  readonly cert: string
  readonly key: string
  /** Principal IDs allowed to call Admin. */
  readonly adminIds: readonly string[]
  /** Extra core options (hooks, revocation...). */
  readonly auth?: Partial<ClientCertOptions>
}

/**
 * The example server: every call is judged by the interceptor before its handler runs, and
 * Admin has its own policy. grpc-js verifies the client certificate in the handshake
 * (`checkClientCertificate: true`); the app validates the path again against the same CA.
 */
export function createGreeterServer(options: ExampleServerOptions): {
  server: grpc.Server
  credentials: grpc.ServerCredentials
} {
  const server = new grpc.Server({
    interceptors: [
      clientCertInterceptor({
        trust: { anchors: options.clientCa },
        identity: 'cn',
        allow: { authenticated: true },
        methods: { '/example.Greeter/Admin': { allow: { ids: [...options.adminIds] } } },
        onRejected: (err) => console.warn(`rejected: ${err.code} (${err.reason})`),
        ...options.auth,
      }),
    ],
  })
  server.addService(GREETER, {
    whoAmI(call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) {
      const p = clientCertOf(call)!
      callback(null, { principal: { id: p.id, kind: p.kind, subject: p.subject.dn } })
    },
    admin(call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) {
      callback(null, { principal: { id: clientCertOf(call)!.id }, admin: true })
    },
  })
  const credentials = grpc.ServerCredentials.createSsl(
    Buffer.from(options.clientCa),
    [{ private_key: Buffer.from(options.key), cert_chain: Buffer.from(options.cert) }],
    true,
  )
  return { server, credentials }
}
