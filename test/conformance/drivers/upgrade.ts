import * as http from 'node:http'
import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { clientCertUpgrade } from '@clientcert/core'
import { WebSocketServer } from 'ws'
import { type Driver, summarise, urlOf } from '../driver.js'

/**
 * WebSocket upgrades (`clientCertUpgrade` + `ws` with `noServer`): `/whoami` and `/admin` are
 * WebSocket endpoints whose first message is the JSON a request would get. Plain requests get
 * 426, so a scenario that did not go through `requestUpgrade` fails instead of passing unjudged.
 */
export const upgradeDriver: Driver = {
  name: 'upgrade (ws, noServer)',
  canMisorder: false,
  upgrade: true,
  notApplicable: {
    'valid JSON body from an authenticated client is parsed (the parser is live)':
      'a body: an upgrade request has none',
    'invalid JSON from an authenticated client \u2192 400 from the parser (control for the I cases)':
      'a body: an upgrade request has none',
    'no certificate + invalid JSON body \u2192 401, not 400; the parser never runs':
      'a body: an upgrade request has none',
    'not-allowed client + invalid JSON body \u2192 403, not 400': 'a body: an upgrade request has none',
    'route policy: not-allowed client + invalid JSON body \u2192 403 before parser, middleware, pipe and handler':
      'a body: an upgrade request has none',
    'route policy: allowed client + JSON body \u2192 200, parsed (control)':
      'a body: an upgrade request has none',
    'optional mode: route policy, no certificate + invalid JSON body \u2192 401 before the parser':
      'a body: an upgrade request has none',
    'no certificate + a 10 MB body trickled slowly \u2192 401 before the body is sent':
      'a slow body: an upgrade request has none',
    'expired certificate + slow body \u2192 401 before the body is sent':
      'a slow body: an upgrade request has none',
    'TLS 1.3 session resumed without a certificate \u2192 401':
      'resumption is judged per connection by the request scenarios; the client helper opens one fresh connection',
    'session from a certificate-less connection resumed with a certificate offered \u2192 never authenticated as that certificate':
      'resumption is judged per connection by the request scenarios; the client helper opens one fresh connection',
    'keep-alive: each request on one connection is judged on its own (200 then 403 on /admin)':
      'keep-alive: an upgrade takes over its connection, no request follows it',
    'keep-alive: each request on one connection is judged on its own (200 then 403 on /admin) [settled connection]':
      'keep-alive: an upgrade takes over its connection, no request follows it',
    'keep-alive: a later request on an admitted connection carrying x-forwarded-client-cert \u2192 401':
      'keep-alive: an upgrade takes over its connection, no request follows it',
    'keep-alive: a later request on an admitted connection carrying x-forwarded-client-cert \u2192 401 [settled connection]':
      'keep-alive: an upgrade takes over its connection, no request follows it',
    'keep-alive: a later request on an admitted connection carrying client-cert \u2192 401':
      'keep-alive: an upgrade takes over its connection, no request follows it',
    'keep-alive: a later request on an admitted connection carrying client-cert \u2192 401 [settled connection]':
      'keep-alive: an upgrade takes over its connection, no request follows it',
    'keep-alive: a later request on an admitted connection carrying x-ssl-client-cert \u2192 401':
      'keep-alive: an upgrade takes over its connection, no request follows it',
    'keep-alive: a later request on an admitted connection carrying x-ssl-client-cert \u2192 401 [settled connection]':
      'keep-alive: an upgrade takes over its connection, no request follows it',
    'keep-alive: the validity window is judged on every request (clock past notAfter \u2192 401)':
      'keep-alive: an upgrade takes over its connection, no request follows it',
    'keep-alive: the validity window is judged on every request (clock past notAfter \u2192 401) [settled connection]':
      'keep-alive: an upgrade takes over its connection, no request follows it',
    'keep-alive from the proxy: each request judged on its own header (200, then 401 without one)':
      'keep-alive: an upgrade takes over its connection, no request follows it',
    'keep-alive from the proxy: each request judged on its own header (200, then 401 without one) [settled connection]':
      'keep-alive: an upgrade takes over its connection, no request follows it',
    'keep-alive from the proxy: the same lines again plus X_SSL_Client_Verify (a header not read) \u2192 401 untrusted proxy':
      'keep-alive: an upgrade takes over its connection, no request follows it',
    'keep-alive from the proxy: the same lines again plus X_SSL_Client_Verify (a header not read) \u2192 401 untrusted proxy [settled connection]':
      'keep-alive: an upgrade takes over its connection, no request follows it',
    "keep-alive from the proxy after alice \u00d73: bob's headers on the same connection \u2192 bob":
      'keep-alive: an upgrade takes over its connection, no request follows it',
    "keep-alive from the proxy after alice \u00d73: bob's headers on the same connection \u2192 bob [settled connection]":
      'keep-alive: an upgrade takes over its connection, no request follows it',
    "keep-alive from the proxy after alice \u00d73: alice's headers again on /admin \u2192 403":
      'keep-alive: an upgrade takes over its connection, no request follows it',
    "keep-alive from the proxy after alice \u00d73: alice's headers again on /admin \u2192 403 [settled connection]":
      'keep-alive: an upgrade takes over its connection, no request follows it',
    'rotation: after updateTrust() removes the CA, the next request on the same keep-alive connection is rejected':
      'keep-alive: an upgrade takes over its connection, no request follows it',
    'rotation: updateTrust() with a new policy applies to an open connection':
      'keep-alive: an upgrade takes over its connection, no request follows it',
    'SNI trust: HTTP/1.0 without Host \u2192 421 (the request names no server)':
      'a malformed raw HTTP/1 head, written by hand as a request, not a handshake',
    'SNI trust: two Host lines (a.test, b.test) \u2192 421 or 400, never 200':
      'a malformed raw HTTP/1 head, written by hand as a request, not a handshake',
    'SNI trust: absolute-form target naming b.test with Host a.test \u2192 421':
      'a malformed raw HTTP/1 head, written by hand as a request, not a handshake',
  },
  async start(spec, probes, listen) {
    const wss = new WebSocketServer({ noServer: true })
    const sockets = new Set<Duplex>()
    const onUpgrade = clientCertUpgrade(
      {
        ...spec.auth,
        optional: spec.optional ?? false,
        routes: { '/admin': { allow: spec.adminPolicy ?? { ids: ['admin'] } } },
      },
      (req, socket, head, client) => {
        const path = new URL(req.url ?? '/', 'http://x').pathname
        if (path !== '/whoami' && path !== '/admin') {
          socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
          return
        }
        wss.handleUpgrade(req, socket, head, (ws) => {
          probes.handled++
          ws.send(JSON.stringify({ principal: summarise(client), httpVersion: req.httpVersion }))
        })
      },
    )
    const refuse: http.RequestListener = (_req, res) => {
      res.writeHead(426, { connection: 'close', 'content-type': 'text/plain' })
      res.end('this driver answers WebSocket upgrades only')
    }
    const server = listen.tls ? https.createServer(listen.tls, refuse) : http.createServer(refuse)
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      onUpgrade(req, socket, head)
    })
    await new Promise<void>((resolve) =>
      listen.path ? server.listen(listen.path, resolve) : server.listen(0, listen.host, resolve),
    )
    return {
      url: listen.path ? `unix:${listen.path}` : urlOf(server.address() as AddressInfo, listen),
      close: () =>
        new Promise<void>((resolve) => {
          // Upgraded sockets are no longer the server's: close them ourselves.
          for (const s of sockets) s.destroy()
          wss.close()
          server.closeAllConnections()
          server.close(() => resolve())
        }),
    }
  },
}
