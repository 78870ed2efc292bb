import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import type { ClientPrincipal } from '@clientcert/core'
import {
  AllowClients,
  ClientCert,
  ClientCertInstallation,
  ClientCertModule,
  installClientCert,
  OptionalClientCert,
} from '@clientcert/nestjs'
import {
  createTestPki,
  type IssuedCertificate,
  mtlsServerOptions,
  requestWithUndici,
  type TestPki,
} from '@clientcert/testing'
import {
  Body,
  Controller,
  Get,
  HttpCode,
  Injectable,
  type MiddlewareConsumer,
  Module,
  type NestModule,
  Param,
  type PipeTransform,
  Post,
  VERSION_NEUTRAL,
  VersioningType,
} from '@nestjs/common'
import { APP_PIPE, NestFactory, RouterModule } from '@nestjs/core'
import { ExpressAdapter } from '@nestjs/platform-express'
import express from 'express'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'

let pki: TestPki
let alice: IssuedCertificate
let bob: IssuedCertificate
beforeAll(async () => {
  pki = await createTestPki()
  ;[alice, bob] = await Promise.all([
    pki.issueClient({ subject: 'CN=alice' }),
    pki.issueClient({ subject: 'CN=bob' }),
  ])
})

/** Everything that must not run for a request refused before the body. */
const ran = { middleware: 0, piped: 0, handled: 0 }

@Injectable()
class CountingPipe implements PipeTransform {
  transform(value: unknown) {
    ran.piped++
    return value
  }
}

@Controller({ path: 'items', version: '1' })
class ItemsController {
  // Declared before ':id' so Express dispatches /items/public here.
  @Post('public')
  @HttpCode(200)
  @OptionalClientCert()
  publicItem(@Body() body: unknown) {
    ran.handled++
    return { public: true, body }
  }

  @Post(':id')
  @HttpCode(200)
  @AllowClients({ ids: ['alice'] })
  update(@Param('id') id: string, @ClientCert() p: ClientPrincipal, @Body() body: unknown) {
    ran.handled++
    return { id, by: p.id, body }
  }

  @Post('slow/:id')
  @HttpCode(200)
  @AllowClients({ predicate: async (p: ClientPrincipal) => p.id === 'alice' })
  slow(@Param('id') id: string, @Body() body: unknown) {
    ran.handled++
    return { id, body }
  }
}

@Controller({ path: 'status', version: VERSION_NEUTRAL })
class StatusController {
  @Post()
  @HttpCode(200)
  @AllowClients({ ids: ['alice'] })
  post(@Body() body: unknown) {
    ran.handled++
    return { body }
  }

  @Get()
  open() {
    ran.handled++
    return { ok: true }
  }
}

@Controller('users')
class UsersController {
  @Post(':id')
  @HttpCode(200)
  @AllowClients({ ids: ['alice'] })
  update(@Param('id') id: string, @Body() body: unknown) {
    ran.handled++
    return { id, body }
  }
}

@Module({ controllers: [UsersController] })
class AdminModule {}

@Module({
  imports: [
    ClientCertModule.forRoot({ identity: 'cn', allow: { authenticated: true }, optional: true }),
    AdminModule,
    RouterModule.register([{ path: 'admin', module: AdminModule }]),
  ],
  controllers: [ItemsController, StatusController],
  providers: [{ provide: APP_PIPE, useClass: CountingPipe }],
})
class TableModule implements NestModule {
  configure(consumer: MiddlewareConsumer) {
    consumer
      .apply((_req: unknown, _res: unknown, next: () => void) => {
        ran.middleware++
        next()
      })
      .forRoutes('*path')
  }
}

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close()
})

/** Nest on Express with its default body parser, a global prefix and URI versioning. */
async function start(opts: { withoutTable?: boolean } = {}): Promise<string> {
  const instance = express()
  const app = await NestFactory.create(TableModule, new ExpressAdapter(instance), { logger: false })
  await installClientCert(app)
  if (opts.withoutTable) app.get(ClientCertInstallation).onBootstrap = undefined
  app.setGlobalPrefix('api')
  app.enableVersioning({ type: VersioningType.URI })
  await app.init()
  const server = https.createServer(mtlsServerOptions({ pki, rejectUnauthorized: false }), instance)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  closers.push(async () => {
    server.closeAllConnections()
    server.close()
    await app.close()
  })
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`
}

function post(url: string, path: string, client: IssuedCertificate | null, body = '{"a":') {
  return requestWithUndici(url, {
    path,
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json' },
    client,
    ca: pki.serverCa.pem,
  })
}

function counted<T>(run: () => Promise<T>): Promise<{ result: T; ran: typeof ran }> {
  const before = { ...ran }
  return run().then((result) => ({
    result,
    ran: {
      middleware: ran.middleware - before.middleware,
      piped: ran.piped - before.piped,
      handled: ran.handled - before.handled,
    },
  }))
}

const nothing = { middleware: 0, piped: 0, handled: 0 }

describe('Nest on Express: route rules before the body parser', () => {
  it('a forbidden client with a malformed body on /api/v1/items/:id gets 403, not 400; nothing after the stage runs', async () => {
    const url = await start()
    const { result, ran: after } = await counted(() => post(url, '/api/v1/items/42', bob))
    expect(result.status).toBe(403)
    expect(result.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_NOT_ALLOWED' })
    expect(after).toEqual(nothing)
    const ok = await post(url, '/api/v1/items/42', alice, '{"n":1}')
    expect(ok.status).toBe(200)
    expect(ok.json()).toEqual({ id: '42', by: 'alice', body: { n: 1 } })
  })

  it('a request without a certificate to a route that needs one gets 401 before the parser (module optional: true)', async () => {
    const url = await start()
    const { result, ran: after } = await counted(() => post(url, '/api/v1/items/42', null))
    expect(result.status).toBe(401)
    expect(result.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_MISSING' })
    expect(after).toEqual(nothing)
  })

  it('matches case-insensitively, with a trailing slash and encoded characters, as Express does', async () => {
    const url = await start()
    for (const path of ['/API/V1/ITEMS/42', '/api/v1/items/42/', '/api/v1/items/%34%32?x=1']) {
      const { result, ran: after } = await counted(() => post(url, path, bob))
      expect([path, result.status]).toEqual([path, 403])
      expect(after).toEqual(nothing)
    }
  })

  it('a version-neutral controller under the global prefix', async () => {
    const url = await start()
    const { result, ran: after } = await counted(() => post(url, '/api/status', bob))
    expect(result.status).toBe(403)
    expect(after).toEqual(nothing)
    expect((await post(url, '/api/status', alice, '{}')).status).toBe(200)
  })

  it('a RouterModule path is part of the route: /api/admin/users/:id', async () => {
    const url = await start()
    const { result, ran: after } = await counted(() => post(url, '/api/admin/users/7', bob))
    expect(result.status).toBe(403)
    expect(after).toEqual(nothing)
    expect((await post(url, '/api/admin/users/7', alice, '{"n":3}')).json()).toEqual({
      id: '7',
      body: { n: 3 },
    })
  })

  it('a path two routes can serve is refused early only if both refuse: /items/public stays open', async () => {
    const url = await start()
    const res = await post(url, '/api/v1/items/public', null, '{"n":2}')
    expect(res.status).toBe(200)
    expect(res.json()).toEqual({ public: true, body: { n: 2 } })
  })

  it('unrouted paths and the wrong prefix or version are left to Nest (404), not refused', async () => {
    const url = await start()
    expect((await post(url, '/v1/items/42', bob, '{}')).status).toBe(404)
    expect((await post(url, '/api/v2/items/42', bob, '{}')).status).toBe(404)
  })

  it('an asynchronous policy is left to the guard, which still refuses (after the parser)', async () => {
    const url = await start()
    const { result, ran: after } = await counted(() => post(url, '/api/v1/items/slow/1', bob, '{}'))
    expect(result.status).toBe(403)
    expect(after.handled).toBe(0)
    expect(after.middleware).toBe(1)
    expect((await post(url, '/api/v1/items/slow/1', alice, '{}')).status).toBe(200)
  })

  it('without the table, every route is still enforced by the guard', async () => {
    const url = await start({ withoutTable: true })
    const denied = await post(url, '/api/v1/items/42', bob, '{}')
    expect(denied.status).toBe(403)
    expect(denied.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_NOT_ALLOWED' })
    // The guard runs after Nest's parser: the malformed body is what the table exists to spare.
    expect((await post(url, '/api/v1/items/42', bob)).status).toBe(400)
    expect((await post(url, '/api/v1/items/42', null, '{}')).status).toBe(401)
  })
})
