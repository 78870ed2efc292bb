import 'reflect-metadata'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ClientPrincipal } from '@clientcert/core'
import {
  AllowClients,
  ClientCert,
  ClientCertGuard,
  ClientCertModule,
  type ClientCertModuleOptions,
  OptionalClientCert,
} from '@clientcert/nestjs'
import { createTestPki, type IssuedCertificate, type TestPki } from '@clientcert/testing'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { Controller, type ExecutionContext, type INestMicroservice, Module } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { GrpcMethod, type MicroserviceOptions, Transport } from '@nestjs/microservices'
import { Observable } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const PROTO = `syntax = "proto3";
package test;
service Echo {
  rpc Who (Empty) returns (Reply);
  rpc Admin (Empty) returns (Reply);
  rpc Maybe (Empty) returns (Reply);
  rpc Count (Empty) returns (stream Reply);
}
message Empty {}
message Reply { string id = 1; int32 i = 2; }
`

const idOf = (p: ClientPrincipal | undefined) => (p === undefined ? '' : p.id)
const handled: string[] = []

@Controller()
class EchoController {
  @GrpcMethod('Echo', 'Who')
  who(_data: unknown, _metadata: unknown, _call: unknown, @ClientCert() client: ClientPrincipal) {
    handled.push('Who')
    return { id: idOf(client) }
  }

  @AllowClients({ ids: ['alice'] })
  @GrpcMethod('Echo', 'Admin')
  admin(_data: unknown, _metadata: unknown, _call: unknown, @ClientCert() client: ClientPrincipal) {
    handled.push('Admin')
    return { id: idOf(client) }
  }

  @OptionalClientCert()
  @GrpcMethod('Echo', 'Maybe')
  maybe(
    _data: unknown,
    _metadata: unknown,
    _call: unknown,
    @ClientCert() client: ClientPrincipal | undefined,
  ) {
    handled.push('Maybe')
    return { id: idOf(client) }
  }

  @GrpcMethod('Echo', 'Count')
  count(_data: unknown, _metadata: unknown, _call: unknown, @ClientCert() client: ClientPrincipal) {
    handled.push('Count')
    return new Observable((s) => {
      for (let i = 0; i < 3; i++) s.next({ id: idOf(client), i })
      s.complete()
    })
  }
}

interface Outcome {
  ok: boolean
  value?: unknown
  code?: number
  details?: string
  errorCode?: unknown
}

describe('@clientcert/nestjs: gRPC microservice contexts (Transport.GRPC over mTLS)', () => {
  let pki: TestPki
  let alice: IssuedCertificate
  let bob: IssuedCertificate
  let dir: string
  let protoPath: string
  let EchoClient: grpc.ServiceClientConstructor

  beforeAll(async () => {
    pki = await createTestPki()
    alice = await pki.issueClient({ subject: 'CN=alice' })
    bob = await pki.issueClient({ subject: 'CN=bob' })
    dir = mkdtempSync(join(tmpdir(), 'clientcert-nest-grpc-'))
    protoPath = join(dir, 'echo.proto')
    writeFileSync(protoPath, PROTO)
    const loaded = grpc.loadPackageDefinition(
      protoLoader.loadSync(protoPath, { defaults: true }),
    ) as unknown as {
      test: { Echo: grpc.ServiceClientConstructor }
    }
    EchoClient = loaded.test.Echo
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  async function start(checkClientCertificate: boolean): Promise<{ app: INestMicroservice; port: number }> {
    const options: ClientCertModuleOptions = {
      trust: { anchors: pki.clientCaPem, intermediates: pki.intermediate.pem },
      identity: 'cn',
      allow: { authenticated: true },
    }
    @Module({ imports: [ClientCertModule.forRoot(options)], controllers: [EchoController] })
    class AppModule {}
    // Nest binds the URL it is given; find a free port first by binding grpc-js once.
    const probe = new grpc.Server()
    const port = await new Promise<number>((resolve, reject) =>
      probe.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    )
    await new Promise<void>((resolve) => probe.tryShutdown(() => resolve()))
    const app = await NestFactory.createMicroservice<MicroserviceOptions>(AppModule, {
      transport: Transport.GRPC,
      options: {
        package: 'test',
        protoPath,
        url: `127.0.0.1:${port}`,
        credentials: grpc.ServerCredentials.createSsl(
          Buffer.from(pki.clientCaPem),
          [{ private_key: Buffer.from(pki.server.keyPem), cert_chain: Buffer.from(pki.server.chainPem) }],
          checkClientCertificate,
        ),
      },
      logger: false,
    })
    await app.listen()
    return { app, port }
  }

  async function call(port: number, who: IssuedCertificate | null, method: string): Promise<Outcome> {
    const client = new EchoClient(
      `127.0.0.1:${port}`,
      grpc.credentials.createSsl(
        Buffer.from(pki.serverCa.pem),
        who ? Buffer.from(who.keyPem) : null,
        who ? Buffer.from(who.chainPem) : null,
      ),
      { 'grpc.ssl_target_name_override': 'localhost' },
    ) as unknown as Record<string, (...args: unknown[]) => unknown> & grpc.Client
    const fail = (err: grpc.ServiceError): Outcome => ({
      ok: false,
      code: err.code,
      details: err.details,
      errorCode: err.metadata?.get('clientcert-error-code')[0],
    })
    try {
      if (method === 'count') {
        return await new Promise<Outcome>((resolve) => {
          const stream = client.count!({}) as grpc.ClientReadableStream<unknown>
          const items: unknown[] = []
          stream.on('data', (d) => items.push(d))
          stream.on('error', (err: grpc.ServiceError) => resolve(fail(err)))
          stream.on('end', () => resolve({ ok: true, value: items }))
        })
      }
      return await new Promise<Outcome>((resolve) =>
        client[method]!({}, (err: grpc.ServiceError | null, value: unknown) =>
          resolve(err ? fail(err) : { ok: true, value }),
        ),
      )
    } finally {
      client.close()
    }
  }

  it('authenticates gRPC handlers: principal, per-method @AllowClients, streaming, rejections as status + trailer', async () => {
    const { app, port } = await start(true)
    try {
      handled.length = 0
      expect(await call(port, alice, 'who')).toEqual({ ok: true, value: { id: 'alice', i: 0 } })
      expect(await call(port, alice, 'admin')).toEqual({ ok: true, value: { id: 'alice', i: 0 } })
      expect(await call(port, alice, 'count')).toEqual({
        ok: true,
        value: [0, 1, 2].map((i) => ({ id: 'alice', i })),
      })
      expect(handled).toEqual(['Who', 'Admin', 'Count'])
      handled.length = 0
      expect(await call(port, bob, 'admin')).toEqual({
        ok: false,
        code: grpc.status.PERMISSION_DENIED,
        details: expect.stringMatching(/^[A-Z][a-z ().-]+\.$/),
        errorCode: 'ERR_CLIENT_CERT_NOT_ALLOWED',
      })
      expect(handled).toEqual([])
    } finally {
      await app.close()
    }
  })

  it('a call without a certificate (checkClientCertificate: false) → UNAUTHENTICATED; an optional handler runs with no principal', async () => {
    const { app, port } = await start(false)
    try {
      handled.length = 0
      expect(await call(port, null, 'who')).toMatchObject({
        ok: false,
        code: grpc.status.UNAUTHENTICATED,
        errorCode: 'ERR_CLIENT_CERT_MISSING',
      })
      expect(await call(port, null, 'count')).toMatchObject({
        ok: false,
        code: grpc.status.UNAUTHENTICATED,
        errorCode: 'ERR_CLIENT_CERT_MISSING',
      })
      expect(handled).toEqual([])
      expect(await call(port, null, 'maybe')).toEqual({ ok: true, value: { id: '', i: 0 } })
      expect(handled).toEqual(['Maybe'])
    } finally {
      await app.close()
    }
  })

  it('other RPC transports (no client certificate) fail closed with ERR_CLIENT_CERT_MISCONFIGURED', async () => {
    const guard = new ClientCertGuard({ optional: false })
    const tcpContext = {
      getType: () => 'rpc',
      getArgByIndex: (i: number) => [{ data: 1 }, { getPattern: () => 'sum' }, undefined][i],
      getHandler: () => EchoController.prototype.who,
      getClass: () => EchoController,
    } as unknown as ExecutionContext
    await expect(guard.canActivate(tcpContext)).rejects.toMatchObject({
      error: { code: 'ERR_CLIENT_CERT_MISCONFIGURED' },
    })
    // A gateway client that no authenticated upgrade marked.
    const wsContext = {
      getType: () => 'ws',
      switchToWs: () => ({ getClient: () => ({}) }),
    } as unknown as ExecutionContext
    await expect(guard.canActivate(wsContext)).rejects.toMatchObject({
      error: { code: 'ERR_CLIENT_CERT_MISCONFIGURED' },
    })
  })
})
