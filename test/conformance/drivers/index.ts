import type { Driver } from '../driver.js'
import { expressDriver } from './express.js'
import { expressFrontDriver } from './express-front.js'
import { fastifyDriver, fastifyHttp2Driver } from './fastify.js'
import { honoDriver, honoHttp2Driver } from './hono.js'
import { koaDriver } from './koa.js'
import { nestExpressDriver, nestFastifyDriver } from './nestjs.js'
import { nodeHttpDriver } from './node-http.js'
import { passportDriver } from './passport.js'
import { upgradeDriver } from './upgrade.js'

/** Every adapter the conformance matrix runs against. */
export const drivers: readonly Driver[] = [
  expressDriver,
  expressFrontDriver,
  fastifyDriver,
  fastifyHttp2Driver,
  nestExpressDriver,
  nestFastifyDriver,
  passportDriver,
  nodeHttpDriver,
  upgradeDriver,
  koaDriver,
  honoDriver,
  honoHttp2Driver,
]
