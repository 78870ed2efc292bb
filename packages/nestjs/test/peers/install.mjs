// A Nest app on PLATFORM (express | fastify) that calls installClientCert() and prints the outcome.
import 'reflect-metadata'
import { ClientCertModule, installClientCert } from '@clientcert/nestjs'
import { Module } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { ExpressAdapter } from '@nestjs/platform-express'
import { FastifyAdapter } from '@nestjs/platform-fastify'

class Root {}
Module({ imports: [ClientCertModule.forRoot({ allow: { authenticated: true } })] })(Root)
const adapter = process.env.PLATFORM === 'fastify' ? new FastifyAdapter() : new ExpressAdapter()
const app = await NestFactory.create(Root, adapter, { logger: false })
try {
  await installClientCert(app)
  console.log(JSON.stringify({ installed: true }))
} catch (e) {
  console.log(JSON.stringify({ name: e.name, code: e.code, option: e.option, message: e.message }))
}
await app.close()
