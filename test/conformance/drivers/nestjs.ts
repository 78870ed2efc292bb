import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import type { ClientPrincipal } from '@clientcert/core'
import { AllowClients, ClientCert, ClientCertModule, installClientCert } from '@clientcert/nestjs'
import {
  type ArgumentMetadata,
  Body,
  Controller,
  Get,
  HttpCode,
  type INestApplication,
  Injectable,
  type MiddlewareConsumer,
  Module,
  type NestModule,
  type PipeTransform,
  Post,
  Req,
} from '@nestjs/common'
import { APP_PIPE, NestFactory } from '@nestjs/core'
import { ExpressAdapter } from '@nestjs/platform-express'
import { FastifyAdapter } from '@nestjs/platform-fastify'
import express from 'express'
import Fastify from 'fastify'
import { type AppSpec, type Driver, type ListenOptions, type Probes, summarise, urlOf } from '../driver.js'

/**
 * NestJS on Express and on Fastify, with ClientCertModule, installClientCert() before
 * listen(), the global ClientCertGuard and decorators. Nest's own body parsing is
 * instrumented: on Express its JSON parser is wrapped; on Fastify the JSON content-type
 * parser is wrapped. A global pipe on `@Body()` and (on Express, where module middleware runs
 * after the pre-parse stage) a module middleware seeing a JSON request count as parser runs too:
 * a rejected request with a body must reach none of them.
 */
function build(spec: AppSpec, probes: Probes, platform: 'express' | 'fastify'): { Root: new () => unknown } {
  @Injectable()
  class CountingPipe implements PipeTransform {
    transform(value: unknown, metadata: ArgumentMetadata) {
      if (metadata.type === 'body') probes.parsed++
      return value
    }
  }

  @Controller()
  class RoutesController {
    @Get('whoami')
    whoami(
      @ClientCert() principal: ClientPrincipal | undefined,
      @Req() req: { httpVersion?: string; raw?: { httpVersion?: string } },
    ) {
      probes.handled++
      return { principal: summarise(principal), httpVersion: req.raw?.httpVersion ?? req.httpVersion }
    }

    @Post('echo')
    @HttpCode(200)
    echo(@ClientCert() principal: ClientPrincipal | undefined, @Body() body: unknown) {
      probes.handled++
      return { principal: summarise(principal), body }
    }

    @Get('admin')
    @AllowClients(spec.adminPolicy ?? { ids: ['admin'] })
    admin(@ClientCert() principal: ClientPrincipal | undefined) {
      probes.handled++
      return { principal: summarise(principal) }
    }

    @Post('admin')
    @HttpCode(200)
    @AllowClients(spec.adminPolicy ?? { ids: ['admin'] })
    adminPost(@ClientCert() principal: ClientPrincipal | undefined, @Body() body: unknown) {
      probes.handled++
      return { principal: summarise(principal), body }
    }
  }

  @Module({
    imports: [ClientCertModule.forRoot({ ...spec.auth, optional: spec.optional ?? false })],
    controllers: [RoutesController],
    providers: [{ provide: APP_PIPE, useClass: CountingPipe }],
  })
  class Root implements NestModule {
    configure(consumer: MiddlewareConsumer) {
      if (platform === 'express')
        consumer
          .apply((req: express.Request, _res: unknown, next: () => void) => {
            if (req.headers['content-type']?.startsWith('application/json')) probes.parsed++
            next()
          })
          .forRoutes('*path')
    }
  }
  return { Root }
}

async function startExpress(spec: AppSpec, probes: Probes, listen: ListenOptions) {
  const { Root } = build(spec, probes, 'express')
  const instance = express()
  const app = await NestFactory.create(Root, new ExpressAdapter(instance), {
    logger: false,
    bodyParser: false,
  })
  await installClientCert(app)
  // Nest's parser, instrumented, after the pre-parse stage (what bodyParser: true would add).
  const json = express.json()
  app.use((req: express.Request, res: express.Response, next: express.NextFunction) => {
    if (req.headers['content-type']?.startsWith('application/json')) probes.parsed++
    json(req, res, next)
  })
  await app.init()
  const server = listen.tls
    ? https.createServer(listen.tls, instance)
    : (await import('node:http')).createServer(instance)
  await new Promise<void>((resolve) =>
    listen.path ? server.listen(listen.path, resolve) : server.listen(0, listen.host, resolve),
  )
  return {
    url: listen.path ? `unix:${listen.path}` : urlOf(server.address() as AddressInfo, listen),
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await app.close()
    },
  }
}

async function startFastify(spec: AppSpec, probes: Probes, listen: ListenOptions, http2: boolean) {
  const { Root } = build(spec, probes, 'fastify')
  const tls = listen.tls
  const instance = (
    tls && http2
      ? Fastify({ http2: true, https: { ...tls, allowHTTP1: true } })
      : tls
        ? Fastify({ https: tls })
        : Fastify()
  ) as never
  const app = await NestFactory.create<INestApplication>(Root, new FastifyAdapter(instance), {
    logger: false,
  })
  await installClientCert(app)
  await app.init()
  const fastify = app.getHttpAdapter().getInstance() as import('fastify').FastifyInstance
  const parseJson = fastify.getDefaultJsonParser('error', 'error')
  fastify.removeContentTypeParser('application/json')
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    probes.parsed++
    parseJson(req, body as string, done)
  })
  if (listen.path) await fastify.listen({ path: listen.path })
  else await fastify.listen({ port: 0, host: listen.host })
  return {
    url: listen.path ? `unix:${listen.path}` : urlOf(fastify.server.address() as AddressInfo, listen),
    close: async () => {
      ;(fastify.server as { closeAllConnections?: () => void }).closeAllConnections?.()
      await app.close()
    },
  }
}

export const nestExpressDriver: Driver = { name: 'nestjs-express', canMisorder: false, start: startExpress }
export const nestFastifyDriver: Driver = {
  name: 'nestjs-fastify',
  canMisorder: false,
  http2: true,
  start: (spec, probes, listen) => startFastify(spec, probes, listen, true),
}
