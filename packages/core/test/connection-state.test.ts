// One state per connection, under one key for HTTP/1.1 sockets and HTTP/2 sessions: a proxy's
// HTTP/2 connection repeating a client's forwarded headers is answered from that connection's
// memo (the compatibility API hands each stream a new socket proxy, so a per-socket memo would
// never hit and would grow an entry per stream).
import * as http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import * as net from 'node:net'
import * as tls from 'node:tls'
import { createClientCertAuthenticator } from '@clientcert/core'
import { createTestPki, forwardedHeaders } from '@clientcert/testing'
import { describe, expect, it } from 'vitest'

const STATS = Symbol.for('clientcert.stats')

describe('connection state', () => {
  it('forwarded mode over HTTP/2: requests on one proxy session hit the connection memo', async () => {
    const pki = await createTestPki()
    const alice = await pki.issueClient({ subject: 'CN=alice' })
    const auth = createClientCertAuthenticator({
      source: { forwarded: { format: 'rfc9440', trustedProxies: ['127.0.0.2'] } },
      trust: { anchors: [pki.clientCaPem] },
      identity: 'cn',
      allow: { ids: ['alice'] },
    })
    const server = http2.createSecureServer(
      { cert: pki.server.chainPem, key: pki.server.keyPem },
      async (req, res) => {
        const result = await auth.authenticate(req)
        res.writeHead(result.ok ? 200 : result.error.status, { 'content-type': 'text/plain' })
        res.end(result.ok ? result.principal.id : result.error.code)
      },
    )
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    const stats = (auth as unknown as Record<symbol, { forwardedMemoHits: number }>)[STATS]!
    // The proxy's connection comes from its own loopback address.
    const proxySession = (): http2.ClientHttp2Session =>
      http2.connect(`https://127.0.0.1:${port}`, {
        createConnection: () =>
          tls.connect({
            socket: net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' }),
            host: '127.0.0.1',
            ca: pki.serverCa.pem,
            ALPNProtocols: ['h2'],
          }),
      })
    const request = (session: http2.ClientHttp2Session): Promise<[number, string]> =>
      new Promise((resolve, reject) => {
        const stream = session.request({ ':path': '/', ...forwardedHeaders('rfc9440', alice) })
        let status = 0
        let body = ''
        stream.on('response', (h) => {
          status = Number(h[':status'])
        })
        stream.setEncoding('utf8')
        stream.on('data', (c: string) => {
          body += c
        })
        stream.on('end', () => resolve([status, body]))
        stream.on('error', reject)
      })
    const session = proxySession()
    try {
      for (let i = 0; i < 5; i++) expect(await request(session)).toEqual([200, 'alice'])
      // The first request reads and validates; the four after it come from the session's memo.
      expect(stats.forwardedMemoHits).toBe(4)
      // A second session is a second connection: its first request is not a memo hit.
      const other = proxySession()
      try {
        expect(await request(other)).toEqual([200, 'alice'])
        expect(stats.forwardedMemoHits).toBe(4)
      } finally {
        other.close()
      }
    } finally {
      session.close()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })
})
