// Declarations the observability guide's fragments rely on.
import type { ClientCertAuthenticator } from '@clientcert/core'
import type { FastifyInstance } from 'fastify'

declare const caPem: string
declare const cert: Buffer
declare const key: Buffer
declare const clientCa: Buffer
declare const authenticator: ClientCertAuthenticator
declare const app: FastifyInstance
declare const logger: { warn(message: string): void }
