// A NestJS app on the Express platform that installs @clientcert/nestjs and @clientcert/express
// only: no Fastify in node_modules (the platform adapters are optional peers), and
// `req.clientCert` typed without importing @clientcert/express.
import 'reflect-metadata'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { AllowClients, ClientCertModule, installClientCert } from '@clientcert/nestjs'
import { Controller, Get, Module, Req } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import type { NestExpressApplication } from '@nestjs/platform-express'
import type { Request } from 'express'

@Controller()
class WhoamiController {
  @Get('whoami')
  @AllowClients({ ids: ['alice'] })
  whoami(@Req() req: Request) {
    return { id: req.clientCert?.id }
  }
}

@Module({
  imports: [
    ClientCertModule.forRoot<Request>({
      identity: 'cn',
      allow: { ids: ['alice', 'bob'] },
      // Typed hook context: the Express request, no cast.
      onRejected: (error, { request }) => void `${error.code} ${request.originalUrl}`,
    }),
  ],
  controllers: [WhoamiController],
})
class AppModule {}

async function main(): Promise<void> {
  for (const name of ['fastify', '@clientcert/fastify']) {
    const found = await import(name).then(
      () => true,
      () => false,
    )
    if (found) throw new Error(`${name} is installed, but only the Express platform is used`)
  }
  const certs = process.env.CERTS as string
  const https = {
    cert: readFileSync(`${certs}/server.pem`),
    key: readFileSync(`${certs}/server-key.pem`),
    ca: readFileSync(`${certs}/root.pem`),
    requestCert: true,
    rejectUnauthorized: false,
  }
  const app = await NestFactory.create<NestExpressApplication>(AppModule, {
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
