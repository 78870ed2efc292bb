import { createTestPki, forwardedHeaders, type TestPki } from '@clientcert/testing'
import { beforeAll, describe, expect, it } from 'vitest'
import { ClientCertConfigError, createClientCertAuthenticator } from '../src/index.js'

let pki: TestPki
beforeAll(async () => {
  pki = await createTestPki()
})

const options = (extra: Record<string, unknown> = {}) => ({
  source: {
    forwarded: { format: 'haproxy' as const, trustedProxies: ['10.0.0.5'], allowUnixSocket: true, ...extra },
  },
  trust: { anchors: pki.root.pem, intermediates: pki.intermediate.pem },
  identity: 'cn' as const,
  allow: { authenticated: true as const },
})

describe('forwarded source: who counts as a Unix-socket peer', () => {
  it('a closed TCP socket (no address, destroyed) is never taken for a Unix-socket proxy', async () => {
    const alice = await pki.issueClient({ subject: 'CN=alice' })
    const auth = createClientCertAuthenticator(options())
    const result = await auth.authenticate({
      socket: { remoteAddress: undefined, destroyed: true },
      headers: forwardedHeaders('haproxy', alice),
    })
    expect(result.ok).toBe(false)
    if (!result.ok) expect(result.error.code).toBe('ERR_CLIENT_CERT_UNTRUSTED_PROXY')
  })

  it('a socket without an address whose server is not a pipe server is not trusted either', async () => {
    const alice = await pki.issueClient({ subject: 'CN=alice' })
    const auth = createClientCertAuthenticator(options())
    const tcpServer = { address: () => ({ port: 1, address: '127.0.0.1', family: 'IPv4' }) }
    const result = await auth.authenticate({
      socket: { remoteAddress: undefined, server: tcpServer },
      headers: forwardedHeaders('haproxy', alice),
    })
    expect(result.ok ? 'ok' : result.error.code).toBe('ERR_CLIENT_CERT_UNTRUSTED_PROXY')
  })

  it('a live connection of a Unix-socket server is trusted with allowUnixSocket', async () => {
    const alice = await pki.issueClient({ subject: 'CN=alice' })
    const auth = createClientCertAuthenticator(options())
    const pipeServer = { address: () => '/run/app.sock' }
    const result = await auth.authenticate({
      socket: { remoteAddress: undefined, server: pipeServer },
      headers: forwardedHeaders('haproxy', alice),
    })
    expect(result.ok && result.principal.source).toEqual({
      type: 'forwarded',
      format: 'haproxy',
      proxy: 'unix',
    })
  })
})

describe('forwarded source: formats', () => {
  it('XFCC with one URI pair per URI SAN and a Chain that starts with the leaf (as Envoy writes it)', async () => {
    const client = await pki.issueClient({
      subject: 'CN=svc',
      san: { uri: ['spiffe://example.org/a', 'https://svc.example.org/'] },
    })
    const auth = createClientCertAuthenticator({
      ...options(),
      source: { forwarded: { format: 'xfcc', trustedProxies: ['10.0.0.5'] } },
    })
    const headers = forwardedHeaders('xfcc', client)
    expect(headers['x-forwarded-client-cert']?.match(/;URI=/g)).toHaveLength(2)
    const result = await auth.authenticate({ socket: { remoteAddress: '10.0.0.5' }, headers })
    expect(result.ok ? result.principal.id : result.error.reason).toBe('svc')
  })

  it('an empty RFC 9440 Client-Cert means no certificate', async () => {
    const auth = createClientCertAuthenticator({
      ...options(),
      source: { forwarded: { format: 'rfc9440', trustedProxies: ['10.0.0.5'] } },
    })
    const result = await auth.authenticate(
      { socket: { remoteAddress: '10.0.0.5' }, headers: { 'client-cert': '' } },
      { optional: true },
    )
    expect(result).toEqual({ ok: true, principal: undefined })
  })

  it('renaming a chain header on a format without one is a configuration error', () => {
    expect(() => createClientCertAuthenticator(options({ headers: { chain: 'x-chain' } }))).toThrow(
      ClientCertConfigError,
    )
  })
})

describe('forwarded source: allowlists that trust everyone are refused at startup', () => {
  for (const entry of ['0.0.0.0/0', '::/0', '*', '0.0.0.0', '::', 'proxy.internal', '10.0.0.0/33'] as const) {
    it(`trustedProxies: ["${entry}"]`, () => {
      let err: unknown
      try {
        createClientCertAuthenticator(options({ trustedProxies: [entry] }))
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(ClientCertConfigError)
      expect(err).toMatchObject({
        code: 'ERR_CLIENT_CERT_INVALID_OPTION',
        option: 'source.forwarded.trustedProxies[0]',
      })
    })
  }
  it('trustedProxies: true / [] are refused too', () => {
    expect(() => createClientCertAuthenticator(options({ trustedProxies: true }))).toThrow(
      ClientCertConfigError,
    )
    expect(() => createClientCertAuthenticator(options({ trustedProxies: [] }))).toThrow(
      ClientCertConfigError,
    )
  })
})
