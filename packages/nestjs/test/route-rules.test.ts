import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import type { ClientPrincipal } from '@clientcert/core'
import {
  AllowClients,
  ClientCert,
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
import { Controller, Get, type INestApplication, Module } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { ExpressAdapter } from '@nestjs/platform-express'
import { FastifyAdapter } from '@nestjs/platform-fastify'
import express from 'express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

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

const onlyAlice = { ids: ['alice'] }
const reply = (p: ClientPrincipal | undefined) => ({ id: p?.id ?? null })

// Finding 6: the closest decorator wins. A method-level @AllowClients requires a client unless
// the method itself is @OptionalClientCert, whatever the controller says.
@Controller('opt-class')
@OptionalClientCert()
class OptionalClassController {
  @Get('method-policy')
  @AllowClients(onlyAlice)
  methodPolicy(@ClientCert() p?: ClientPrincipal) {
    return reply(p)
  }

  @Get('method-policy-optional')
  @OptionalClientCert()
  @AllowClients(onlyAlice)
  methodPolicyOptional(@ClientCert() p?: ClientPrincipal) {
    return reply(p)
  }

  @Get('plain')
  plain(@ClientCert() p?: ClientPrincipal) {
    return reply(p)
  }
}

@Controller('policy-class')
@AllowClients(onlyAlice)
class PolicyClassController {
  @Get('method-optional')
  @OptionalClientCert()
  methodOptional(@ClientCert() p?: ClientPrincipal) {
    return reply(p)
  }

  @Get('plain')
  plain(@ClientCert() p?: ClientPrincipal) {
    return reply(p)
  }
}

@Controller('both-class')
@OptionalClientCert()
@AllowClients(onlyAlice)
class BothClassController {
  @Get('plain')
  plain(@ClientCert() p?: ClientPrincipal) {
    return reply(p)
  }

  @Get('method-policy')
  @AllowClients({ authenticated: true })
  methodPolicy(@ClientCert() p?: ClientPrincipal) {
    return reply(p)
  }
}

@Controller('bare-class')
class BareClassController {
  @Get('method-optional')
  @OptionalClientCert()
  methodOptional(@ClientCert() p?: ClientPrincipal) {
    return reply(p)
  }

  @Get('method-policy')
  @AllowClients(onlyAlice)
  methodPolicy(@ClientCert() p?: ClientPrincipal) {
    return reply(p)
  }
}

@Module({
  imports: [ClientCertModule.forRoot({ identity: 'cn', allow: { authenticated: true }, optional: true })],
  controllers: [OptionalClassController, PolicyClassController, BothClassController, BareClassController],
})
class RulesModule {}

/** path → expected status for [no certificate, alice, bob]. */
const table: ReadonlyArray<readonly [string, readonly [number, number, number]]> = [
  ['/opt-class/method-policy', [401, 200, 403]],
  ['/opt-class/method-policy-optional', [200, 200, 403]],
  ['/opt-class/plain', [200, 200, 200]],
  ['/policy-class/method-optional', [200, 200, 403]],
  ['/policy-class/plain', [401, 200, 403]],
  ['/both-class/plain', [200, 200, 403]],
  ['/both-class/method-policy', [401, 200, 403]],
  ['/bare-class/method-optional', [200, 200, 200]],
  ['/bare-class/method-policy', [401, 200, 403]],
]

type Platform = 'express' | 'fastify'

async function startRules(platform: Platform): Promise<{ url: string; close(): Promise<void> }> {
  const tls = mtlsServerOptions({ pki, rejectUnauthorized: false })
  if (platform === 'express') {
    const instance = express()
    const app = await NestFactory.create(RulesModule, new ExpressAdapter(instance), { logger: false })
    await installClientCert(app)
    await app.init()
    const server = https.createServer(tls, instance)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return {
      url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: async () => {
        server.closeAllConnections()
        server.close()
        await app.close()
      },
    }
  }
  const app = await NestFactory.create<INestApplication>(
    RulesModule,
    new FastifyAdapter({ https: tls } as never),
    { logger: false },
  )
  await installClientCert(app)
  await app.listen(0, '127.0.0.1')
  return {
    url: `https://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`,
    close: () => app.close(),
  }
}

for (const platform of ['express', 'fastify'] as const) {
  describe(`controller/method rule combinations on ${platform}`, () => {
    let server: { url: string; close(): Promise<void> }
    beforeAll(async () => {
      server = await startRules(platform)
    })
    afterAll(() => server.close())

    it.each(table)('%s → [anonymous, alice, bob] = %j', async (path, expected) => {
      const statuses: number[] = []
      for (const client of [null, alice, bob]) {
        const res = await requestWithUndici(server.url, { path, client, ca: pki.serverCa.pem })
        statuses.push(res.status)
        if (res.status === 200)
          expect(res.json()).toEqual({ id: client === null ? null : client === alice ? 'alice' : 'bob' })
      }
      expect(statuses).toEqual(expected)
    })
  })
}
