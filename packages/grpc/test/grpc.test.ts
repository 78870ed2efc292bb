import { execFileSync } from 'node:child_process'
import { ClientCertConfigError, type ClientPrincipal, createClientCertAuthenticator } from '@clientcert/core'
import { admitCall, clientCertInterceptor, clientCertOf, type GrpcClientCertOptions } from '@clientcert/grpc'
import {
  createCrl,
  createRootCA,
  createTestPki,
  type IssuedCertificate,
  type TestPki,
} from '@clientcert/testing'
import * as grpc from '@grpc/grpc-js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/** A JSON-serialised service, so no .proto file is needed: `Who` (unary) and `Count` (server streaming). */
const json = {
  serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown,
}
const SERVICE = {
  who: {
    path: '/test.Echo/Who',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
  count: {
    path: '/test.Echo/Count',
    requestStream: false,
    responseStream: true,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
  admin: {
    path: '/test.Echo/Admin',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
} satisfies grpc.ServiceDefinition
const EchoClient = grpc.makeGenericClientConstructor(SERVICE, 'Echo')

interface Outcome {
  readonly ok: boolean
  readonly value?: unknown
  readonly code?: grpc.status
  readonly details?: string
  readonly errorCode?: string
}

interface Running {
  readonly port: number
  /** Handler runs, by method. */
  readonly handled: string[]
  close(): Promise<void>
}

const idOf = (p: ClientPrincipal | undefined) => (p === undefined ? null : p.id)

async function startServer(
  pki: TestPki,
  options: GrpcClientCertOptions,
  tls: { rootCerts?: string; checkClientCertificate?: boolean } = {},
  hideInternals = false,
): Promise<Running> {
  const handled: string[] = []
  const interceptors = [clientCertInterceptor(options)]
  if (hideInternals) interceptors.unshift(hidingInternals)
  const server = new grpc.Server({ interceptors })
  server.addService(SERVICE, {
    who(call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) {
      handled.push('who')
      callback(null, { id: idOf(clientCertOf(call)) })
    },
    count(call: grpc.ServerWritableStream<unknown, unknown>) {
      handled.push('count')
      const id = idOf(clientCertOf(call))
      for (let i = 0; i < 3; i++) call.write({ id, i })
      call.end()
    },
    admin(call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) {
      handled.push('admin')
      callback(null, { id: idOf(clientCertOf(call)) })
    },
  })
  const credentials = grpc.ServerCredentials.createSsl(
    Buffer.from(tls.rootCerts ?? pki.clientCaPem),
    [{ private_key: Buffer.from(pki.server.keyPem), cert_chain: Buffer.from(pki.server.chainPem) }],
    tls.checkClientCertificate ?? true,
  )
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))),
  )
  return {
    port,
    handled,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  }
}

/**
 * An interceptor that hands on only grpc-js's public call interface, so the adapter cannot
 * reach the HTTP/2 stream and must read the certificate from `getAuthContext()`.
 */
const hidingInternals: grpc.ServerInterceptor = (_method, call) => {
  const wrapper: grpc.ServerInterceptingCallInterface = {
    start: (listener) => call.start(listener),
    sendMetadata: (metadata) => call.sendMetadata(metadata),
    sendMessage: (message, callback) => call.sendMessage(message, callback),
    sendStatus: (status) => call.sendStatus(status),
    startRead: () => call.startRead(),
    getPeer: () => call.getPeer(),
    getDeadline: () => call.getDeadline(),
    getHost: () => call.getHost(),
    getAuthContext: () => call.getAuthContext(),
    getConnectionInfo: () => call.getConnectionInfo(),
    getMetricsRecorder: () => call.getMetricsRecorder(),
  }
  // grpc-js types interceptors as returning its class; the server only uses the interface.
  return wrapper as grpc.ServerInterceptingCall
}

function clientFor(pki: TestPki, port: number, client: IssuedCertificate | null): grpc.Client {
  const credentials = grpc.credentials.createSsl(
    Buffer.from(pki.serverCa.pem),
    client ? Buffer.from(client.keyPem) : null,
    client ? Buffer.from(client.chainPem) : null,
  )
  // The server certificate names localhost; the IP target avoids resolving it to ::1.
  return new EchoClient(`127.0.0.1:${port}`, credentials, { 'grpc.ssl_target_name_override': 'localhost' })
}

function failure(err: grpc.ServiceError): Outcome {
  const errorCode = err.metadata?.get('clientcert-error-code')[0]
  return {
    ok: false,
    code: err.code,
    details: err.details,
    errorCode: typeof errorCode === 'string' ? errorCode : undefined,
  }
}

type Method = 'who' | 'count' | 'admin'

async function callMethod(pki: TestPki, port: number, who: IssuedCertificate | null, method: Method) {
  const client = clientFor(pki, port, who) as unknown as Record<Method, (...args: unknown[]) => unknown>
  try {
    if (method === 'count') {
      return await new Promise<Outcome>((resolve) => {
        const stream = client.count(
          {},
          { deadline: Date.now() + 10_000 },
        ) as grpc.ClientReadableStream<unknown>
        const items: unknown[] = []
        stream.on('data', (d) => items.push(d))
        stream.on('error', (err: grpc.ServiceError) => resolve(failure(err)))
        stream.on('end', () => resolve({ ok: true, value: items }))
      })
    }
    return await new Promise<Outcome>((resolve) => {
      client[method]({}, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, value: unknown) =>
        resolve(err ? failure(err) : { ok: true, value }),
      )
    })
  } finally {
    ;(client as unknown as grpc.Client).close()
  }
}

describe('@clientcert/grpc over mTLS (grpc-js on loopback)', () => {
  let pki: TestPki
  let clients: Record<
    'alice' | 'bob' | 'noEku' | 'expired' | 'revoked' | 'stranger' | 'strangerCaClient',
    IssuedCertificate
  >
  let strangerCaPem: string
  let crls: Uint8Array[]

  beforeAll(async () => {
    pki = await createTestPki()
    const stranger = await createRootCA({ subject: 'CN=Stranger Root CA' })
    strangerCaPem = stranger.pem
    const day = 86_400_000
    clients = {
      alice: await pki.issueClient({ subject: 'CN=alice' }),
      bob: await pki.issueClient({ subject: 'CN=bob' }),
      noEku: await pki.issueClient({ subject: 'CN=noeku', eku: null }),
      expired: await pki.issueClient({
        subject: 'CN=old',
        notBefore: new Date(Date.now() - 3 * day),
        notAfter: new Date(Date.now() - day),
      }),
      revoked: await pki.issueClient({ subject: 'CN=revoked' }),
      stranger: await stranger.issueClient({ subject: 'CN=alice' }),
      strangerCaClient: await stranger.issueClient({ subject: 'CN=mallory' }),
    }
    crls = [
      createCrl(pki.root).der,
      createCrl(pki.intermediate, {
        revoked: [{ serialNumber: clients.revoked.certificate.serialNumber }],
      }).der,
    ]
  })

  const base = (): GrpcClientCertOptions => ({
    trust: { anchors: pki.clientCaPem, intermediates: pki.intermediate.pem },
    identity: 'cn',
    allow: { authenticated: true },
    methods: { '/test.Echo/Admin': { allow: { ids: ['alice'] } } },
  })

  interface Row {
    readonly name: string
    readonly client: keyof typeof clients | null
    readonly method?: Method
    readonly options?: () => GrpcClientCertOptions
    readonly tls?: () => { rootCerts?: string; checkClientCertificate?: boolean }
    /** Behind an interceptor that hides grpc-js's call objects: the `getAuthContext()` path. */
    readonly hideInternals?: boolean
    /** An answer from the interceptor: the status and the code in the trailers. */
    readonly expect: { id: string | null } | { code: grpc.status; errorCode: string } | 'tls-refused'
  }

  const rows: Row[] = [
    { name: 'valid client, unary → principal id', client: 'alice', expect: { id: 'alice' } },
    {
      name: 'valid client, server streaming → principal id',
      client: 'alice',
      method: 'count',
      expect: { id: 'alice' },
    },
    {
      name: 'method policy: allowed client → principal id',
      client: 'alice',
      method: 'admin',
      expect: { id: 'alice' },
    },
    {
      name: 'method policy: valid client not allowed → PERMISSION_DENIED',
      client: 'bob',
      method: 'admin',
      expect: { code: grpc.status.PERMISSION_DENIED, errorCode: 'ERR_CLIENT_CERT_NOT_ALLOWED' },
    },
    {
      name: 'not allowed by the default policy, server streaming → PERMISSION_DENIED',
      client: 'bob',
      method: 'count',
      options: () => ({ ...base(), allow: { ids: ['alice'] } }),
      expect: { code: grpc.status.PERMISSION_DENIED, errorCode: 'ERR_CLIENT_CERT_NOT_ALLOWED' },
    },
    {
      name: 'missing certificate (checkClientCertificate: false) → UNAUTHENTICATED',
      client: null,
      tls: () => ({ checkClientCertificate: false }),
      expect: { code: grpc.status.UNAUTHENTICATED, errorCode: 'ERR_CLIENT_CERT_MISSING' },
    },
    {
      name: 'missing certificate, server streaming → UNAUTHENTICATED',
      client: null,
      method: 'count',
      tls: () => ({ checkClientCertificate: false }),
      expect: { code: grpc.status.UNAUTHENTICATED, errorCode: 'ERR_CLIENT_CERT_MISSING' },
    },
    {
      name: 'missing certificate on an optional server → handler runs with no principal',
      client: null,
      options: () => ({ ...base(), optional: true }),
      tls: () => ({ checkClientCertificate: false }),
      expect: { id: null },
    },
    {
      name: 'missing certificate on an optional server, method with a policy → UNAUTHENTICATED',
      client: null,
      method: 'admin',
      options: () => ({ ...base(), optional: true }),
      tls: () => ({ checkClientCertificate: false }),
      expect: { code: grpc.status.UNAUTHENTICATED, errorCode: 'ERR_CLIENT_CERT_MISSING' },
    },
    {
      name: 'untrusted (TLS roots are the client CA) → refused by the handshake',
      client: 'stranger',
      expect: 'tls-refused',
    },
    {
      name: 'untrusted by the app (TLS roots wider than trust.anchors) → UNAUTHENTICATED',
      client: 'stranger',
      tls: () => ({ rootCerts: `${pki.clientCaPem}${strangerCaPem}` }),
      expect: { code: grpc.status.UNAUTHENTICATED, errorCode: 'ERR_CLIENT_CERT_UNTRUSTED' },
    },
    {
      name: 'wrong EKU (no clientAuth) → UNAUTHENTICATED',
      client: 'noEku',
      expect: { code: grpc.status.UNAUTHENTICATED, errorCode: 'ERR_CLIENT_CERT_EKU' },
    },
    {
      name: 'expired → refused by the handshake',
      client: 'expired',
      expect: 'tls-refused',
    },
    {
      name: 'expired by the app clock (a TLS session outliving the certificate) → UNAUTHENTICATED',
      client: 'alice',
      options: () => ({ ...base(), now: () => Date.now() + 2 * 86_400_000 }),
      expect: { code: grpc.status.UNAUTHENTICATED, errorCode: 'ERR_CLIENT_CERT_EXPIRED' },
    },
    {
      name: 'revoked (CRL) → UNAUTHENTICATED',
      client: 'revoked',
      options: () => ({ ...base(), revocation: { crls: { sources: crls } } }),
      expect: { code: grpc.status.UNAUTHENTICATED, errorCode: 'ERR_CLIENT_CERT_REVOKED' },
    },
    {
      name: 'revocation configured, unrevoked client, server streaming → principal id',
      client: 'alice',
      method: 'count',
      options: () => ({ ...base(), revocation: { crls: { sources: crls } } }),
      expect: { id: 'alice' },
    },
  ]
  // The same judgements through grpc-js's public `getAuthContext()` only.
  const publicOnly = [
    'valid client, unary → principal id',
    'valid client, server streaming → principal id',
    'method policy: valid client not allowed → PERMISSION_DENIED',
    'missing certificate (checkClientCertificate: false) → UNAUTHENTICATED',
    'missing certificate on an optional server → handler runs with no principal',
    'untrusted by the app (TLS roots wider than trust.anchors) → UNAUTHENTICATED',
    'wrong EKU (no clientAuth) → UNAUTHENTICATED',
    'revoked (CRL) → UNAUTHENTICATED',
  ]
  for (const name of publicOnly) {
    const row = rows.find((r) => r.name === name)
    if (row === undefined) throw new Error(`no row ${name}`)
    rows.push({ ...row, name: `getAuthContext() only: ${name}`, hideInternals: true })
  }

  for (const row of rows) {
    it(row.name, async () => {
      const method = row.method ?? 'who'
      const server = await startServer(pki, (row.options ?? base)(), row.tls?.() ?? {}, row.hideInternals)
      try {
        const out = await callMethod(pki, server.port, row.client && clients[row.client], method)
        if (row.expect === 'tls-refused') {
          expect(out).toMatchObject({ ok: false, code: grpc.status.UNAVAILABLE })
          expect(out.errorCode).toBeUndefined()
          expect(server.handled).toEqual([])
        } else if ('id' in row.expect) {
          expect(out.ok, JSON.stringify(out)).toBe(true)
          const want = { id: row.expect.id }
          if (method === 'count') expect(out.value).toEqual([0, 1, 2].map((i) => ({ ...want, i })))
          else expect(out.value).toEqual(want)
          expect(server.handled).toEqual([method])
        } else {
          expect(out).toMatchObject({ ok: false, code: row.expect.code, errorCode: row.expect.errorCode })
          // The public sentence of the code, never the reason, a certificate or a stack.
          expect(out.details).toMatch(/^[A-Z][a-z ().-]+\.$/)
          expect(server.handled).toEqual([])
        }
      } finally {
        await server.close()
      }
    })
  }

  it('clientCertOf(call) throws ERR_CLIENT_CERT_MISCONFIGURED when the interceptor did not run', () => {
    expect(() => clientCertOf({ metadata: new grpc.Metadata() })).toThrow(
      expect.objectContaining({ code: 'ERR_CLIENT_CERT_MISCONFIGURED' }),
    )
  })

  it("the interceptor's mark stays on the call's own metadata: a clone or a non-object carries none", async () => {
    let seen: { clone: unknown; own: unknown } | undefined
    const server = new grpc.Server({ interceptors: [clientCertInterceptor(base())] })
    server.addService(SERVICE, {
      who(call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) {
        const attempt = (metadata: unknown) => {
          try {
            return idOf(clientCertOf({ metadata } as { metadata: grpc.Metadata }))
          } catch (err) {
            return (err as { code?: string }).code
          }
        }
        seen = { own: attempt(call.metadata), clone: attempt(call.metadata.clone()) }
        callback(null, {})
      },
      count: (call: grpc.ServerWritableStream<unknown, unknown>) => call.end(),
      admin: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, {}),
    })
    const credentials = grpc.ServerCredentials.createSsl(
      Buffer.from(pki.clientCaPem),
      [{ private_key: Buffer.from(pki.server.keyPem), cert_chain: Buffer.from(pki.server.chainPem) }],
      true,
    )
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))),
    )
    try {
      expect(await callMethod(pki, port, clients.alice, 'who')).toMatchObject({ ok: true })
      expect(seen).toEqual({ own: 'alice', clone: 'ERR_CLIENT_CERT_MISCONFIGURED' })
      expect(() => clientCertOf({ metadata: 'x' } as never)).toThrow(
        expect.objectContaining({ code: 'ERR_CLIENT_CERT_MISCONFIGURED' }),
      )
    } finally {
      server.forceShutdown()
    }
  })

  afterAll(() => undefined)
})

describe('@clientcert/grpc configuration', () => {
  it('throws coded errors at construction', async () => {
    const pki = await createTestPki()
    const trust = { anchors: pki.clientCaPem }
    const cases: Array<[() => unknown, string]> = [
      [() => clientCertInterceptor({ allow: { authenticated: true } }), 'trust'],
      [
        () =>
          clientCertInterceptor({
            trust,
            allow: { authenticated: true },
            source: { forwarded: { proxies: ['127.0.0.1'], format: 'rfc9440' } },
          } as never),
        'source',
      ],
      [
        () => clientCertInterceptor({ trust, allow: { authenticated: true }, optional: 'yes' } as never),
        'optional',
      ],
      [
        () => clientCertInterceptor({ trust, allow: { authenticated: true }, requireServernameMatch: true }),
        'requireServernameMatch',
      ],
      [() => clientCertInterceptor({ trust, allow: { authenticated: true }, nope: 1 } as never), 'nope'],
      [
        () =>
          clientCertInterceptor({ trust, allow: { authenticated: true }, methods: { 'test.Echo/Who': {} } }),
        'methods["test.Echo/Who"]',
      ],
      [
        () =>
          clientCertInterceptor({
            trust,
            allow: { authenticated: true },
            methods: { '/test.Echo/Who': { allow: { idz: ['a'] } } },
          }),
        'methods["/test.Echo/Who"].allow.idz',
      ],
    ]
    for (const [fn, option] of cases) {
      let caught: unknown
      try {
        fn()
      } catch (err) {
        caught = err
      }
      expect(caught, option).toBeInstanceOf(ClientCertConfigError)
      expect(caught).toMatchObject({ code: 'ERR_CLIENT_CERT_INVALID_OPTION', option })
    }
  })

  it('loads from CommonJS and from ESM', () => {
    const cwd = new URL('..', import.meta.url)
    const cjs = execFileSync(
      process.execPath,
      [
        '-e',
        "const m = require('@clientcert/grpc'); console.log(typeof m.clientCertInterceptor, typeof m.clientCertOf)",
      ],
      { cwd },
    )
    expect(cjs.toString().trim()).toBe('function function')
    const esm = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const m = await import('@clientcert/grpc'); console.log(typeof m.clientCertInterceptor)",
      ],
      { cwd },
    )
    expect(esm.toString().trim()).toBe('function')
  })
})

describe('admitCall: what grpc-js reports is read fail-closed', () => {
  it('a call whose auth context is missing, throws or is surprising is refused, also on optional methods', async () => {
    const pki = await createTestPki()
    const alice = await pki.issueClient({ subject: 'CN=alice' })
    const authenticator = createClientCertAuthenticator({
      trust: { anchors: pki.clientCaPem, intermediates: pki.intermediate.pem },
      identity: 'cn',
      allow: { authenticated: true },
    })
    const optional = { policy: undefined, optional: true }
    const judge = async (call: unknown) =>
      await admitCall(authenticator, call as Parameters<typeof admitCall>[1], optional)
    const peer = (sslPeerCertificate: unknown) => ({
      getAuthContext: () => ({ transportSecurityType: 'ssl', sslPeerCertificate }),
    })
    const refused: Array<[string, unknown]> = [
      ['no getAuthContext', {}],
      [
        'getAuthContext throws',
        {
          getAuthContext: () => {
            throw new Error('closed')
          },
        },
      ],
      ['a null context', { getAuthContext: () => null }],
      ['an unknown transport', { getAuthContext: () => ({ transportSecurityType: 'alts' }) }],
      ['a certificate without DER', peer({ subject: { CN: 'alice' } })],
      ['a certificate with empty DER', peer({ raw: Buffer.alloc(0) })],
      ['a certificate that is a string', peer('alice')],
    ]
    for (const [name, call] of refused) {
      const a = await judge(call)
      expect(a.ok, name).toBe(false)
      if (!a.ok) expect(a.error.code, name).toBe('ERR_CLIENT_CERT_MISSING')
    }
    // grpc-js's empty context (plaintext, or TLS without a verified certificate): anonymous.
    expect(await judge({ getAuthContext: () => ({}) })).toEqual({ ok: true, principal: undefined })
    const ok = await judge(peer({ raw: Buffer.from(alice.der) }))
    expect(ok.ok && ok.principal?.id).toBe('alice')
  })
})
