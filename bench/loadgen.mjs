// Bounded undici load generator (one process per server; pinned with taskset by run.mjs).
//   node bench/loadgen.mjs <pki.json> <json options>
// options: { port, scheme:'https'|'http', mode:'throughput'|'latency'|'handshake',
//            warmupMs, durationMs, connections, pipelining, rate, localAddress, forwarded }
// Prints one JSON line: { ok, errors, statuses, rps, p50Ms, p99Ms }.
import { readFileSync } from 'node:fs'
import https from 'node:https'
import { Pool } from 'undici'

const [pkiFile, optJson] = process.argv.slice(2)
const m = JSON.parse(readFileSync(pkiFile, 'utf8'))
const o = JSON.parse(optJson)
const origin = `${o.scheme}://127.0.0.1:${o.port}`
const headers = o.forwarded ? m.forwarded : {}
const tls =
  o.scheme === 'https'
    ? { ca: m.serverCaPem, cert: m.clientCert, key: m.clientKey, servername: 'localhost' }
    : {}
const HARD_CAP_MS = o.warmupMs + o.durationMs + 10_000
const hardStop = setTimeout(() => {
  process.stderr.write('loadgen: hard time cap reached\n')
  process.exit(2)
}, HARD_CAP_MS)

const now = () => performance.now()
const t0 = now()
const measureFrom = t0 + o.warmupMs
const measureTo = measureFrom + o.durationMs
let ok = 0
let errors = 0
const statuses = {}
const latencies = []

function record(status, startedAt) {
  const end = now()
  statuses[status] = (statuses[status] ?? 0) + 1
  if (end >= measureFrom && end <= measureTo) {
    if (status === 200) ok++
    else errors++
    if (startedAt !== undefined && startedAt >= measureFrom) latencies.push(end - startedAt)
  }
}

async function throughput() {
  const pool = new Pool(origin, {
    connections: o.connections,
    pipelining: o.pipelining,
    connect: { ...tls, ...(o.localAddress ? { localAddress: o.localAddress } : {}) },
    ...(o.localAddress ? { localAddress: o.localAddress } : {}),
  })
  const worker = async () => {
    while (now() < measureTo) {
      try {
        const res = await pool.request({ path: '/', method: 'GET', headers })
        await res.body.dump()
        record(res.statusCode)
      } catch (err) {
        record(`error:${err.code ?? err.name}`)
      }
    }
  }
  await Promise.all(Array.from({ length: o.connections * o.pipelining }, worker))
  await pool.close()
}

/** Fixed arrival rate, no pipelining; latency counted from the scheduled send time. */
async function latency() {
  const pool = new Pool(origin, {
    connections: o.connections,
    pipelining: 1,
    connect: { ...tls, ...(o.localAddress ? { localAddress: o.localAddress } : {}) },
  })
  const interval = 1000 / o.rate
  let next = t0
  let inFlight = 0
  const pending = new Set()
  const maxInFlight = o.connections * 50
  while (now() < measureTo) {
    while (next <= now() && next < measureTo) {
      const scheduled = next
      next += interval
      if (inFlight >= maxInFlight) {
        record('dropped')
        continue
      }
      inFlight++
      const p = pool
        .request({ path: '/', method: 'GET', headers })
        .then(async (res) => {
          await res.body.dump()
          record(res.statusCode, scheduled)
        })
        .catch((err) => record(`error:${err.code ?? err.name}`))
        .finally(() => {
          inFlight--
          pending.delete(p)
        })
      pending.add(p)
    }
    await new Promise((r) => setTimeout(r, 1))
  }
  await Promise.allSettled([...pending])
  await pool.close()
}

/** One request per connection: a full TLS handshake (no session reuse) each time. */
async function handshake() {
  const agent = false
  const one = () =>
    new Promise((resolve) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port: o.port,
          path: '/',
          method: 'GET',
          agent,
          ...tls,
          headers: { connection: 'close' },
        },
        (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode))
          res.on('error', () => resolve('error:res'))
        },
      )
      req.on('error', (err) => resolve(`error:${err.code ?? err.name}`))
      req.end()
    })
  const worker = async () => {
    while (now() < measureTo) record(await one())
  }
  await Promise.all(Array.from({ length: o.connections }, worker))
}

/**
 * gRPC unary calls: `connections` channels, each with `pipelining` calls in flight (HTTP/2
 * streams on one connection), through @grpc/grpc-js's client.
 */
async function grpcThroughput() {
  const { createRequire } = await import('node:module')
  const grpc = createRequire(import.meta.url)('@grpc/grpc-js')
  const json = { serialize: (v) => Buffer.from(JSON.stringify(v)), deserialize: (b) => JSON.parse(b) }
  const Client = grpc.makeGenericClientConstructor(
    {
      get: {
        path: '/bench.Bench/Get',
        requestStream: false,
        responseStream: false,
        requestSerialize: json.serialize,
        requestDeserialize: json.deserialize,
        responseSerialize: json.serialize,
        responseDeserialize: json.deserialize,
      },
    },
    'Bench',
  )
  const credentials = grpc.credentials.createSsl(
    Buffer.from(m.serverCaPem),
    Buffer.from(m.clientKey),
    Buffer.from(m.clientCert),
  )
  const clients = Array.from(
    { length: o.connections },
    // Distinct channel options keep grpc-js from sharing one subchannel between the clients.
    (_, i) =>
      new Client(`127.0.0.1:${o.port}`, credentials, {
        'grpc.ssl_target_name_override': 'localhost',
        'bench.channel': i,
      }),
  )
  const call = (client) =>
    new Promise((resolve) => client.get({}, (err) => resolve(err ? `grpc:${err.code}` : 200)))
  const worker = async (client) => {
    while (now() < measureTo) record(await call(client))
  }
  await Promise.all(clients.flatMap((c) => Array.from({ length: o.pipelining }, () => worker(c))))
  for (const c of clients) c.close()
}

if (o.scheme === 'grpc') await grpcThroughput()
else if (o.mode === 'latency') await latency()
else if (o.mode === 'handshake') await handshake()
else await throughput()
clearTimeout(hardStop)

latencies.sort((a, b) => a - b)
const q = (p) =>
  latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : null
process.stdout.write(
  `${JSON.stringify({ ok, errors, statuses, rps: ok / (o.durationMs / 1000), p50Ms: q(0.5), p99Ms: q(0.99), samples: latencies.length })}\n`,
)
process.exit(0)
