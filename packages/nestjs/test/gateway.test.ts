/**
 * A real Nest WebSocket gateway (@nestjs/websockets + @nestjs/platform-ws) over wss with client
 * certificates: the upgrade is judged by clientCertUpgrade() before ws accepts it, the outcome is
 * carried to the ws client, and ClientCertGuard / @ClientCert() read it on every message.
 */
import 'reflect-metadata'
import type * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  authenticationOf,
  type ClientCertAuthenticator,
  type ClientPrincipal,
  clientCertUpgrade,
  markAuthenticated,
} from '@clientcert/core'
import {
  AllowClients,
  CLIENT_CERT_AUTHENTICATOR,
  ClientCert,
  ClientCertGuard,
  ClientCertModule,
  installClientCert,
} from '@clientcert/nestjs'
import { createRootCA, createTestPki, type IssuedCertificate, type TestPki } from '@clientcert/testing'
import { type INestApplication, Module, UseGuards } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import type { NestExpressApplication } from '@nestjs/platform-express'
import { WsAdapter } from '@nestjs/platform-ws'
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'

const handled: string[] = []

@UseGuards(ClientCertGuard)
@WebSocketGateway({ path: '/ws' })
class EchoGateway {
  @SubscribeMessage('whoami')
  whoami(@ClientCert() client: ClientPrincipal) {
    handled.push(`whoami:${client.id}`)
    return { event: 'whoami', data: { id: client.id } }
  }

  @AllowClients({ ids: ['admin'] })
  @SubscribeMessage('admin')
  admin(@ClientCert() client: ClientPrincipal) {
    handled.push(`admin:${client.id}`)
    return { event: 'admin', data: { id: client.id } }
  }
}

@UseGuards(ClientCertGuard)
@WebSocketGateway({ path: '/ops' })
class OpsGateway {
  @SubscribeMessage('whoami')
  whoami(@ClientCert() client: ClientPrincipal) {
    return { event: 'whoami', data: { id: client.id } }
  }
}

/**
 * platform-ws with the upgrade judged first: WsAdapter's own `upgrade` listener is replaced by
 * clientCertUpgrade() wrapping it, so a refused upgrade never reaches ws, and each accepted ws
 * client carries its upgrade request's mark for the guard.
 */
class ClientCertWsAdapter extends WsAdapter {
  constructor(
    app: INestApplication,
    private readonly judge: { authenticator: ClientCertAuthenticator; routes?: Record<string, unknown> },
  ) {
    super(app)
  }

  protected override ensureHttpServerExists(
    port: number,
    httpServer?: http.Server,
  ): ReturnType<WsAdapter['ensureHttpServerExists']> {
    const before = new Set(httpServer?.listeners('upgrade') ?? [])
    const server = super.ensureHttpServerExists(port, httpServer)
    for (const listener of server?.listeners('upgrade') ?? []) {
      if (before.has(listener)) continue
      const ws = listener as (req: http.IncomingMessage, socket: unknown, head: Buffer) => void
      server!.off('upgrade', ws)
      server!.on(
        'upgrade',
        clientCertUpgrade(this.judge, (req, socket, head) => ws.call(server, req, socket, head)),
      )
    }
    return server
  }

  override bindClientConnect(server: { on(event: 'connection', cb: Function): void }, callback: Function) {
    super.bindClientConnect(server, (client: object, req: http.IncomingMessage) => {
      const mark = authenticationOf(req)
      if (mark) markAuthenticated(client, mark)
      callback(client, req)
    })
  }
}

type Connected =
  | { kind: 'open'; ws: WebSocket }
  | { kind: 'refused'; status: number; code: string | undefined }

describe('NestJS gateway (platform-ws) over wss with client certificates', () => {
  let pki: TestPki
  let clients: Record<'alice' | 'admin' | 'stranger', IssuedCertificate>

  beforeAll(async () => {
    pki = await createTestPki()
    const stranger = await createRootCA({ subject: 'CN=Stranger CA' })
    clients = {
      alice: await pki.issueClient({ subject: 'CN=alice' }),
      admin: await pki.issueClient({ subject: 'CN=admin' }),
      stranger: await stranger.issueClient({ subject: 'CN=alice' }),
    }
  })

  async function start(guardUpgrades: boolean): Promise<{ app: INestApplication; url: string }> {
    @Module({
      imports: [
        ClientCertModule.forRoot({
          trust: { anchors: pki.root.pem, intermediates: pki.intermediate.pem },
          identity: 'cn',
          allow: { authenticated: true },
          onRejected: () => {},
        }),
      ],
      providers: [EchoGateway, OpsGateway],
    })
    class AppModule {}
    const app = await NestFactory.create<NestExpressApplication>(AppModule, {
      httpsOptions: {
        ...pki.server.tlsOptions(),
        ca: pki.clientCaPem,
        requestCert: true,
        rejectUnauthorized: false,
      },
      logger: false,
    })
    await installClientCert(app)
    app.useWebSocketAdapter(
      guardUpgrades
        ? new ClientCertWsAdapter(app, {
            authenticator: app.get<ClientCertAuthenticator>(CLIENT_CERT_AUTHENTICATOR),
            routes: { '/ops': { allow: { ids: ['admin'] } } },
          })
        : new WsAdapter(app),
    )
    await app.listen(0, '127.0.0.1')
    return { app, url: `wss://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}` }
  }

  const connect = (url: string, client: IssuedCertificate | null) =>
    new Promise<Connected>((resolve, reject) => {
      const ws = new WebSocket(url, {
        ca: pki.serverCa.pem,
        ...(client ? { cert: client.chainPem, key: client.keyPem } : {}),
      })
      ws.once('open', () => resolve({ kind: 'open', ws }))
      ws.once('unexpected-response', (_req, res) => {
        let body = ''
        res.on('data', (d: Buffer) => (body += d))
        res.on('end', () => {
          const code = (JSON.parse(body) as { code?: string }).code
          resolve({ kind: 'refused', status: res.statusCode ?? 0, code })
        })
      })
      ws.once('error', reject)
    })

  /** Sends one message and resolves with the next frame (the handler's answer or Nest's exception event). */
  const ask = (ws: WebSocket, event: string) =>
    new Promise<{ event: string; data: unknown }>((resolve) => {
      ws.once('message', (raw: Buffer) =>
        resolve(JSON.parse(raw.toString()) as { event: string; data: unknown }),
      )
      ws.send(JSON.stringify({ event, data: {} }))
    })

  describe('upgrades judged by clientCertUpgrade()', () => {
    let app: INestApplication
    let url: string
    beforeAll(async () => {
      ;({ app, url } = await start(true))
    })
    afterAll(() => app.close())

    it('valid certificate → connected; @ClientCert() gives the principal to the message handler', async () => {
      const c = await connect(`${url}/ws`, clients.alice)
      expect(c.kind).toBe('open')
      if (c.kind !== 'open') return
      expect(await ask(c.ws, 'whoami')).toEqual({ event: 'whoami', data: { id: 'alice' } })
      c.ws.close()
    })

    it('no certificate → the upgrade is answered 401 ERR_CLIENT_CERT_MISSING, no connection', async () => {
      expect(await connect(`${url}/ws`, null)).toEqual({
        kind: 'refused',
        status: 401,
        code: 'ERR_CLIENT_CERT_MISSING',
      })
    })

    it('untrusted certificate → the upgrade is answered 401 ERR_CLIENT_CERT_UNTRUSTED', async () => {
      expect(await connect(`${url}/ws`, clients.stranger)).toEqual({
        kind: 'refused',
        status: 401,
        code: 'ERR_CLIENT_CERT_UNTRUSTED',
      })
    })

    it('not allowed by the upgrade path policy → 403 ERR_CLIENT_CERT_NOT_ALLOWED; allowed → connected', async () => {
      expect(await connect(`${url}/ops`, clients.alice)).toEqual({
        kind: 'refused',
        status: 403,
        code: 'ERR_CLIENT_CERT_NOT_ALLOWED',
      })
      const c = await connect(`${url}/ops`, clients.admin)
      expect(c.kind).toBe('open')
      if (c.kind !== 'open') return
      expect(await ask(c.ws, 'whoami')).toEqual({ event: 'whoami', data: { id: 'admin' } })
      c.ws.close()
    })

    it('@AllowClients on a message: a connected client not allowed never reaches the handler', async () => {
      handled.length = 0
      const alice = await connect(`${url}/ws`, clients.alice)
      const admin = await connect(`${url}/ws`, clients.admin)
      if (alice.kind !== 'open' || admin.kind !== 'open') throw new Error('not connected')
      const denied = await ask(alice.ws, 'admin')
      expect(denied.event).toBe('exception')
      // Nest's WS exception filter answers a guard's HttpException as a generic error: no reason leaks.
      expect(denied.data).toMatchObject({ status: 'error', message: 'Internal server error' })
      expect(JSON.stringify(denied)).not.toMatch(/alice|allow|ERR_CLIENT_CERT/)
      expect(await ask(admin.ws, 'admin')).toEqual({ event: 'admin', data: { id: 'admin' } })
      expect(handled).toEqual(['admin:admin'])
      alice.ws.close()
      admin.ws.close()
    })
  })

  describe('control: the plain WsAdapter, upgrades not judged', () => {
    let app: INestApplication
    let url: string
    beforeAll(async () => {
      ;({ app, url } = await start(false))
    })
    afterAll(() => app.close())

    it('a client without a certificate connects, but the guard refuses its messages (fails closed)', async () => {
      handled.length = 0
      const c = await connect(`${url}/ws`, null)
      expect(c.kind).toBe('open')
      if (c.kind !== 'open') return
      expect((await ask(c.ws, 'whoami')).event).toBe('exception')
      expect(handled).toEqual([])
      c.ws.close()
    })
  })
})
