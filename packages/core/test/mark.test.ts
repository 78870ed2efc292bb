import { Agent, createServer, get, IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { authenticationOf, createClientCertAuthenticator, markAuthenticated } from '@clientcert/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/**
 * Where the authentication stage leaves its mark (mark.ts): a private symbol property on plain
 * Node requests, a WeakMap entry on anything else (Express's prototype-swapped requests, gRPC
 * calls). Real requests over a keep-alive loopback connection.
 */
const authenticator = createClientCertAuthenticator({ identity: 'cn', allow: { authenticated: true } })
const principal = Object.freeze({ id: 'alice', kind: 'cn' }) as never

type Handler = (req: IncomingMessage) => unknown
let handler: Handler = () => null
let server: Server
let base: string

beforeAll(async () => {
  server = createServer((req, res) => {
    let body: unknown
    try {
      body = handler(req)
    } catch (err) {
      body = { threw: String(err) }
    }
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify(body ?? null))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => {
  agent.destroy()
  return new Promise<void>((r) => server.close(() => r()))
})

// One keep-alive connection for every request of this file.
const agent = new Agent({ keepAlive: true, maxSockets: 1 })
async function ask(h: Handler): Promise<unknown> {
  handler = h
  return new Promise((resolve, reject) => {
    get(base, { agent }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => (text += d))
      res.on('end', () => resolve(JSON.parse(text)))
    }).on('error', reject)
  })
}

const ownSymbols = (o: object): number => Object.getOwnPropertySymbols(o).length

describe('authentication marks', () => {
  it('a plain Node request carries its mark in one own symbol property, found by authenticationOf', async () => {
    const seen = await ask((req) => {
      expect(Object.getPrototypeOf(req)).toBe(IncomingMessage.prototype)
      const before = ownSymbols(req)
      markAuthenticated(req, { principal, authenticator })
      const mark = authenticationOf(req)
      return {
        added: ownSymbols(req) - before,
        id: mark?.principal?.id,
        same: mark?.authenticator === authenticator,
      }
    })
    expect(seen).toEqual({ added: 1, id: 'alice', same: true })
  })

  it('a request whose prototype a framework swapped (as Express does) is marked without a property', async () => {
    const seen = await ask((req) => {
      Object.setPrototypeOf(req, Object.create(IncomingMessage.prototype))
      const before = ownSymbols(req)
      markAuthenticated(req, { principal, authenticator })
      return { added: ownSymbols(req) - before, id: authenticationOf(req)?.principal?.id }
    })
    expect(seen).toEqual({ added: 0, id: 'alice' })
  })

  it('a mark made on the plain request is still found after the prototype is swapped', async () => {
    const seen = await ask((req) => {
      markAuthenticated(req, { principal, authenticator })
      Object.setPrototypeOf(req, Object.create(IncomingMessage.prototype))
      return authenticationOf(req)?.principal?.id ?? 'none'
    })
    expect(seen).toBe('alice')
  })

  it('an object written into the mark property by hand is not a mark', async () => {
    let key: symbol | undefined
    await ask((req) => {
      const before = new Set(Object.getOwnPropertySymbols(req))
      markAuthenticated(req, { principal, authenticator })
      key = Object.getOwnPropertySymbols(req).find((s) => !before.has(s))
      return null
    })
    expect(typeof key).toBe('symbol')
    const seen = await ask((req) => {
      ;(req as unknown as Record<symbol, unknown>)[key as symbol] = Object.freeze({
        principal,
        authenticator,
      })
      return authenticationOf(req) === undefined ? 'refused' : 'honoured'
    })
    expect(seen).toBe('refused')
  })

  it('the next request on the same keep-alive connection carries no mark', async () => {
    let first: IncomingMessage | undefined
    await ask((req) => {
      first = req
      markAuthenticated(req, { principal, authenticator })
      return null
    })
    const seen = await ask((req) => ({
      sameSocket: req.socket === first?.socket,
      marked: authenticationOf(req) !== undefined,
      firstStillMarked: first !== undefined && authenticationOf(first) !== undefined,
    }))
    expect(seen).toEqual({ sameSocket: true, marked: false, firstStillMarked: true })
  })

  it('objects that are not Node requests (a gRPC call, a Web Request) are marked in the WeakMap', () => {
    const call = {}
    markAuthenticated(call, { principal: undefined, authenticator })
    expect(ownSymbols(call)).toBe(0)
    expect(authenticationOf(call)).toEqual({ principal: undefined, authenticator })
    expect(authenticationOf({})).toBeUndefined()
    expect(authenticationOf(null)).toBeUndefined()
  })
})
