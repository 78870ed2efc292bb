// Diagnostic (issue 19): why a property touched on an Express `req` is expensive.
//   node --allow-natives-syntax bench/shapes.mjs
// 1. Through a real Express app, is `req`'s hidden class (map) the same from one request to the
//    next at the first middleware? (Plain node:http: yes. Express: no - it calls
//    Object.setPrototypeOf(req, app.request), and V8 caches no transition for properties added
//    after a prototype change, so every request gets maps of its own.)
// 2. The same effect in plain JavaScript, and what one access costs on such objects.
import http from 'node:http'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const express = require('express')
const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)')

async function mapsAcrossRequests(handlerFor) {
  const seen = []
  const server = http.createServer(handlerFor((req) => seen.push(req)))
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  // Two requests in flight on two connections at once, so both objects are compared at the
  // same point of their life (an earlier request's map moves on after its handler).
  const get = () =>
    new Promise((resolve) =>
      http.get({ port: server.address().port, host: '127.0.0.1', agent: false }, (res) =>
        res.resume().on('end', resolve),
      ),
    )
  for (let i = 0; i < 3; i++) await get()
  const held = []
  const pair = handlerFor((req) => held.push(req))
  server.removeAllListeners('request')
  let release
  const gate = new Promise((r) => (release = r))
  server.on('request', (req, res) => pair(req, res, gate))
  const both = Promise.all([get(), get()])
  while (held.length < 2) await new Promise((r) => setTimeout(r, 5))
  const same = sameMap(held[0], held[1])
  release()
  await both
  agent.destroy()
  server.close()
  return same
}

const plain = (record) => (req, res, gate) => {
  record(req)
  ;(gate ?? Promise.resolve()).then(() => res.end('ok'))
}
const viaExpress = (record) => {
  const app = express()
  app.use((req, _res, next) => {
    record(req)
    next()
  })
  app.get('/', (req, res) => (req.gate ?? Promise.resolve()).then(() => res.end('ok')))
  return (req, res, gate) => {
    req.gate = gate
    app(req, res)
  }
}
console.log(`node:http: two requests share req's map:         ${await mapsAcrossRequests(plain)}`)
console.log(`Express:   two requests share req's map:         ${await mapsAcrossRequests(viaExpress)}`)

class Req {
  constructor() {
    this.socket = {}
    this.headers = {}
  }
}
const proto = Object.create(Req.prototype)
const make = (swap) => {
  const o = new Req()
  o.res = 1
  if (swap) Object.setPrototypeOf(o, proto)
  o.next = 2
  return o
}
const a = make(true)
const b = make(true)
console.log(`plain JS:  after setPrototypeOf + one added property, same map: ${sameMap(a, b)}`)

const N = 200_000
const wm = new WeakMap()
const ops = {
  'read an own property': (o) => o.socket,
  'read a missing property': (o) => o.body,
  'add a property': (o) => {
    o.clientCert = 1
  },
  'WeakMap.set': (o) => wm.set(o, 1),
}
// Two passes; the first warms up (and grows the WeakMap's table), the second is printed.
for (const pass of [1, 2])
  for (const swap of [false, true])
    for (const [name, op] of Object.entries(ops)) {
      const objs = Array.from({ length: N }, () => make(swap))
      for (let i = 0; i < 2000; i++) op(make(swap))
      const t = process.hrtime.bigint()
      for (let i = 0; i < N; i++) op(objs[i])
      const ns = Number(process.hrtime.bigint() - t) / N
      if (pass === 2)
        console.log(
          `${swap ? 'after setPrototypeOf' : 'stable map          '}  ${name.padEnd(24)} ${ns.toFixed(0).padStart(5)} ns`,
        )
    }
