import 'reflect-metadata'
import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import {
  authenticateUpgrade,
  authenticationOf,
  type ClientCertAuthenticator,
  ClientCertConfigError,
  type ClientPrincipal,
  clientCertUpgrade,
  createClientCertAuthenticator,
  markAuthenticated,
} from '@clientcert/core'
import { clientCert } from '@clientcert/express'
import { clientCert as fastifyClientCert } from '@clientcert/fastify'
import { ClientCertGuard } from '@clientcert/nestjs'
import {
  createTestPki,
  type IssuedCertificate,
  listenOnLoopback,
  mtlsServerOptions,
  requestUpgrade,
  requestWithUndici,
  type TestPki,
} from '@clientcert/testing'
import fastifyWebsocket from '@fastify/websocket'
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js'
import express from 'express'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'

let pki: TestPki
let alice: IssuedCertificate
let stranger: IssuedCertificate
beforeAll(async () => {
  pki = await createTestPki()
  alice = await pki.issueClient({ subject: 'CN=alice' })
  stranger = await (await createTestPki()).issueClient({ subject: 'CN=alice' })
})

const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close()
})

/** An HTTPS server (verify-in-app: the handshake lets every client in) with `upgrade` wired to `onUpgrade`. */
async function serve(
  onUpgrade: (req: import('node:http').IncomingMessage, socket: Duplex, head: Buffer) => void,
  app: import('node:http').RequestListener = (_req, res) => res.end('http'),
): Promise<{ url: string; server: https.Server }> {
  const server = https.createServer(mtlsServerOptions({ pki, rejectUnauthorized: false }), app)
  const sockets = new Set<Duplex>()
  server.on('upgrade', (req, socket: Duplex, head) => {
    sockets.add(socket)
    onUpgrade(req, socket, head)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

/** Opens a real `ws` client and resolves with the first message (or rejects with the refusal's status). */
function firstMessage(url: string, client: IssuedCertificate | null): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^https/, 'wss'), {
      ca: pki.serverCa.pem,
      ...(client ? { cert: client.chainPem, key: client.keyPem } : {}),
    })
    ws.on('message', (data) => {
      resolve(String(data))
      ws.close()
    })
    ws.on('unexpected-response', (_req, res) => reject(new Error(`refused ${res.statusCode}`)))
    ws.on('error', reject)
  })
}

function expectProblem(
  res: Awaited<ReturnType<typeof requestUpgrade>>,
  status: number,
  code: string,
  /** Written by refuseUpgrade on the raw socket (not by a framework's reply). */
  raw = true,
): void {
  expect(res.status).toBe(status)
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
  expect(res.headers['cache-control']).toBe('no-store')
  if (raw) {
    expect(res.headers['content-type']).toBe('application/problem+json')
    expect(res.headers.connection).toBe('close')
    expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.body))
  }
  const body = JSON.parse(res.body) as Record<string, unknown>
  expect(Object.keys(body).sort()).toEqual(['code', 'detail', 'status', 'title', 'type'])
  expect(body.code).toBe(code)
  expect(res.body).not.toMatch(/BEGIN CERTIFICATE|UNABLE_TO|unable to get|\n\s+at /)
}

describe('authenticateUpgrade (ws, noServer)', () => {
  async function start(
    authenticator: ClientCertAuthenticator,
    options?: Parameters<typeof authenticateUpgrade>[3],
  ) {
    const wss = new WebSocketServer({ noServer: true })
    const seen: { principal: ClientPrincipal | undefined; marked: boolean }[] = []
    wss.on('connection', (ws, req: import('node:http').IncomingMessage) => {
      const mark = authenticationOf(req)
      seen.push({ principal: mark?.principal, marked: mark !== undefined })
      ws.send(JSON.stringify({ id: mark?.principal?.id ?? null }))
    })
    const { url } = await serve(async (req, socket, head) => {
      const admission = await authenticateUpgrade(authenticator, req, socket, options)
      if (admission.ok) wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
    })
    closers.push(async () => wss.close())
    return { url, seen }
  }

  it('an allowed client completes the handshake; the connection handler finds the principal on the request', async () => {
    const { url, seen } = await start(
      createClientCertAuthenticator({ identity: 'cn', allow: { authenticated: true } }),
    )
    expect(JSON.parse(await firstMessage(url, alice))).toEqual({ id: 'alice' })
    expect(seen).toHaveLength(1)
    expect(seen[0]?.marked).toBe(true)
  })

  it('no certificate → 401 problem response on the socket, closed; no connection', async () => {
    const { url, seen } = await start(
      createClientCertAuthenticator({ identity: 'cn', allow: { authenticated: true } }),
    )
    const res = await requestUpgrade(url, { path: '/', ca: pki.serverCa.pem })
    expectProblem(res, 401, 'ERR_CLIENT_CERT_MISSING')
    await expect(firstMessage(url, null)).rejects.toThrow(/refused 401/)
    expect(seen).toHaveLength(0)
  })

  it('a client of another CA → 401 untrusted', async () => {
    const { url, seen } = await start(
      createClientCertAuthenticator({ identity: 'cn', allow: { authenticated: true } }),
    )
    const res = await requestUpgrade(url, { ca: pki.serverCa.pem, client: stranger })
    expectProblem(res, 401, 'ERR_CLIENT_CERT_UNTRUSTED')
    expect(seen).toHaveLength(0)
  })

  it('options.policy applies on top of the authenticator → 403; optional lets an anonymous upgrade through', async () => {
    const denied = await start(
      createClientCertAuthenticator({ identity: 'cn', allow: { authenticated: true } }),
      { policy: { ids: ['nobody'] } },
    )
    expectProblem(
      await requestUpgrade(denied.url, { ca: pki.serverCa.pem, client: alice }),
      403,
      'ERR_CLIENT_CERT_NOT_ALLOWED',
    )
    const optional = await start(
      createClientCertAuthenticator({ identity: 'cn', allow: { authenticated: true } }),
      { optional: true },
    )
    expect(JSON.parse(await firstMessage(optional.url, null))).toEqual({ id: null })
  })

  it('a mistake in options rejects with ClientCertConfigError and closes the socket', async () => {
    const errors: unknown[] = []
    const authenticator = createClientCertAuthenticator({ identity: 'cn', allow: { authenticated: true } })
    const { url } = await serve((req, socket) => {
      authenticateUpgrade(authenticator, req, socket, { policy: { idz: ['x'] } } as never).catch((e) =>
        errors.push(e),
      )
    })
    await expect(requestUpgrade(url, { ca: pki.serverCa.pem, client: alice })).rejects.toThrow()
    expect(errors[0]).toBeInstanceOf(ClientCertConfigError)
  })
})

describe('clientCertUpgrade', () => {
  it('checks its options at construction', () => {
    expect(() =>
      clientCertUpgrade({ identity: 'cn', allow: { authenticated: true }, optionl: true } as never, () => {}),
    ).toThrow(ClientCertConfigError)
    expect(() =>
      clientCertUpgrade(
        { identity: 'cn', allow: { authenticated: true }, routes: { '/a': { allow: 3 } } },
        () => {},
      ),
    ).toThrow(/routes\["\/a"\]/)
    expect(() =>
      clientCertUpgrade(
        { identity: 'cn', allow: { authenticated: true }, routes: { '/a': {}, '/A/': {} } },
        () => {},
      ),
    ).toThrow(/routes\["\/A\/"\]/)
    expect(() =>
      clientCertUpgrade({ identity: 'cn', allow: { authenticated: true } }, undefined as never),
    ).toThrow(/onUpgrade/)
  })

  it('a per-path rule also holds for the spellings a router may treat as that path (case, %-encoding, slashes)', async () => {
    const wss = new WebSocketServer({ noServer: true })
    closers.push(async () => wss.close())
    const { url } = await serve(
      clientCertUpgrade(
        {
          identity: 'cn',
          allow: { authenticated: true },
          routes: { '/Admin/Panel': { allow: { ids: ['admin'] } } },
        },
        (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => ws.send('in')),
      ),
    )
    for (const path of [
      '/admin/panel',
      '/ADMIN/PANEL',
      '/%41dmin/Panel',
      '/Admin/Panel/',
      '//Admin//Panel',
      '/Admin/x/../Panel',
    ]) {
      const res = await requestUpgrade(url, { path, ca: pki.serverCa.pem, client: alice })
      expect(res.status, path).toBe(403)
    }
    expect((await requestUpgrade(url, { path: '/other', ca: pki.serverCa.pem, client: alice })).status).toBe(
      200,
    )
  })

  it('an onUpgrade that throws destroys the socket; the process survives', async () => {
    const { url } = await serve(
      clientCertUpgrade({ identity: 'cn', allow: { authenticated: true } }, () => {
        throw new Error('boom')
      }),
    )
    await expect(requestUpgrade(url, { ca: pki.serverCa.pem, client: alice })).rejects.toThrow()
  })
})

describe('recipe: Express', () => {
  it('one authenticator for clientCert() and the upgrade listener; HTTP and WebSocket judged alike', async () => {
    const authenticator = createClientCertAuthenticator({ identity: 'cn', allow: { authenticated: true } })
    const app = express()
    app.use(clientCert({ authenticator }))
    app.get('/whoami', (req, res) => {
      res.json({ id: (req as { clientCert?: ClientPrincipal }).clientCert?.id ?? null })
    })
    const wss = new WebSocketServer({ noServer: true })
    closers.push(async () => wss.close())
    const { url } = await serve(
      clientCertUpgrade({ authenticator }, (req, socket, head, client) =>
        wss.handleUpgrade(req, socket, head, (ws) => ws.send(JSON.stringify({ id: client?.id }))),
      ),
      app,
    )
    const http = await requestWithUndici(url, { path: '/whoami', ca: pki.serverCa.pem, client: alice })
    const ws = JSON.parse(await firstMessage(`${url}/chat`, alice)) as { id: string }
    expect(ws.id).toBe((JSON.parse(http.body) as { id: string }).id)
    expect((await requestWithUndici(url, { path: '/whoami', ca: pki.serverCa.pem })).status).toBe(401)
    expectProblem(
      await requestUpgrade(`${url}/chat`, { ca: pki.serverCa.pem }),
      401,
      'ERR_CLIENT_CERT_MISSING',
    )
  })

  it('control: new WebSocketServer({ server }) next to clientCert() lets a client without a certificate in', async () => {
    const app = express()
    app.use(clientCert({ identity: 'cn', allow: { authenticated: true } }))
    const { url, server } = await serve(() => {}, app)
    server.removeAllListeners('upgrade')
    const wss = new WebSocketServer({ server })
    wss.on('connection', (ws) => ws.send('open to anyone'))
    closers.push(async () => wss.close())
    expect(await firstMessage(url, null)).toBe('open to anyone')
  })
})

describe('recipe: Fastify with @fastify/websocket', () => {
  async function app(): Promise<{ url: string }> {
    const fastify = Fastify({
      https: mtlsServerOptions({ pki, rejectUnauthorized: false }),
    }) as unknown as FastifyInstance
    await fastify.register(fastifyClientCert, { identity: 'cn', allow: { authenticated: true } })
    await fastify.register(fastifyWebsocket)
    fastify.get('/ws', { websocket: true }, (socket, request) => {
      socket.send(JSON.stringify({ id: request.clientCert?.id ?? null }))
    })
    fastify.get(
      '/ws-admin',
      { websocket: true, config: { clientCert: { allow: { ids: ['admin'] } } } },
      (socket) => socket.send('admin'),
    )
    const url = await listenOnLoopback(fastify)
    closers.push(async () => {
      await fastify.close()
    })
    return { url }
  }

  it("the plugin's onRequest hook judges the upgrade: client in with its principal, no certificate → 401", async () => {
    const { url } = await app()
    expect(JSON.parse(await firstMessage(`${url}/ws`, alice))).toEqual({ id: 'alice' })
    expectProblem(
      await requestUpgrade(`${url}/ws`, { ca: pki.serverCa.pem }),
      401,
      'ERR_CLIENT_CERT_MISSING',
      false,
    )
    expectProblem(
      await requestUpgrade(`${url}/ws`, { ca: pki.serverCa.pem, client: stranger }),
      401,
      'ERR_CLIENT_CERT_UNTRUSTED',
      false,
    )
  })

  it('config.clientCert on a websocket route applies to the upgrade → 403', async () => {
    const { url } = await app()
    const res = await requestUpgrade(`${url}/ws-admin`, { ca: pki.serverCa.pem, client: alice })
    expect(res.status).toBe(403)
    expect((JSON.parse(res.body) as { code: string }).code).toBe('ERR_CLIENT_CERT_NOT_ALLOWED')
  })
})

describe('recipe: NestJS gateways (ClientCertGuard in a ws context)', () => {
  const guard = new ClientCertGuard({ optional: false } as never)
  const wsContext = (client: object) => {
    const ctx = new ExecutionContextHost([client, {}], class Gateway {}, function onMessage() {})
    ctx.setType('ws')
    return ctx
  }

  it('a client without an authenticated upgrade → refused with ERR_CLIENT_CERT_MISCONFIGURED', async () => {
    await expect(guard.canActivate(wsContext({}))).rejects.toMatchObject({
      error: { code: 'ERR_CLIENT_CERT_MISCONFIGURED' },
    })
  })

  it('a client marked by the upgrade listener (markAuthenticated(ws, authenticationOf(req))) passes the guard', async () => {
    const authenticator = createClientCertAuthenticator({ identity: 'cn', allow: { authenticated: true } })
    const wss = new WebSocketServer({ noServer: true })
    closers.push(async () => wss.close())
    const verdicts: unknown[] = []
    const { url } = await serve(
      clientCertUpgrade({ authenticator }, (req, socket, head) =>
        wss.handleUpgrade(req, socket, head, (ws) => {
          const mark = authenticationOf(req)
          if (mark) markAuthenticated(ws, mark)
          guard.canActivate(wsContext(ws)).then(
            (ok) => {
              verdicts.push(ok)
              ws.send('ok')
            },
            (e: unknown) => {
              verdicts.push(e)
              ws.send('refused')
            },
          )
        }),
      ),
    )
    expect(await firstMessage(url, alice)).toBe('ok')
    expect(verdicts).toEqual([true])
  })

  it('rpc contexts still fail closed', async () => {
    const ctx = new ExecutionContextHost([{}], class Svc {}, function call() {})
    ctx.setType('rpc')
    await expect(guard.canActivate(ctx)).rejects.toMatchObject({
      error: { code: 'ERR_CLIENT_CERT_MISCONFIGURED' },
    })
  })
})
