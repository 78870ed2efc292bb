import { clientCert, requireClientCert } from '@clientcert/koa'
import { bodyParser } from '@koa/bodyparser'
import Router from '@koa/router'
import Koa, { type Middleware } from 'koa'
import { type Driver, serveNode, summarise } from '../driver.js'

/** Koa 3 with `clientCert()` mounted first and `@koa/router` routes, as the docs tell users to. */
export const koaDriver: Driver = {
  name: 'koa',
  canMisorder: true,
  async start(spec, probes, listen) {
    const app = new Koa()
    // The parser throws a 400 for bad JSON; Koa's default handler would log it to stderr.
    app.silent = true
    const json = bodyParser({ enableTypes: ['json'] })
    const parser: Middleware = (ctx, next) => {
      probes.parsed++
      return json(ctx, next)
    }
    if (spec.misordered) app.use(parser)
    app.use(
      clientCert({ ...spec.auth, optional: spec.optional ?? false, logger: (m) => probes.logged.push(m) }),
    )
    const router = new Router()
    router.get('/whoami', (ctx) => {
      probes.handled++
      ctx.body = { principal: summarise(ctx.state.clientCert), httpVersion: ctx.req.httpVersion }
    })
    router.post('/echo', parser, (ctx) => {
      probes.handled++
      ctx.body = { principal: summarise(ctx.state.clientCert), body: ctx.request.body }
    })
    const admin = requireClientCert(spec.adminPolicy ?? { ids: ['admin'] })
    router.get('/admin', admin, (ctx) => {
      probes.handled++
      ctx.body = { principal: summarise(ctx.state.clientCert) }
    })
    router.post('/admin', admin, parser, (ctx) => {
      probes.handled++
      ctx.body = { principal: summarise(ctx.state.clientCert), body: ctx.request.body }
    })
    app.use(router.routes())
    return serveNode(app.callback(), listen)
  },
}
