// Diagnostic (issue 19): the JavaScript cost of one Express keep-alive request, in process, with
// the I/O taken out. One real mTLS connection is opened on loopback; then every "request" is a
// Node IncomingMessage on that connection's server-side TLS socket (as Node's HTTP parser makes
// them) and a ServerResponse, pushed through the Express app. With no sockets written and no
// other process involved, differences of ~100 ns per request are visible on a busy machine,
// which the load benchmark cannot resolve. Not a budget line: a request here costs a fraction
// of a real one, so percentages here are larger than in `pnpm bench`.
//   node bench/pipeline.mjs [--n=20000] [--batches=7] variant...   (variants of bench/server.mjs)
// Variants also: clientcert-front (withClientCert(app)) and, in front of the app, one piece of
// it at a time: front-noop (a listener that only calls the app), front-props (the two
// properties it adds), front-mark, front-judge, front-admit (the kit's judgement and mark).
// Each variant runs in its own process (V8 state never shared), alternating, min over batches.
import { spawnSync } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import http from 'node:http'
import { createRequire } from 'node:module'
import net from 'node:net'
import tls from 'node:tls'
import { fileURLToPath } from 'node:url'
import { argv, opt, positional } from './lib/args.mjs'
import { CLIENT_CN, PROXY_IP, writePkiMaterial } from './lib/pki.mjs'
import { expressProbes } from './lib/probes.mjs'

if (process.env.PIPELINE_CHILD) {
  const [pkiFile, variant] = argv
  const n = Number(opt('n', '20000'))
  const mode = opt('mode', 'tls')
  const m = JSON.parse(readFileSync(pkiFile, 'utf8'))
  const require = createRequire(import.meta.url)
  const express = require('express')
  const app = express()
  app.disable('x-powered-by')
  app.disable('etag')
  const MARK = Symbol('authenticated')
  const known = new WeakMap()
  const principal = Object.freeze({ id: CLIENT_CN })
  const until = Date.now() + 3_600_000
  if (variant === 'clientcert') {
    const { clientCert } = await import('@clientcert/express')
    app.use(clientCert(clientcertOptions(mode, m)))
  } else if (variant === 'clientcert-front' || variant.startsWith('front-')) {
    // mounted below, around the app
  } else if (variant === 'empty-middleware') app.use((_req, _res, next) => next())
  else if (variant === 'minimal-auth')
    app.use((req, res, next) => {
      const header = mode === 'forwarded' ? req.headers['client-cert'] : ''
      let entry = known.get(req.socket)
      if (entry === undefined || entry.header !== header) {
        entry = { header, principal }
        known.set(req.socket, entry)
      }
      if (Date.now() > until) return res.end()
      req[MARK] = entry
      req.clientCert = entry.principal
      next()
    })
  else if (variant === 'minimal-auth-weakmap')
    app.use((req, res, next) => {
      let entry = known.get(req.socket)
      if (entry === undefined) {
        entry = { principal }
        known.set(req.socket, entry)
      }
      if (Date.now() > until) return res.end()
      known.set(req, entry)
      next()
    })
  else if (variant in expressProbes) app.use(expressProbes[variant])
  else if (variant !== 'bare') throw new Error(`unknown variant ${variant}`)
  let served = 0
  // With --allow-natives-syntax: whether the route's `req` still has fast (not dictionary)
  // properties, and how many own properties it has, printed on stderr once.
  const fast = process.execArgv.includes('--allow-natives-syntax')
    ? new Function('o', 'return %HasFastProperties(o)')
    : undefined
  app.get('/', (req, res) => {
    served++
    if (fast && served === 6000)
      process.stderr.write(
        `${variant}: req has fast properties: ${fast(req)}, own keys ${Reflect.ownKeys(req).length}\n`,
      )
    res.type('application/json').send('{"ok":true}')
  })
  // `clientcert-front`: the stage in front of the app, as `withClientCert(app)` mounts it.
  let handle = app
  if (variant === 'clientcert-front') {
    const { withClientCert } = await import('@clientcert/express')
    handle = withClientCert(app, clientcertOptions(mode, m))
  } else if (variant === 'front-noop') {
    // A listener in front that only calls the app.
    handle = (req, res) => app(req, res)
  } else if (variant === 'front-props') {
    // The two properties withClientCert adds, with no judgement.
    handle = (req, res) => {
      req[MARK] = { principal }
      req.clientCert = principal
      app(req, res)
    }
  } else if (variant.startsWith('front-')) {
    // One piece of the stage at a time, in front of the app: the kit's judgement without the
    // mark, the mark alone, or both (`admitRequest`, what withClientCert does before
    // req.clientCert).
    const core = await import('@clientcert/core')
    const kit = await import('@clientcert/core/adapter')
    const { logger: _logger, ...coreOptions } = clientcertOptions(mode, m)
    const authenticator = core.createClientCertAuthenticator(coreOptions)
    const rule = { policy: undefined, optional: false }
    const mark = { principal, authenticator }
    const pieces = {
      'front-judge': (req) => kit.judgeRequest(authenticator, req, rule),
      'front-mark': (req) => core.markAuthenticated(req, mark),
      'front-admit': (req) => kit.admitRequest(authenticator, req, rule),
    }
    const piece = pieces[variant]
    if (piece === undefined) throw new Error(`unknown variant ${variant}`)
    handle = (req, res) => {
      const r = piece(req)
      if (r instanceof Promise) r.then(() => app(req, res))
      else app(req, res)
    }
  }

  // One real connection (mTLS, or plain TCP from the proxy's address); its server-side socket
  // carries every synthetic request.
  const socket =
    mode === 'forwarded'
      ? await proxyConnection()
      : await new Promise((resolve, reject) => {
          const server = tls.createServer(
            {
              cert: m.serverCert,
              key: m.serverKey,
              ca: m.clientRootPem,
              requestCert: true,
              rejectUnauthorized: true,
            },
            (s) => resolve(s),
          )
          server.listen(0, '127.0.0.1', () => {
            const c = tls.connect({
              port: server.address().port,
              host: '127.0.0.1',
              servername: 'localhost',
              ca: m.serverCaPem,
              cert: m.clientCert,
              key: m.clientKey,
            })
            c.on('error', reject)
          })
        })
  const headers = mode === 'forwarded' ? { host: 'localhost', ...m.forwarded } : { host: 'localhost' }
  const rawHeaders = Object.entries(headers).flat()
  const one = () => {
    const req = new http.IncomingMessage(socket)
    req.method = 'GET'
    req.url = '/'
    req.httpVersionMajor = 1
    req.httpVersionMinor = 1
    req.httpVersion = '1.1'
    req.headers = { ...headers }
    req.rawHeaders = rawHeaders.slice()
    req.complete = true
    const res = new http.ServerResponse(req)
    handle(req, res)
  }
  for (let i = 0; i < 5000; i++) one()
  const t = process.hrtime.bigint()
  for (let i = 0; i < n; i++) one()
  const ns = Number(process.hrtime.bigint() - t) / n
  if (served !== n + 5000) throw new Error(`${variant}: served ${served} of ${n + 5000}`)
  process.stdout.write(`${ns}\n`)
  process.exit(0)
}

/** The options both clientcert variants use. */
function clientcertOptions(mode, m) {
  return {
    identity: 'cn',
    allow: { ids: [CLIENT_CN] },
    logger: false,
    ...(mode === 'forwarded'
      ? {
          source: { forwarded: { format: 'rfc9440', trustedProxies: [PROXY_IP] } },
          trust: { anchors: m.clientRootPem },
        }
      : {}),
  }
}

/** A plain TCP connection from the allowlisted proxy's address; resolves with the server's side. */
function proxyConnection() {
  return new Promise((resolve, reject) => {
    const server = net.createServer((s) => resolve(s))
    server.listen(0, '127.0.0.1', () => {
      const c = net.connect({ port: server.address().port, host: '127.0.0.1', localAddress: PROXY_IP })
      c.on('error', reject)
    })
  })
}

const batches = Number(opt('batches', '7'))
if (argv.includes('--ic')) {
  // Deterministic counts instead of time: V8's inline-cache misses (each a call into the runtime)
  // and new hidden classes (maps) per request, from --log-ic/--log-maps runs of n and 2n requests.
  const variants = positional()
  const pki = await writePkiMaterial()
  const { mkdtempSync, readFileSync: read } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const dir = mkdtempSync(join(tmpdir(), 'clientcert-ic-'))
  const n = 1000
  const count = (v, k) => {
    const log = join(dir, `${v}-${k}.log`)
    const r = spawnSync(
      process.execPath,
      [
        '--log-ic',
        '--log-maps',
        `--logfile=${log}`,
        '--no-logfile-per-isolate',
        fileURLToPath(import.meta.url),
        pki,
        v,
        `--n=${k}`,
        `--mode=${opt('mode', 'tls')}`,
      ],
      { env: { ...process.env, PIPELINE_CHILD: '1' }, encoding: 'utf8' },
    )
    if (r.status !== 0) throw new Error(`${v}: ${r.stderr}`)
    const lines = read(log, 'utf8').split('\n')
    return {
      ic: lines.filter((l) => /^(Keyed)?(Load|Store)(Global)?IC,/.test(l)).length,
      maps: lines.filter((l) => l.startsWith('map-create,')).length,
    }
  }
  console.log(`${opt('mode', 'tls')} mode, per request: inline-cache misses, new maps (hidden classes)`)
  try {
    for (const v of variants) {
      const a = count(v, n)
      const b = count(v, 2 * n)
      console.log(
        `${v.padEnd(22)} ${((b.ic - a.ic) / n).toFixed(1).padStart(6)} IC misses  ${((b.maps - a.maps) / n).toFixed(1).padStart(5)} maps`,
      )
    }
  } finally {
    rmSync(pki, { force: true })
    rmSync(dir, { recursive: true, force: true })
  }
  process.exit(0)
}
const variants = positional()
if (variants.length === 0) variants.push('bare', 'empty-middleware', 'minimal-auth', 'clientcert')
const pki = await writePkiMaterial()
const ns = Object.fromEntries(variants.map((v) => [v, []]))
try {
  for (let b = 0; b < batches; b++)
    for (const v of variants) {
      const r = spawnSync(
        process.execPath,
        [fileURLToPath(import.meta.url), pki, v, `--n=${opt('n', '20000')}`, `--mode=${opt('mode', 'tls')}`],
        {
          env: { ...process.env, PIPELINE_CHILD: '1' },
          encoding: 'utf8',
        },
      )
      if (r.status !== 0) throw new Error(`${v}: ${r.stderr}`)
      ns[v].push(Number(r.stdout.trim()))
    }
} finally {
  rmSync(pki, { force: true })
}
const best = (v) => Math.min(...ns[v])
const base = best(variants[0])
console.log(
  `Express pipeline, in process (min of ${batches} batches): ns per request, and the difference to ${variants[0]}`,
)
for (const v of variants)
  console.log(
    `${v.padEnd(22)} ${best(v).toFixed(0).padStart(6)} ns  ${(best(v) - base >= 0 ? '+' : '') + (best(v) - base).toFixed(0)} ns`,
  )
