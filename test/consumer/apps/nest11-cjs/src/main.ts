// A NestJS app on the platform named by PLATFORM (express | fastify), as users write it.
import 'reflect-metadata'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import type { ClientPrincipal } from '@clientcert/core'
import { AllowClients, ClientCert, ClientCertModule, installClientCert } from '@clientcert/nestjs'
import { Controller, Get, Module } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import type { NestExpressApplication } from '@nestjs/platform-express'
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify'

@Controller()
class WhoamiController {
  @Get('whoami')
  @AllowClients({ ids: ['alice'] })
  whoami(@ClientCert() client: ClientPrincipal) {
    return { id: client.id }
  }
}

@Module({
  imports: [ClientCertModule.forRoot({ identity: 'cn', allow: { ids: ['alice', 'bob'] } })],
  controllers: [WhoamiController],
})
class AppModule {}

async function main(): Promise<void> {
  const certs = process.env.CERTS as string
  const https = {
    cert: readFileSync(`${certs}/server.pem`),
    key: readFileSync(`${certs}/server-key.pem`),
    ca: readFileSync(`${certs}/root.pem`),
    requestCert: true,
    rejectUnauthorized: false,
  }
  const app =
    process.env.PLATFORM === 'fastify'
      ? await NestFactory.create<NestFastifyApplication>(AppModule, new FastifyAdapter({ https }), {
          logger: ['error', 'warn'],
        })
      : await NestFactory.create<NestExpressApplication>(AppModule, {
          httpsOptions: https,
          logger: ['error', 'warn'],
        })
  await installClientCert(app)
  await app.listen(0, '127.0.0.1')
  console.log(`LISTENING ${(app.getHttpServer().address() as AddressInfo).port}`)
}
main().catch((err) => {
  console.error(err)
  process.exit(1)
})
