// One benchmark server process. Usage (spawned by run.mjs, pinned with taskset):
//   node bench/server.mjs <pki.json> <framework: express|fastify|koa|hono|grpc> <variant> <mode: tls|forwarded>
// variant: bare | clientcert | clientcert-otel | passport-client-cert | client-certificate-auth,
// Express also clientcert-front (withClientCert(app) in front of the app; `clientcert` is the
// middleware), the references empty-middleware | minimal-auth (see docs/benchmarks.md) and the
// diagnostics loaded-idle (clientcert loaded, bare Express serving), front-settled-mark and
// front-settled-nowrite (withClientCert's settled path with fewer writes), front-noop (a listener
// that only calls the app), front-lean (a hand-written keep-alive check in front of the app) and its
// pieces front-lookup, front-clock, front-screen; Koa also the kit-* pieces and
// the reference minimal-auth and the diagnostics loaded-idle, judged-once, judged-before,
// judged-once-sym, ballast, touch-<N>, front-admit, front-admit-state, premark-kit-admit and
// lean-admit (docs/benchmarks.md, "Koa: what is left after the short path").
// BENCH_HEAP_REPORT=1 makes each server print its new-space size and heap use to stderr when it
// stops.
// framework grpc: a @grpc/grpc-js server with one unary JSON method, variant bare | clientcert |
// empty-interceptor (reference) | diagnostics listener-noop, listener-view, listener-admit.
// Listens on 127.0.0.1:0 and prints `READY <port>`; exits on SIGTERM or stdin close.
import { readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import { createRequire } from 'node:module'
import { CLIENT_CN, PROXY_IP } from './lib/pki.mjs'
import { expressProbes } from './lib/probes.mjs'

const require = createRequire(import.meta.url)
const [pkiFile, framework, variant, mode] = process.argv.slice(2)
const m = JSON.parse(readFileSync(pkiFile, 'utf8'))
const tlsOptions = {
  cert: m.serverCert,
  key: m.serverKey,
  ca: m.clientRootPem,
  requestCert: true,
  rejectUnauthorized: true,
}
// Policy on: the client must be named (identity = CN).
const clientcertOptions =
  mode === 'tls'
    ? { identity: 'cn', allow: { ids: [CLIENT_CN] } }
    : {
        identity: 'cn',
        allow: { ids: [CLIENT_CN] },
        source: { forwarded: { format: 'rfc9440', trustedProxies: [PROXY_IP] } },
        trust: { anchors: m.clientRootPem },
      }
const BODY = '{"ok":true}'

/**
 * `@clientcert/otel` on the real SDK: every judgement becomes a span (batched, then dropped by
 * a discarding exporter, so the cost measured is the subscriber's and the SDK's, not a
 * network's) and is counted in the metrics (collected only on demand).
 */
async function instrument() {
  const otelRequire = createRequire(new URL('../packages/otel/package.json', import.meta.url))
  const { BasicTracerProvider, BatchSpanProcessor } = otelRequire('@opentelemetry/sdk-trace-base')
  const { MeterProvider } = otelRequire('@opentelemetry/sdk-metrics')
  const { instrumentClientCert } = await import(
    new URL('../packages/otel/dist/index.js', import.meta.url).href
  )
  const discard = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} }
  instrumentClientCert({
    tracerProvider: new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(discard)] }),
    meterProvider: new MeterProvider(),
  })
}

async function expressServer() {
  const express = require('express')
  const app = express()
  app.disable('x-powered-by')
  app.disable('etag')
  if (variant === 'clientcert') {
    const { clientCert } = await import('@clientcert/express')
    app.use(clientCert(clientcertOptions))
  } else if (variant === 'clientcert-otel') {
    await instrument()
    const { clientCert } = await import('@clientcert/express')
    app.use(clientCert(clientcertOptions))
  } else if (variant === 'passport-client-cert') {
    const passport = require('passport')
    const { Strategy } = require('passport-client-cert')
    passport.use(
      new Strategy((cert, done) =>
        done(null, cert.subject?.CN === CLIENT_CN ? { id: cert.subject.CN } : false),
      ),
    )
    app.use(passport.initialize())
    app.use(passport.authenticate('client-cert', { session: false }))
  } else if (variant === 'client-certificate-auth') {
    const clientCertificateAuth = require('client-certificate-auth')
    app.use(clientCertificateAuth((cert) => cert.subject?.CN === CLIENT_CN))
  } else if (variant === 'empty-middleware') {
    // Reference: what any Express middleware costs, before it does anything.
    app.use((_req, _res, next) => next())
  } else if (variant === 'minimal-auth') {
    // Reference, not a product: the least any per-request authentication middleware does on a
    // connection it already judged - look the connection up (and, behind a proxy, compare the
    // forwarded header with the last one), check the time, set req.clientCert and a mark.
    // No library code, no forwarded-header screening, no validation.
    const known = new WeakMap()
    const MARK = Symbol('authenticated')
    const principal = Object.freeze({ id: CLIENT_CN })
    const until = Date.now() + 3_600_000
    app.use((req, res, next) => {
      const header = mode === 'forwarded' ? req.headers['client-cert'] : ''
      let entry = known.get(req.socket)
      if (entry === undefined || entry.header !== header) {
        entry = { header, principal }
        known.set(req.socket, entry)
      }
      if (Date.now() > until) {
        res.statusCode = 401
        res.end()
        return
      }
      req[MARK] = entry
      req.clientCert = entry.principal
      next()
    })
  } else if (variant in expressProbes) {
    app.use(expressProbes[variant])
  } else if (
    ![
      'bare',
      'clientcert-front',
      'loaded-idle',
      'front-noop',
      'front-lean',
      'front-lookup',
      'front-clock',
      'front-screen',
      'front-settled-nowrite',
      'front-settled-mark',
    ].includes(variant)
  )
    throw new Error(`unknown variant ${variant}`)
  app.get('/', (_req, res) => {
    res.type('application/json').send(BODY)
  })
  let handler = app
  if (variant === 'clientcert-front') {
    // withClientCert(app): the authentication stage as the server's request listener.
    const { withClientCert } = await import('@clientcert/express')
    handler = withClientCert(app, clientcertOptions)
  } else if (variant === 'front-settled-nowrite' || variant === 'front-settled-mark') {
    // Diagnostics (issue 19): withClientCert's settled keep-alive path without the own
    // `clientCert` property (front-settled-mark: the mark only) or without any write on the
    // request (front-settled-nowrite); a connection's first request goes through withClientCert.
    const { withClientCert } = await import('@clientcert/express')
    const core = await import('@clientcert/core')
    const authenticator = core.createClientCertAuthenticator(clientcertOptions)
    const full = withClientCert(app, { authenticator })
    const settledOf = authenticator[Symbol.for('clientcert.settled')].bind(authenticator)
    const markIt = variant === 'front-settled-mark'
    handler = (req, res) => {
      const settled = settledOf(req)
      if (settled === undefined) return full(req, res)
      if (markIt) core.markAuthenticated(req, settled.mark)
      app(req, res)
    }
  } else if (variant === 'front-lean') {
    // Diagnostic (issue 19): the least a keep-alive check in front of the app can do, written by
    // hand in one small function: a connection's first request goes through withClientCert,
    // later ones take a WeakMap lookup of the socket, a clock check, a screen of the header
    // names by their first letter, a symbol mark and req.clientCert. No library frame on the path.
    const { withClientCert } = await import('@clientcert/express')
    const core = await import('@clientcert/core')
    const known = new WeakMap()
    const MARK = Symbol('mark')
    const full = withClientCert((req, res) => {
      const mark = core.authenticationOf(req)
      if (mark?.principal) known.set(req.socket, { until: Date.now() + 3_600_000, mark })
      app(req, res)
    }, clientcertOptions)
    // Forwarded-certificate headers start x-…, forwarded, client-cert, ssl-…, cf-… (not co…).
    const screened = (name) => {
      const a = name.charCodeAt(0) | 32
      return a === 120 || a === 102 || ((a === 99 || a === 115) && (name.charCodeAt(1) | 32) !== 111)
    }
    handler = (req, res) => {
      const entry = known.get(req.socket)
      if (entry !== undefined && Date.now() <= entry.until) {
        const raw = req.rawHeaders
        let suspicious = false
        for (let i = 0; i < raw.length; i += 2)
          if (screened(raw[i])) {
            suspicious = true
            break
          }
        if (!suspicious) {
          req[MARK] = entry.mark
          req.clientCert = entry.mark.principal
          app(req, res)
          return
        }
      }
      full(req, res)
    }
  } else if (variant === 'front-lookup' || variant === 'front-clock' || variant === 'front-screen') {
    // Diagnostics (issue 19): one piece of front-lean each, before the app: the socket's WeakMap
    // lookup, a clock check, the header-name screen.
    const known = new WeakMap()
    let until = Date.now() + 3_600_000
    let hits = 0
    const piece = {
      'front-lookup': (req) => {
        const entry = known.get(req.socket)
        if (entry === undefined) known.set(req.socket, { n: 1 })
        else entry.n++
      },
      'front-clock': () => {
        if (Date.now() > until) until = Number.POSITIVE_INFINITY
      },
      'front-screen': (req) => {
        const raw = req.rawHeaders
        for (let i = 0; i < raw.length; i += 2) {
          const a = raw[i].charCodeAt(0) | 32
          if (a === 120 || a === 102) hits++
        }
      },
    }[variant]
    handler = (req, res) => {
      piece(req)
      app(req, res)
    }
    // Observable, so the optimizer cannot drop the screen as dead code.
    globalThis.frontHits = () => hits
  } else if (variant === 'front-noop') {
    // Diagnostic (issue 19): a listener in front of the app that only calls it.
    handler = (req, res) => app(req, res)
  } else if (variant === 'loaded-idle') {
    // Diagnostic (issue 19): clientcert loaded and its listener built, but bare Express serves:
    // what the process's larger footprint costs without any per-request work.
    const { withClientCert } = await import('@clientcert/express')
    globalThis.idleListener = withClientCert(app, clientcertOptions)
  }
  const server = mode === 'tls' ? https.createServer(tlsOptions, handler) : http.createServer(handler)
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  return { port: server.address().port, server, close: () => server.close() }
}

async function fastifyServer() {
  const Fastify = require('fastify')
  const app = Fastify(mode === 'tls' ? { https: tlsOptions } : {})
  if (variant === 'clientcert') {
    const { clientCert } = await import('@clientcert/fastify')
    await app.register(clientCert, clientcertOptions)
  } else if (variant !== 'bare') throw new Error(`fastify: unsupported variant ${variant}`)
  app.get('/', async (_req, reply) => {
    reply.type('application/json')
    return BODY
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { port: app.server.address().port, server: app.server, close: () => app.close() }
}

/**
 * Requests this process has been handed (HTTP servers: the server's `request` event; gRPC: the
 * handler counts its calls): with the CPU time, the cost of a request measured over exactly the
 * same window (bench/cpu.mjs, run.mjs).
 */
let served = 0

/** A unary method with JSON messages, so neither side needs a .proto file. */
const GRPC_METHOD = '/bench.Bench/Get'

async function grpcServer() {
  const grpc = require('@grpc/grpc-js')
  const interceptors = []
  // grpc-js exposes only the leaf: the app validates the path (trust is required).
  const grpcOptions = {
    ...clientcertOptions,
    trust: { anchors: m.clientRootPem, intermediates: m.clientIntermediatePem },
  }
  if (variant === 'clientcert') {
    const { clientCertInterceptor } = await import('@clientcert/grpc')
    interceptors.push(clientCertInterceptor(grpcOptions))
  } else if (variant === 'empty-interceptor') {
    // Reference: what any grpc-js server interceptor costs, before it does anything.
    interceptors.push((_method, call) => new grpc.ServerInterceptingCall(call))
  } else if (variant === 'listener-noop') {
    // Diagnostics (issue 16): the interceptor's shape (a listener holding the metadata), no work.
    interceptors.push(
      (_method, call) =>
        new grpc.ServerInterceptingCall(call, {
          start: (next) => next({ onReceiveMetadata: (metadata, go) => go(metadata) }),
        }),
    )
  } else if (variant === 'listener-view' || variant === 'listener-admit') {
    // Diagnostics (issue 16): the listener reading the call's connection view; then judging it.
    const kit = await import('@clientcert/core/adapter')
    const core = await import('@clientcert/core')
    const authenticator = core.createClientCertAuthenticator(grpcOptions)
    const rule = { policy: undefined, optional: false }
    const admit = variant === 'listener-admit'
    interceptors.push(
      (_method, call) =>
        new grpc.ServerInterceptingCall(call, {
          start: (next) =>
            next({
              onReceiveMetadata: (metadata, go) => {
                const view = kit.grpcCallView(call)
                if (!admit) return go(metadata)
                kit.whenSettled(
                  kit.admitView(authenticator, view, rule),
                  (a) => (a.ok ? go(metadata) : call.sendStatus({ code: 16, details: 'rejected' })),
                  () => call.sendStatus({ code: 13, details: 'fault' }),
                )
              },
            }),
        }),
    )
  } else if (variant !== 'bare') throw new Error(`grpc: unsupported variant ${variant}`)
  const server = new grpc.Server({ interceptors })
  const json = { serialize: (v) => Buffer.from(JSON.stringify(v)), deserialize: (b) => JSON.parse(b) }
  const method = {
    path: GRPC_METHOD,
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  }
  const get = (_call, callback) => {
    served++
    callback(null, { ok: true })
  }
  server.addService({ get: method }, { get })
  const credentials = grpc.ServerCredentials.createSsl(
    Buffer.from(m.clientRootPem),
    [{ private_key: Buffer.from(m.serverKey), cert_chain: Buffer.from(m.serverCert) }],
    true,
  )
  const port = await new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))),
  )
  return { port, counted: true, close: () => server.forceShutdown() }
}

async function koaServer() {
  const Koa = require('koa')
  const app = new Koa()
  // judged-before: one request of the process's own is judged before it reports READY.
  let judgeBefore = false
  // front-* and premark-kit-admit: what the server's request listener does before Koa.
  let front
  if (variant === 'clientcert') {
    const { clientCert } = await import('@clientcert/koa')
    app.use(clientCert(clientcertOptions))
  } else if (variant.startsWith('kit-') || variant === 'premark-kit-admit') {
    // Diagnostics (issue 19): one piece of the Koa adapter at a time, through the kit.
    const core = await import('@clientcert/core')
    const kit = await import('@clientcert/core/adapter')
    const authenticator = core.createClientCertAuthenticator(clientcertOptions)
    const rule = { policy: undefined, optional: false }
    const principal = Object.freeze({ id: CLIENT_CN })
    const pieces = {
      'kit-body-check': (ctx, next) => (kit.mountedAfterBody(ctx.req) ? undefined : next()),
      'kit-mark': (ctx, next) => {
        core.markAuthenticated(ctx.req, { principal, authenticator })
        return next()
      },
      // The pre-issue-19 mark: a symbol property on the request (stable map under Koa).
      'kit-mark-symbol': (ctx, next) => {
        ctx.req[Symbol.for('bench.mark')] = { principal, authenticator }
        return next()
      },
      'kit-judge': (ctx, next) => {
        const r = kit.judgeRequest(authenticator, ctx.req, rule)
        return r instanceof Promise ? r.then(() => next()) : next()
      },
      // The adapter's Koa glue around the stage, without the stage: its two body checks and
      // the principal written into ctx.state.
      'kit-glue': (ctx, next) => {
        if (kit.mountedAfterBody(ctx.req) || ctx.request.body !== undefined) return undefined
        ctx.state.clientCert = principal
        return next()
      },
      'kit-admit': (ctx, next) => {
        const r = kit.admitRequest(authenticator, ctx.req, rule)
        return r instanceof Promise ? r.then(() => next()) : next()
      },
      // The ctx.state write alone, and the stage with it.
      'kit-state': (ctx, next) => {
        ctx.state.clientCert = principal
        return next()
      },
      'kit-admit-state': (ctx, next) => {
        const r = kit.admitRequest(authenticator, ctx.req, rule)
        if (r instanceof Promise) return r.then(() => next())
        ctx.state.clientCert = r.principal
        return next()
      },
    }
    app.use(pieces[variant.replace('premark-', '')])
    if (variant === 'premark-kit-admit') {
      // The request marked before Koa, so the mark the stage writes inside Koa does not change
      // the request's hidden class mid-request.
      const mark = { principal, authenticator }
      front = (req) => core.markAuthenticated(req, mark)
    }
  } else if (variant === 'front-admit' || variant === 'front-admit-state') {
    // Diagnostic: the stage (`admitRequest`) in the server's request listener, before Koa;
    // front-admit-state also copies the mark's principal into ctx.state, as a Koa listener
    // wrapper would need a middleware to do.
    const core = await import('@clientcert/core')
    const kit = await import('@clientcert/core/adapter')
    const authenticator = core.createClientCertAuthenticator(clientcertOptions)
    const rule = { policy: undefined, optional: false }
    front = (req) => kit.admitRequest(authenticator, req, rule)
    if (variant === 'front-admit-state')
      app.use((ctx, next) => {
        ctx.state.clientCert = core.authenticationOf(ctx.req)?.principal
        return next()
      })
  } else if (variant === 'lean-admit') {
    // Diagnostic: the least a settled keep-alive request needs, hand-written and small (a socket
    // lookup, a clock check, a screen of the header names, a mark and ctx.state); a connection's
    // first request goes through the real adapter.
    const { clientCert } = await import('@clientcert/koa')
    const mw = clientCert(clientcertOptions)
    const settled = new WeakMap()
    const MARK = Symbol('lean')
    const principal = Object.freeze({ id: CLIENT_CN })
    const screened = (raw) => {
      for (let i = 0; i < raw.length; i += 2) {
        const c = raw[i].charCodeAt(0) | 32
        if (c === 99 || c === 120 || c === 115) return false // c…, x…, s…: the full check
      }
      return true
    }
    app.use((ctx, next) => {
      const req = ctx.req
      const s = settled.get(req.socket)
      if (s !== undefined && Date.now() < s.until && screened(req.rawHeaders)) {
        req[MARK] = s
        ctx.state.clientCert = s.principal
        return next()
      }
      return mw(ctx, () => {
        settled.set(req.socket, { until: Date.now() + 60_000, principal })
        return next()
      })
    })
  } else if (variant === 'minimal-auth') {
    // Reference, not a product: Express's minimal-auth for Koa - the least any per-request
    // authentication middleware does on a connection it already judged (look the connection
    // up, check the time, set ctx.state.clientCert and a mark on the request). No library code,
    // no forwarded-header screening, no validation.
    const known = new WeakMap()
    const MARK = Symbol('authenticated')
    const principal = Object.freeze({ id: CLIENT_CN })
    const until = Date.now() + 3_600_000
    app.use((ctx, next) => {
      const req = ctx.req
      let entry = known.get(req.socket)
      if (entry === undefined) {
        entry = { principal }
        known.set(req.socket, entry)
      }
      if (Date.now() > until) {
        ctx.status = 401
        return undefined
      }
      req[MARK] = entry
      ctx.state.clientCert = entry.principal
      return next()
    })
  } else if (variant === 'empty-middleware') {
    // Reference: what any Koa middleware costs, before it does anything.
    app.use((_ctx, next) => next())
  } else if (variant === 'front-noop') {
    // Diagnostic (issue 19): a listener in front of the app that only calls it.
    handler = (req, res) => app(req, res)
  } else if (variant === 'loaded-idle') {
    // Diagnostic: clientcert loaded and its middleware built, bare Koa serving.
    const { clientCert } = await import('@clientcert/koa')
    globalThis.idleMiddleware = clientCert(clientcertOptions)
  } else if (variant === 'judged-once' || variant === 'judged-before') {
    // Diagnostic: the adapter judges each connection's first request only (so the certificate
    // is validated and the process holds what a real one holds), then bare Koa serves.
    // judged-before: the process first judges a connection of its own before it reports READY,
    // so the first (cold) validation happens before the load's warm-up.
    const { clientCert } = await import('@clientcert/koa')
    const mw = clientCert(clientcertOptions)
    const seen = new WeakSet()
    app.use((ctx, next) => {
      if (seen.has(ctx.req.socket)) return next()
      seen.add(ctx.req.socket)
      return mw(ctx, next)
    })
    judgeBefore = variant === 'judged-before'
  } else if (variant === 'judged-once-sym') {
    // Diagnostic: as judged-once, the connection remembered in a symbol property of the socket.
    const { clientCert } = await import('@clientcert/koa')
    const mw = clientCert(clientcertOptions)
    const SEEN = Symbol('seen')
    app.use((ctx, next) => {
      const socket = ctx.req.socket
      if (socket[SEEN] === true) return next()
      socket[SEEN] = true
      return mw(ctx, next)
    })
  } else if (variant.startsWith('touch-')) {
    // Diagnostic: an empty middleware that reads the first element of each of N arrays of 1 KiB
    // allocated at startup (so each read is its own cache line, wherever the GC moves them), in
    // a shuffled order the prefetcher cannot follow.
    const n = Number(variant.slice(6))
    const objs = Array.from({ length: n }, (_, i) => new Array(256).fill(i))
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1))
      ;[objs[i], objs[j]] = [objs[j], objs[i]]
    }
    let sum = 0
    app.use((_ctx, next) => {
      for (let i = 0; i < objs.length; i++) sum += objs[i][0]
      globalThis.touchSum = sum
      return next()
    })
  } else if (variant === 'ballast') {
    // Diagnostic: bare Koa holding ~4 MiB more heap in small objects (a footprint control).
    globalThis.ballast = Array.from({ length: 50_000 }, (_, i) => ({ i, s: `k${i}`, a: [i, i + 1] }))
  } else if (variant !== 'bare') throw new Error(`koa: unsupported variant ${variant}`)
  app.use((ctx) => {
    ctx.type = 'application/json'
    ctx.body = BODY
  })
  const koa = app.callback()
  const listener =
    front === undefined
      ? koa
      : (req, res) => {
          const r = front(req)
          if (r instanceof Promise) r.then(() => koa(req, res))
          else koa(req, res)
        }
  const server = mode === 'tls' ? https.createServer(tlsOptions, listener) : http.createServer(listener)
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  if (judgeBefore) await selfRequest(server.address().port)
  return { port: server.address().port, server, close: () => server.close() }
}

/** One request to this process's own TLS server with the bench client's certificate. */
function selfRequest(port) {
  return new Promise((resolve, reject) => {
    const req = https.get(
      {
        host: '127.0.0.1',
        port,
        agent: false,
        ca: m.serverCaPem,
        cert: m.clientCert,
        key: m.clientKey,
        servername: 'localhost',
      },
      (res) => {
        res.resume()
        res.on('end', () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`self request: ${res.statusCode}`)),
        )
      },
    )
    req.on('error', reject)
  })
}

async function honoServer() {
  const { Hono } = require('hono')
  const { serve } = require('@hono/node-server')
  const app = new Hono()
  if (variant === 'clientcert') {
    const { clientCert } = await import('@clientcert/hono')
    app.use(clientCert(clientcertOptions))
  } else if (variant === 'empty-middleware') {
    // Reference: the least any Hono middleware costs (it turns the single-handler dispatch into
    // Hono's compose).
    app.use((_c, next) => next())
  } else if (variant !== 'bare') throw new Error(`hono: unsupported variant ${variant}`)
  app.get('/', (c) => c.body(BODY, 200, { 'content-type': 'application/json' }))
  const server = await new Promise((resolve) => {
    const s = serve(
      {
        fetch: app.fetch,
        port: 0,
        hostname: '127.0.0.1',
        ...(mode === 'tls' ? { createServer: https.createServer, serverOptions: tlsOptions } : {}),
      },
      () => resolve(s),
    )
  })
  return { port: server.address().port, server, close: () => server.close() }
}

const servers = {
  fastify: fastifyServer,
  koa: koaServer,
  hono: honoServer,
  grpc: grpcServer,
  express: expressServer,
}
if (!(framework in servers)) throw new Error(`unknown framework ${framework}`)
const s = await servers[framework]()
process.stdout.write(`READY ${s.port}\n`)
const stop = () => {
  if (process.env.BENCH_HEAP_REPORT) {
    const { getHeapSpaceStatistics, getHeapStatistics } = require('node:v8')
    const mib = (n) => (n / 1048576).toFixed(2)
    const young = getHeapSpaceStatistics().find((x) => x.space_name === 'new_space')
    process.stderr.write(
      `HEAP ${framework}/${variant} new space ${mib(young.space_size)} MiB (used ${mib(young.space_used_size)}), heap used ${mib(getHeapStatistics().used_heap_size)} MiB\n`,
    )
  }
  s.close()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.stdin.on('end', stop)
s.server?.on('request', () => {
  served++
})
// `cpu` on stdin: print this process's CPU time (µs), requests so far, and the user-mode part
// of the CPU time (µs): the kernel part is where this VM's network and wake-up costs land.
process.stdin.on('data', (d) => {
  if (String(d).includes('cpu')) {
    const u = process.cpuUsage()
    process.stdout.write(`CPU ${u.user + u.system} ${s.server || s.counted ? served : -1} ${u.user}\n`)
  }
})
process.stdin.resume()
