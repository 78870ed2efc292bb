import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import { ClientCertConfigError, type ClientPrincipal } from '@clientcert/core'
import { AllowClients, ClientCert, ClientCertModule, installClientCert } from '@clientcert/nestjs'
import { createTestPki, mtlsServerOptions, requestWithUndici, type TestPki } from '@clientcert/testing'
import {
  Controller,
  type DynamicModule,
  Get,
  type INestApplication,
  type LoggerService,
  Module,
} from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { ExpressAdapter } from '@nestjs/platform-express'
import { FastifyAdapter } from '@nestjs/platform-fastify'
import express from 'express'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'

let pki: TestPki
beforeAll(async () => {
  pki = await createTestPki()
})

@Controller()
class Routes {
  @Get('open')
  open(@ClientCert() p: ClientPrincipal | undefined) {
    return { id: p?.id }
  }

  @Get('ops')
  @AllowClients({ ids: ['ops'] })
  ops(@ClientCert() p: ClientPrincipal | undefined) {
    return { id: p?.id }
  }

  // An asynchronous policy: the Express route table leaves it to the guard (and its filter).
  @Get('late')
  @AllowClients({ predicate: async (p) => p.id === 'ops' })
  late(@ClientCert() p: ClientPrincipal | undefined) {
    return { id: p?.id }
  }
}

/** A Nest logger that keeps every line with its level and context. */
class Capture implements LoggerService {
  lines: Array<{ level: string; message: string; context: unknown }> = []
  log(message: unknown, context?: unknown) {
    this.lines.push({ level: 'log', message: String(message), context })
  }
  warn(message: unknown, context?: unknown) {
    this.lines.push({ level: 'warn', message: String(message), context })
  }
  error(message: unknown, context?: unknown) {
    this.lines.push({ level: 'error', message: String(message), context })
  }
  debug(message: unknown, context?: unknown) {
    this.lines.push({ level: 'debug', message: String(message), context })
  }
  verbose() {}
  /** clientcert's lines only (Nest logs its own bootstrap too). */
  ours() {
    return this.lines.filter((l) => l.context === 'ClientCert')
  }
}

function rootModule(clientCert: DynamicModule) {
  @Module({ imports: [clientCert], controllers: [Routes] })
  class Root {}
  return Root
}

const apps: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close()
})

async function start(
  platform: 'express' | 'fastify',
  logger: LoggerService,
  requestCert = true,
  module = ClientCertModule.forRoot({ identity: 'cn', allow: { authenticated: true } }),
): Promise<string> {
  const tls = { ...mtlsServerOptions({ pki, rejectUnauthorized: false }), requestCert }
  if (platform === 'express') {
    const instance = express()
    const app = await NestFactory.create(rootModule(module), new ExpressAdapter(instance), { logger })
    await installClientCert(app)
    await app.init()
    const server = https.createServer(tls, instance)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    apps.push({
      close: async () => {
        server.closeAllConnections()
        server.close()
        await app.close()
      },
    })
    return `https://127.0.0.1:${(server.address() as AddressInfo).port}`
  }
  const app = await NestFactory.create<INestApplication>(
    rootModule(module),
    new FastifyAdapter({ https: tls } as never),
    { logger },
  )
  await installClientCert(app)
  await app.listen(0, '127.0.0.1')
  apps.push(app)
  return `https://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`
}

for (const platform of ['express', 'fastify'] as const) {
  describe(`@clientcert/nestjs logging on ${platform}`, () => {
    it("logs each rejection once through Nest's Logger (context ClientCert, level log), never the certificate", async () => {
      const capture = new Capture()
      const url = await start(platform, capture)
      const alice = await pki.issueClient({ subject: 'CN=alice' })
      const ops = await pki.issueClient({ subject: 'CN=ops' })
      const get = (path: string, client: typeof alice | null) =>
        requestWithUndici(url, { path, client, ca: pki.serverCa.pem })
      expect((await get('/open?token=secret', null)).status).toBe(401) // pre-parse stage
      expect((await get('/ops', alice)).status).toBe(403) // route table / onRequest
      const late = await get('/late', alice) // the guard (asynchronous policy) and its filter
      expect(late.status).toBe(403)
      // The filter's answer is the kit's: no ETag on a no-store answer, the media type exactly.
      expect(late.headers['content-type']).toBe('application/problem+json')
      expect(late.headers.etag).toBeUndefined()
      expect(late.headers['cache-control']).toBe('no-store')
      expect((await get('/late', ops)).status).toBe(200)
      expect((await get('/open', alice)).status).toBe(200)
      const lines = capture.ours()
      expect(lines.map((l) => l.level)).toEqual(['log', 'log', 'log'])
      expect(lines[0]?.message).toMatch(/^clientcert: rejected GET \/open: 401 ERR_CLIENT_CERT_MISSING \(/)
      expect(lines[1]?.message).toMatch(/^clientcert: rejected GET \/ops: 403 ERR_CLIENT_CERT_NOT_ALLOWED \(/)
      expect(lines[2]?.message).toMatch(
        /^clientcert: rejected GET \/late: 403 ERR_CLIENT_CERT_NOT_ALLOWED \(/,
      )
      for (const l of lines) expect(l.message).not.toMatch(/secret|BEGIN CERTIFICATE/)
    })

    it('a server without requestCert: the reason says so, warned once', async () => {
      const capture = new Capture()
      const url = await start(platform, capture, false)
      const alice = await pki.issueClient({ subject: 'CN=alice' })
      for (let i = 0; i < 3; i++) {
        const res = await requestWithUndici(url, { path: '/open', client: alice, ca: pki.serverCa.pem })
        expect(res.status).toBe(401)
      }
      const lines = capture.ours()
      expect(lines.filter((l) => l.level === 'log')).toHaveLength(3)
      expect(lines[0]?.message).toMatch(/the server did not request a client certificate/)
      const warns = lines.filter((l) => l.level === 'warn')
      expect(warns).toHaveLength(1)
      expect(warns[0]?.message).toMatch(/requestCert: true/)
    })

    it('logger: false is silent; a function takes every line', async () => {
      const capture = new Capture()
      const seen: string[] = []
      const url = await start(
        platform,
        capture,
        true,
        ClientCertModule.forRoot({
          identity: 'cn',
          allow: { authenticated: true },
          logger: (m) => seen.push(m),
        }),
      )
      expect((await requestWithUndici(url, { path: '/open', ca: pki.serverCa.pem })).status).toBe(401)
      expect(capture.ours()).toEqual([])
      expect(seen).toEqual([
        expect.stringMatching(/^clientcert: rejected GET \/open: 401 ERR_CLIENT_CERT_MISSING/),
      ])
    })
  })
}

describe('@clientcert/nestjs options', () => {
  it('an unknown option is named with every option the module takes', async () => {
    const err = await NestFactory.create(
      rootModule(ClientCertModule.forRoot({ allow: { authenticated: true }, globalGaurd: false } as never)),
      new ExpressAdapter(express()),
      { logger: false, abortOnError: false },
    ).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(ClientCertConfigError)
    expect(err).toMatchObject({ option: 'globalGaurd' })
    const message = (err as Error).message
    for (const name of ['optional', 'globalGuard', 'logger', 'authenticator', 'allow', 'trust', 'onRejected'])
      expect(message).toContain(name)
  })

  it('a bad logger is a startup error naming it', async () => {
    const err = await NestFactory.create(
      rootModule(ClientCertModule.forRoot({ allow: { authenticated: true }, logger: { log() {} } } as never)),
      new ExpressAdapter(express()),
      { logger: false, abortOnError: false },
    ).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toMatchObject({ code: 'ERR_CLIENT_CERT_INVALID_OPTION', option: 'logger' })
  })
})
