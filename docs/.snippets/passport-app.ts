// biome-ignore-all lint/correctness/noUnusedImports: a prelude declares what the docs code blocks use
// biome-ignore-all lint/style/useImportType: the blocks that use this prelude use these as values
import {
  type ClientCertError,
  ClientCertStrategy,
  getClientCertError,
  type VerifyFunction,
} from '@clientcert/passport'
import express from 'express'
import passport from 'passport'

declare const app: express.Express
declare const verify: VerifyFunction
declare const createOrder: express.RequestHandler
