import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import { ClientCertConfigError, type ClientPrincipal } from '@clientcert/core'
import {
  AllowClients,
  ClientCert,
  ClientCertGuard,
  ClientCertModule,
  type ClientCertModuleOptions,
  type ClientCertOptionsFactory,
  installClientCert,
  OptionalClientCert,
} from '@clientcert/nestjs'
import {
  createTestPki,
  mtlsServerOptions,
  requestWithUndici,
  slowBodyRequest,
  type TestPki,
} from '@clientcert/testing'
import {
  Body,
  Controller,
  type DynamicModule,
  type ExecutionContext,
  Get,
  HttpCode,
  type INestApplication,
  Injectable,
  Module,
  type PipeTransform,
  Post,
} from '@nestjs/common'
import { APP_PIPE, NestFactory } from '@nestjs/core'
import { ExpressAdapter } from '@nestjs/platform-express'
import { FastifyAdapter } from '@nestjs/platform-fastify'
import express from 'express'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'

let pki: TestPki
beforeAll(async () => {
  pki = await createTestPki()
})

const counters = { piped: 0, handled: 0 }

@Injectable()
class CountingPipe implements PipeTransform {
  transform(value: unknown) {
    counters.piped++
    return value
  }
}

@Controller()
@AllowClients({ dnsSuffix: 'example.com' })
class ApiController {
  @Post('echo')
  @HttpCode(200)
  echo(@ClientCert() p: ClientPrincipal | undefined, @Body() body: unknown) {
    counters.handled++
    return { id: p?.id, body }
  }

  @Get('ops')
  @AllowClients({ ids: ['ops.example.com'] })
  ops(@ClientCert() p: ClientPrincipal | undefined) {
    counters.handled++
    return { id: p?.id }
  }
}

@Controller('public')
@OptionalClientCert()
class PublicController {
  @Get()
  hello(@ClientCert() p: ClientPrincipal | undefined) {
    return { id: p?.id ?? null }
  }
}

const auth: ClientCertModuleOptions = { identity: 'cn', allow: { authenticated: true }, optional: true }

function rootModule(clientCert: DynamicModule) {
  @Module({
    imports: [clientCert],
    controllers: [ApiController, PublicController],
    providers: [{ provide: APP_PIPE, useClass: CountingPipe }],
  })
  class Root {}
  return Root
}

type Platform = 'express' | 'fastify'
const apps: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close()
})

async function start(
  platform: Platform,
  clientCert: DynamicModule = ClientCertModule.forRoot(auth),
): Promise<string> {
  const tls = mtlsServerOptions({ pki, rejectUnauthorized: false })
  if (platform === 'express') {
    const instance = express()
    const app = await NestFactory.create(rootModule(clientCert), new ExpressAdapter(instance), {
      logger: false,
    })
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
    rootModule(clientCert),
    new FastifyAdapter({ https: tls } as never),
    { logger: false },
  )
  await installClientCert(app)
  await app.listen(0, '127.0.0.1')
  apps.push(app)
  return `https://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`
}

for (const platform of ['express', 'fastify'] as const) {
  describe(`@clientcert/nestjs on ${platform}`, () => {
    it('unauthenticated invalid JSON and a slow body get 401 before parser, pipes and handler run', async () => {
      const url = await start(platform, ClientCertModule.forRoot({ ...auth, optional: false }))
      const before = { ...counters }
      const bad = await requestWithUndici(url, {
        path: '/echo',
        method: 'POST',
        body: '{"a":',
        headers: { 'content-type': 'application/json' },
        ca: pki.serverCa.pem,
      })
      expect(bad.status).toBe(401)
      expect(bad.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_MISSING', status: 401 })
      const slow = await slowBodyRequest(url, {
        path: '/echo',
        ca: pki.serverCa.pem,
        headers: { 'content-type': 'application/json' },
      })
      expect(slow.status).toBe(401)
      expect(counters).toEqual(before)
    })

    it("a decorated route's policy rejects a valid but not-allowed client with 403; allowed clients pass", async () => {
      const url = await start(platform)
      const [api, ops] = await Promise.all([
        pki.issueClient({ subject: 'CN=api.example.com' }),
        pki.issueClient({ subject: 'CN=ops.example.com' }),
      ])
      const denied = await requestWithUndici(url, { path: '/ops', client: api, ca: pki.serverCa.pem })
      expect(denied.status).toBe(403)
      expect(denied.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_NOT_ALLOWED' })
      expect(String(denied.headers['content-type'])).toMatch(/^application\/problem\+json/)
      const allowed = await requestWithUndici(url, { path: '/ops', client: ops, ca: pki.serverCa.pem })
      expect(allowed.json()).toEqual({ id: 'ops.example.com' })
      const echo = await requestWithUndici(url, {
        path: '/echo',
        method: 'POST',
        body: '{"n":1}',
        headers: { 'content-type': 'application/json' },
        client: api,
        ca: pki.serverCa.pem,
      })
      expect(echo.json()).toEqual({ id: 'api.example.com', body: { n: 1 } })
    })

    it('a controller policy applies to its routes (class-level @AllowClients)', async () => {
      const url = await start(platform)
      const outsider = await pki.issueClient({ subject: 'CN=intruder.evil.test' })
      const res = await requestWithUndici(url, {
        path: '/echo',
        method: 'POST',
        body: '{}',
        headers: { 'content-type': 'application/json' },
        client: outsider,
        ca: pki.serverCa.pem,
      })
      expect(res.status).toBe(403)
    })

    it('@OptionalClientCert routes admit anonymous requests; others in the same app do not', async () => {
      const url = await start(platform)
      const anon = await requestWithUndici(url, { path: '/public', ca: pki.serverCa.pem })
      expect(anon.json()).toEqual({ id: null })
      const guarded = await requestWithUndici(url, { path: '/ops', ca: pki.serverCa.pem })
      expect(guarded.status).toBe(401)
    })

    it('refuses to bootstrap without installClientCert()', async () => {
      const app = await NestFactory.create(
        rootModule(ClientCertModule.forRoot(auth)),
        platform === 'express' ? new ExpressAdapter(express()) : new FastifyAdapter(),
        { logger: false, abortOnError: false },
      )
      const err = await app.init().then(
        () => undefined,
        (e: unknown) => e,
      )
      await app.close()
      expect(err).toBeInstanceOf(ClientCertConfigError)
      expect(err).toMatchObject({ code: 'ERR_CLIENT_CERT_INVALID_OPTION', option: 'installClientCert' })
    })
  })
}

describe('@clientcert/nestjs configuration', () => {
  it('a bad option is a startup error with a code', async () => {
    const err = await NestFactory.create(
      rootModule(
        ClientCertModule.forRoot({ allow: { authenticated: true }, identity: 'common-name' } as never),
      ),
      new ExpressAdapter(express()),
      { logger: false, abortOnError: false },
    ).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(ClientCertConfigError)
    expect(err).toMatchObject({ code: 'ERR_CLIENT_CERT_INVALID_OPTION', option: 'identity' })
  })

  it('installClientCert() after init() is refused', async () => {
    const app = await NestFactory.create(
      rootModule(ClientCertModule.forRoot({ ...auth, globalGuard: false })),
      new ExpressAdapter(express()),
      { logger: false, abortOnError: false },
    )
    await installClientCert(app)
    await app.init()
    await expect(installClientCert(app)).rejects.toMatchObject({
      code: 'ERR_CLIENT_CERT_INVALID_OPTION',
      option: 'installClientCert',
    })
    await app.close()
  })

  it('@AllowClients with an invalid policy throws when the class is defined', () => {
    expect(() => AllowClients({ ids: ['a'], groups: ['b'] } as never)).toThrow(ClientCertConfigError)
  })

  it('forRootAsync with useFactory, useClass and useExisting', async () => {
    @Injectable()
    class OptionsFactory implements ClientCertOptionsFactory {
      createClientCertOptions() {
        return auth
      }
    }
    @Module({ providers: [OptionsFactory], exports: [OptionsFactory] })
    class OptionsModule {}
    const variants: DynamicModule[] = [
      ClientCertModule.forRootAsync({ useFactory: async () => auth }),
      ClientCertModule.forRootAsync({ useClass: OptionsFactory }),
      ClientCertModule.forRootAsync({ imports: [OptionsModule], useExisting: OptionsFactory }),
    ]
    const client = await pki.issueClient({ subject: 'CN=ops.example.com' })
    for (const variant of variants) {
      const url = await start('express', variant)
      const res = await requestWithUndici(url, { path: '/ops', client, ca: pki.serverCa.pem })
      expect(res.status).toBe(200)
    }
    expect(() => ClientCertModule.forRootAsync({})).toThrow(ClientCertConfigError)
  })

  it('the guard fails closed when the pre-parse stage did not run for a request', async () => {
    const guard = new ClientCertGuard({ optional: true })
    const context = {
      getType: () => 'http',
      switchToHttp: () => ({ getRequest: () => ({ headers: {} }) }),
      getHandler: () => ApiController.prototype.ops,
      getClass: () => ApiController,
    } as unknown as ExecutionContext
    await expect(guard.canActivate(context)).rejects.toMatchObject({
      status: 500,
      error: { code: 'ERR_CLIENT_CERT_MISCONFIGURED' },
    })
  })
})
