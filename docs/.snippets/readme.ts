// biome-ignore-all lint/correctness/noUnusedImports: a prelude declares what the docs code blocks use
// biome-ignore-all lint/style/useImportType: the blocks that use this prelude use these as values
import type { ClientPrincipal } from '@clientcert/core'
import { clientCert } from '@clientcert/express'
import { AllowClients, ClientCert, ClientCertModule, installClientCert } from '@clientcert/nestjs'
import { ClientCertStrategy } from '@clientcert/passport'
import { Controller, Get, Module } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import express from 'express'
import passport from 'passport'

declare const cert: Buffer
declare const key: Buffer
declare const clientCa: Buffer
declare const clientCaPem: string
declare const app: express.Express
declare class ApiController {}
