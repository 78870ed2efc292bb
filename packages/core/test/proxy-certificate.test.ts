import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { mkdtempSync, writeFileSync } from 'node:fs'
import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { rootCertificates } from 'node:tls'
import {
  type CertificateAuthority,
  createRootCA,
  createTestPki,
  createUndiciAgent,
  forwardedHeaders,
  type IssuedCertificate,
  requestWithUndici,
  type TestPki,
} from '@clientcert/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type ClientCertAuthenticator,
  ClientCertConfigError,
  type ClientCertOptions,
  createClientCertAuthenticator,
  type TrustSourceError,
  watchTrust,
} from '../src/index.js'

/**
 * Front proxies authenticated by their own TLS client certificate (Kubernetes
 * `--requestheader-client-ca-file` + `--requestheader-allowed-names`), over real sockets: an
 * HTTPS app on 127.0.0.1, the proxy connecting from 127.0.0.2, strangers from 127.0.0.3.
 */

const PROXY = '127.0.0.2'
const STRANGER = '127.0.0.3'

let pki: TestPki
let proxyCa: CertificateAuthority
let otherProxyCa: CertificateAuthority
let alice: IssuedCertificate
let front: IssuedCertificate
let frontDns: IssuedCertificate
let intruder: IssuedCertificate
let fromClientCa: IssuedCertificate
let serverAuthOnly: IssuedCertificate
let expiredProxy: IssuedCertificate
let viaIntermediate: IssuedCertificate
let proxyIntermediate: CertificateAuthority

beforeAll(async () => {
  pki = await createTestPki()
  proxyCa = await createRootCA({ subject: 'CN=Front Proxy CA' })
  otherProxyCa = await createRootCA({ subject: 'CN=Other Front Proxy CA' })
  proxyIntermediate = await proxyCa.issueIntermediate({ subject: 'CN=Front Proxy Intermediate' })
  alice = await pki.issueClient({ subject: 'CN=alice' })
  front = await proxyCa.issueClient({ subject: 'CN=front-proxy-client' })
  frontDns = await proxyCa.issueClient({ subject: 'CN=whatever', san: { dns: ['Proxy.Example.COM'] } })
  intruder = await proxyCa.issueClient({ subject: 'CN=intruder' })
  fromClientCa = await pki.issueClient({ subject: 'CN=front-proxy-client' })
  serverAuthOnly = await proxyCa.issueClient({ subject: 'CN=front-proxy-client', eku: ['serverAuth'] })
  const now = Date.now()
  expiredProxy = await proxyCa.issueClient({
    subject: 'CN=front-proxy-client',
    notBefore: new Date(now - 2 * 86_400_000),
    notAfter: new Date(now - 3_600_000),
  })
  viaIntermediate = await proxyIntermediate.issueClient({ subject: 'CN=front-proxy-client' })
})

const proxyCertificate = () => ({ anchors: proxyCa.pem, allowedNames: ['front-proxy-client'] })

function options(
  forwarded: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
): ClientCertOptions {
  return {
    source: { forwarded: { format: 'nginx', proxyCertificate: proxyCertificate(), ...forwarded } },
    trust: { anchors: pki.root.pem, intermediates: pki.intermediate.pem },
    identity: 'cn',
    allow: { authenticated: true },
    ...extra,
  } as ClientCertOptions
}

const servers: https.Server[] = []
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections()
    await new Promise((r) => s.close(r))
  }
})

/** An HTTPS app that asks for (but does not itself verify) client certificates. */
async function serve(auth: ClientCertAuthenticator): Promise<string> {
  const server = https.createServer(
    { ...pki.server.tlsOptions(), requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      void auth.authenticate(req).then((r) => {
        res.setHeader('content-type', 'application/json')
        res.statusCode = r.ok ? 200 : r.error.status
        res.end(
          JSON.stringify(
            r.ok
              ? { id: r.principal.id, source: r.principal.source }
              : { code: r.error.code, reason: r.error.reason },
          ),
        )
      })
    },
  )
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function call(
  url: string,
  from: string,
  client: IssuedCertificate | null,
  headers: Record<string, string> = forwardedHeaders('nginx', alice),
): Promise<{ status: number; id?: string; code?: string; reason?: string; source?: unknown }> {
  const res = await requestWithUndici(url, {
    path: '/',
    localAddress: from,
    client,
    ca: pki.serverCa.pem,
    headers,
  })
  return { status: res.status, ...(res.json() as object) }
}

describe('forwarded source: proxies authenticated by their own certificate', () => {
  it('a proxy with the right certificate forwards alice → alice', async () => {
    const url = await serve(createClientCertAuthenticator(options()))
    const r = await call(url, PROXY, front)
    expect(r).toMatchObject({ status: 200, id: 'alice' })
    expect(r.source).toEqual({ type: 'forwarded', format: 'nginx', proxy: PROXY })
  })

  it('a proxy certificate through a configured proxy intermediate is accepted', async () => {
    const auth = createClientCertAuthenticator(
      options({
        proxyCertificate: { ...proxyCertificate(), intermediates: proxyIntermediate.pem },
      }),
    )
    expect(await call(await serve(auth), PROXY, viaIntermediate)).toMatchObject({ status: 200, id: 'alice' })
  })

  it('a DNS SAN in allowedNames matches, case-insensitively', async () => {
    const auth = createClientCertAuthenticator(
      options({ proxyCertificate: { anchors: proxyCa.pem, allowedNames: ['proxy.example.com'] } }),
    )
    expect(await call(await serve(auth), PROXY, frontDns)).toMatchObject({ status: 200, id: 'alice' })
  })

  it('without allowedNames any proxy-CA certificate is a proxy', async () => {
    const auth = createClientCertAuthenticator(options({ proxyCertificate: { anchors: proxyCa.pem } }))
    expect(await call(await serve(auth), STRANGER, intruder)).toMatchObject({ status: 200, id: 'alice' })
  })

  it('a stranger with a valid certificate of the proxy CA but a name not allowed → untrusted proxy', async () => {
    const url = await serve(createClientCertAuthenticator(options()))
    const r = await call(url, STRANGER, intruder)
    expect(r).toMatchObject({ status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' })
    expect(r.reason).toMatch(/not an authenticated proxy/)
    expect(r.reason).toMatch(/allowedNames/)
  })

  it('the proxy address without a certificate → untrusted proxy', async () => {
    const url = await serve(createClientCertAuthenticator(options({ trustedProxies: [PROXY] })))
    expect(await call(url, PROXY, null)).toMatchObject({
      status: 401,
      code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY',
    })
  })

  it('a proxy certificate issued by the client CA → untrusted proxy', async () => {
    const url = await serve(createClientCertAuthenticator(options()))
    expect(await call(url, PROXY, fromClientCa)).toMatchObject({
      status: 401,
      code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY',
    })
  })

  it('a proxy certificate without clientAuth, or expired, → untrusted proxy', async () => {
    const url = await serve(createClientCertAuthenticator(options()))
    for (const c of [serverAuthOnly, expiredProxy])
      expect(await call(url, PROXY, c)).toMatchObject({
        status: 401,
        code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY',
      })
  })

  it('addresses and a certificate: both must hold', async () => {
    const url = await serve(createClientCertAuthenticator(options({ trustedProxies: [PROXY] })))
    expect(await call(url, PROXY, front)).toMatchObject({ status: 200, id: 'alice' })
    expect(await call(url, STRANGER, front)).toMatchObject({
      status: 401,
      code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY',
    })
  })

  it('the proxy forwards a bad client certificate → normal validation rejects it', async () => {
    const other = await createRootCA({ subject: 'CN=Unknown Client CA' })
    const mallory = await other.issueClient({ subject: 'CN=alice' })
    const url = await serve(createClientCertAuthenticator(options()))
    expect(await call(url, PROXY, front, forwardedHeaders('nginx', mallory))).toMatchObject({
      status: 401,
      code: 'ERR_CLIENT_CERT_UNTRUSTED',
    })
  })

  it("with tls enabled, a proxy connection without a header is not authenticated as the proxy's own certificate", async () => {
    const auth = createClientCertAuthenticator({
      ...options(),
      source: { forwarded: { format: 'nginx', proxyCertificate: proxyCertificate() }, tls: true },
    } as ClientCertOptions)
    const url = await serve(auth)
    expect(await call(url, PROXY, front, {})).toMatchObject({ status: 401, code: 'ERR_CLIENT_CERT_MISSING' })
    // A direct client with its own certificate and no header is still authenticated by its socket.
    expect(await call(url, STRANGER, alice, {})).toMatchObject({ status: 200, id: 'alice' })
  })

  it('publishes clientcert.forwarded.refused for a peer that is not an authenticated proxy', async () => {
    const seen: unknown[] = []
    const listener = (m: unknown) => seen.push(m)
    subscribe('clientcert.forwarded.refused', listener)
    try {
      const url = await serve(createClientCertAuthenticator(options()))
      await call(url, STRANGER, intruder)
    } finally {
      unsubscribe('clientcert.forwarded.refused', listener)
    }
    expect(seen).toContainEqual(
      expect.objectContaining({ peer: STRANGER, header: 'x-ssl-client-cert', why: 'untrusted-peer' }),
    )
  })

  it('updateTrust({ proxyCertificate }) re-judges a connection that is already open', async () => {
    const auth = createClientCertAuthenticator(options())
    const url = await serve(auth)
    const agent = createUndiciAgent({ client: front, ca: pki.serverCa.pem, localAddress: PROXY })
    try {
      const once = () =>
        requestWithUndici(url, {
          dispatcher: agent,
          ca: pki.serverCa.pem,
          headers: forwardedHeaders('nginx', alice),
        })
      expect((await once()).status).toBe(200)
      auth.updateTrust({ proxyCertificate: { anchors: otherProxyCa.pem } })
      const after = await once()
      expect(after.status).toBe(401)
      expect(after.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' })
      auth.updateTrust({ proxyCertificate: proxyCertificate() })
      expect((await once()).status).toBe(200)
    } finally {
      await agent.destroy()
    }
  })
})

describe('forwarded source: proxy CA files followed by watchTrust', () => {
  it('a new proxy CA file is applied, a proxy CA equal to the client CA is refused and the last good kept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cc-proxy-ca-'))
    const file = (name: string, text: string) => {
      writeFileSync(join(dir, name), text)
      return join(dir, name)
    }
    const anchors = file('ca.pem', pki.root.pem)
    const intermediates = file('int.pem', pki.intermediate.pem)
    const proxyAnchors = file('proxy-ca.pem', proxyCa.pem)
    const auth = createClientCertAuthenticator(options())
    const errors: TrustSourceError[] = []
    const watcher = watchTrust({
      authenticator: auth,
      anchors,
      intermediates,
      proxyAnchors,
      proxyCertificate: { allowedNames: ['front-proxy-client'] },
      intervalMs: 0,
      onError: (e) => errors.push(e),
    })
    try {
      const url = await serve(auth)
      const other = await otherProxyCa.issueClient({ subject: 'CN=front-proxy-client' })
      expect((await call(url, PROXY, front)).status).toBe(200)
      expect((await call(url, PROXY, other)).status).toBe(401)
      file('proxy-ca.pem', otherProxyCa.pem)
      expect(watcher.reload()).toBe(true)
      expect(await call(url, PROXY, other)).toMatchObject({ status: 200, id: 'alice' })
      expect(await call(url, PROXY, front)).toMatchObject({
        status: 401,
        code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY',
      })
      // allowedNames is kept with every update.
      const otherName = await otherProxyCa.issueClient({ subject: 'CN=intruder' })
      expect((await call(url, PROXY, otherName)).status).toBe(401)
      // The trap, arriving by file: refused, the last good proxy CA stays in force.
      file('proxy-ca.pem', pki.root.pem)
      expect(watcher.reload()).toBe(false)
      expect(errors.at(-1)?.message).toMatch(/proxyCertificate\.anchors/)
      expect((await call(url, PROXY, other)).status).toBe(200)
    } finally {
      watcher.close()
    }
  })
})

describe('forwarded source: proxyCertificate configuration', () => {
  const configError = (o: ClientCertOptions, option: string) => {
    let err: unknown
    try {
      createClientCertAuthenticator(o)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ClientCertConfigError)
    expect((err as ClientCertConfigError).option).toBe(option)
  }

  it('an empty allowedNames list is a configuration error', () => {
    configError(
      options({ proxyCertificate: { anchors: proxyCa.pem, allowedNames: [] } }),
      'source.forwarded.proxyCertificate.allowedNames',
    )
  })

  it('a blank or wildcard name is a configuration error', () => {
    for (const name of ['', '*', '*.example.com'])
      configError(
        options({ proxyCertificate: { anchors: proxyCa.pem, allowedNames: [name] } }),
        'source.forwarded.proxyCertificate.allowedNames[0]',
      )
  })

  it('a public root as proxy anchor needs allowedNames (any of its certificates would be a proxy)', () => {
    const root = rootCertificates.find((pem) => {
      try {
        createClientCertAuthenticator(
          options({ proxyCertificate: { anchors: pem, allowedNames: ['proxy'] } }),
        )
        return true
      } catch {
        return false
      }
    })
    expect(root).toBeDefined()
    configError(
      options({ proxyCertificate: { anchors: root } }),
      'source.forwarded.proxyCertificate.allowedNames',
    )
  })

  it('proxy anchors that are client anchors (or intermediates) are a configuration error', () => {
    configError(
      options({ proxyCertificate: { anchors: pki.root.pem } }),
      'source.forwarded.proxyCertificate.anchors',
    )
    configError(
      options({ proxyCertificate: { anchors: pki.intermediate.pem } }),
      'source.forwarded.proxyCertificate.anchors',
    )
  })

  it('missing anchors, unknown keys, and neither addresses nor a certificate are configuration errors', () => {
    configError(options({ proxyCertificate: {} }), 'source.forwarded.proxyCertificate.anchors')
    configError(
      options({ proxyCertificate: { anchors: proxyCa.pem, names: ['x'] } }),
      'source.forwarded.proxyCertificate.names',
    )
    configError(
      options({ proxyCertificate: undefined, trustedProxies: undefined }),
      'source.forwarded.trustedProxies',
    )
  })

  it('updateTrust refuses proxy anchors that overlap the client anchors, and keeps the old rules', () => {
    const auth = createClientCertAuthenticator(options())
    expect(() => auth.updateTrust({ proxyCertificate: { anchors: pki.root.pem } })).toThrow(
      ClientCertConfigError,
    )
    expect(() => auth.updateTrust({ trust: { anchors: proxyCa.pem } })).toThrow(ClientCertConfigError)
  })

  it('updateTrust({ proxyCertificate }) needs a forwarded source', () => {
    const auth = createClientCertAuthenticator({ allow: { authenticated: true } })
    expect(() => auth.updateTrust({ proxyCertificate: { anchors: proxyCa.pem } })).toThrow(
      ClientCertConfigError,
    )
  })
})
