import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import {
  type CertificateAuthority,
  createRootCA,
  createTestPki,
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
} from '../src/index.js'

/**
 * Kubernetes request-header identity (`source.requestHeader`): X-Remote-User, X-Remote-Group and
 * X-Remote-Extra-* from a front proxy that proved itself by its own certificate, over real
 * sockets (app on 127.0.0.1, proxy from 127.0.0.2, strangers from 127.0.0.3).
 */

const PROXY = '127.0.0.2'
const STRANGER = '127.0.0.3'

let pki: TestPki
let proxyCa: CertificateAuthority
let front: IssuedCertificate
let intruder: IssuedCertificate
let alice: IssuedCertificate

beforeAll(async () => {
  pki = await createTestPki()
  proxyCa = await createRootCA({ subject: 'CN=Front Proxy CA' })
  front = await proxyCa.issueClient({ subject: 'CN=front-proxy-client' })
  intruder = await proxyCa.issueClient({ subject: 'CN=intruder' })
  alice = await pki.issueClient({ subject: 'CN=alice' })
})

function options(requestHeader: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return {
    source: {
      requestHeader: {
        proxyCertificate: { anchors: proxyCa.pem, allowedNames: ['front-proxy-client'] },
        ...requestHeader,
      },
    },
    allow: { authenticated: true },
    ...extra,
  } as unknown as ClientCertOptions
}

const servers: https.Server[] = []
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections()
    await new Promise((r) => s.close(r))
  }
})

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
              ? {
                  id: r.principal.id,
                  kind: r.principal.kind,
                  groups: r.principal.groups,
                  extra: r.principal.extra,
                  source: r.principal.source,
                  fingerprint256: r.principal.fingerprint256,
                }
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

interface Answer {
  status: number
  id?: string
  kind?: string
  groups?: string[]
  extra?: Record<string, string[]>
  source?: Record<string, unknown>
  code?: string
  reason?: string
  fingerprint256?: string
}

async function call(
  url: string,
  from: string,
  client: IssuedCertificate | null,
  headers: Record<string, string | string[]>,
): Promise<Answer> {
  const res = await requestWithUndici(url, { localAddress: from, client, ca: pki.serverCa.pem, headers })
  return { status: res.status, ...(res.json() as object) }
}

const ALICE = {
  'X-Remote-User': 'alice',
  'X-Remote-Group': ['dev', 'ops'],
  'X-Remote-Extra-Scopes': ['read', 'write'],
  'X-Remote-Extra-Acme.com%2fProject': 'p1',
}

describe('request-header identity from a certificate-authenticated proxy', () => {
  it('user, repeated groups and extras become a request-header principal', async () => {
    const url = await serve(createClientCertAuthenticator(options()))
    const r = await call(url, PROXY, front, ALICE)
    expect(r).toMatchObject({
      status: 200,
      id: 'alice',
      kind: 'request-header',
      groups: ['dev', 'ops'],
      extra: { scopes: ['read', 'write'], 'acme.com/project': ['p1'] },
    })
    expect(r.source).toMatchObject({
      type: 'request-header',
      proxy: PROXY,
      proxySubject: 'CN=front-proxy-client',
    })
    // No client certificate: nothing a certificate policy or a bound token could match.
    expect(r.fingerprint256).toBe('')
  })

  it('policies see the user and the groups', async () => {
    const groups = await serve(createClientCertAuthenticator(options({}, { allow: { groups: ['ops'] } })))
    expect(await call(groups, PROXY, front, ALICE)).toMatchObject({ status: 200, id: 'alice' })
    const admins = await serve(createClientCertAuthenticator(options({}, { allow: { groups: ['admin'] } })))
    expect(await call(admins, PROXY, front, ALICE)).toMatchObject({
      status: 403,
      code: 'ERR_CLIENT_CERT_NOT_ALLOWED',
    })
    const pinned = await serve(
      createClientCertAuthenticator(options({}, { allow: { pins: [front.fingerprint256] } })),
    )
    expect((await call(pinned, PROXY, front, ALICE)).status).toBe(403)
  })

  it('a stranger sending X-Remote-User, without a certificate or with a wrong-name proxy certificate → 401', async () => {
    const url = await serve(createClientCertAuthenticator(options()))
    for (const client of [null, intruder, alice])
      expect(await call(url, STRANGER, client, { 'X-Remote-User': 'admin' })).toMatchObject({
        status: 401,
        code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY',
      })
  })

  it('a stranger sending only a group, an extra or an underscore spelling → 401', async () => {
    const url = await serve(createClientCertAuthenticator(options()))
    const sent: Record<string, string>[] = [
      { 'X-Remote-Group': 'system:masters' },
      { 'X-Remote-Extra-Scopes': 'all' },
      { x_remote_user: 'admin' },
    ]
    for (const h of sent)
      expect(await call(url, STRANGER, null, h)).toMatchObject({
        status: 401,
        code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY',
      })
  })

  it('the proxy passes an underscore twin along with its own header → 401 untrusted proxy (spelling)', async () => {
    const seen: unknown[] = []
    const listener = (m: unknown) => seen.push(m)
    subscribe('clientcert.forwarded.refused', listener)
    try {
      const url = await serve(createClientCertAuthenticator(options()))
      const twins: Record<string, string>[] = [
        { x_remote_group: 'system:masters' },
        { 'X_Remote_Extra-Scopes': 'all' },
      ]
      for (const twin of twins)
        expect(await call(url, PROXY, front, { ...ALICE, ...twin })).toMatchObject({
          status: 401,
          code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY',
        })
    } finally {
      unsubscribe('clientcert.forwarded.refused', listener)
    }
    expect(seen).toContainEqual(expect.objectContaining({ peer: PROXY, why: 'spelling' }))
  })

  it('a repeated user header, groups without a user, or an empty value → 401 malformed', async () => {
    const url = await serve(createClientCertAuthenticator(options()))
    const sent: [Record<string, string | string[]>, RegExp][] = [
      [{ 'X-Remote-User': ['alice', 'admin'] }, /appears 2 times/],
      [{ 'X-Remote-Group': 'ops' }, /without a user/],
      [{ 'X-Remote-User': 'alice', 'X-Remote-Group': '' }, /x-remote-group is empty/],
      [{ 'X-Remote-User': 'alice', 'X-Remote-Extra-': 'x' }, /extra header key is empty/],
      [{ 'X-Remote-User': 'alice', 'X-Remote-Extra-%zz': 'x' }, /percent escape/],
    ]
    for (const [h, why] of sent) {
      const r = await call(url, PROXY, front, h)
      expect(r).toMatchObject({ status: 401, code: 'ERR_CLIENT_CERT_MALFORMED' })
      expect(r.reason).toMatch(why)
    }
  })

  it('the proxy sends no user → 401 missing', async () => {
    const url = await serve(createClientCertAuthenticator(options()))
    expect(await call(url, PROXY, front, {})).toMatchObject({ status: 401, code: 'ERR_CLIENT_CERT_MISSING' })
  })

  it('configured header names (as kube-apiserver --requestheader-*-headers): only those are read', async () => {
    const url = await serve(
      createClientCertAuthenticator(
        options({
          usernameHeaders: ['X-Auth-User', 'X-Remote-User'],
          groupHeaders: ['X-Auth-Group'],
          extraHeaderPrefixes: ['X-Auth-Extra-'],
        }),
      ),
    )
    expect(
      await call(url, PROXY, front, {
        'X-Auth-User': 'bob',
        'X-Auth-Group': 'dev',
        'X-Auth-Extra-Team': 'a',
      }),
    ).toMatchObject({ status: 200, id: 'bob', groups: ['dev'], extra: { team: ['a'] } })
    // The first configured user header present wins.
    expect(await call(url, PROXY, front, { 'X-Remote-User': 'carol', 'X-Auth-User': 'bob' })).toMatchObject({
      status: 200,
      id: 'bob',
    })
    expect(await call(url, STRANGER, null, { 'X-Auth-Extra-Team': 'a' })).toMatchObject({
      status: 401,
      code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY',
    })
  })

  it('with tls enabled, direct clients use their certificate; the proxy never becomes a client', async () => {
    const url = await serve(
      createClientCertAuthenticator(
        options(
          {},
          {
            source: {
              requestHeader: {
                proxyCertificate: { anchors: proxyCa.pem, allowedNames: ['front-proxy-client'] },
              },
              tls: true,
            },
            trust: { anchors: pki.root.pem, intermediates: pki.intermediate.pem },
            identity: 'cn',
          },
        ),
      ),
    )
    expect(await call(url, STRANGER, alice, {})).toMatchObject({ status: 200, id: 'alice', kind: 'cn' })
    expect(await call(url, PROXY, front, {})).toMatchObject({ status: 401, code: 'ERR_CLIENT_CERT_MISSING' })
    expect(await call(url, PROXY, front, ALICE)).toMatchObject({ status: 200, kind: 'request-header' })
  })

  it('updateTrust({ proxyCertificate }) replaces the proxy CA of the request-header source', async () => {
    const other = await createRootCA({ subject: 'CN=Other Proxy CA' })
    const auth = createClientCertAuthenticator(options())
    const url = await serve(auth)
    auth.updateTrust({ proxyCertificate: { anchors: other.pem } })
    expect(await call(url, PROXY, front, ALICE)).toMatchObject({
      status: 401,
      code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY',
    })
  })
})

describe('request-header identity: configuration', () => {
  const configError = (o: unknown, option: string) => {
    let err: unknown
    try {
      createClientCertAuthenticator(o as ClientCertOptions)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ClientCertConfigError)
    expect((err as ClientCertConfigError).option).toBe(option)
  }

  it('is only allowed with a certificate-authenticated proxy', () => {
    configError(
      { source: { requestHeader: { trustedProxies: [PROXY] } }, allow: { authenticated: true } },
      'source.requestHeader.proxyCertificate',
    )
  })

  it('is a source of its own: not together with forwarded', () => {
    configError(
      {
        source: {
          requestHeader: { proxyCertificate: { anchors: proxyCa.pem } },
          forwarded: { format: 'nginx', trustedProxies: [PROXY] },
        },
        trust: { anchors: pki.root.pem },
        allow: { authenticated: true },
      },
      'source',
    )
  })

  it('with tls enabled, needs app-level client trust (apart from the proxy CA)', () => {
    configError(
      {
        source: { requestHeader: { proxyCertificate: { anchors: proxyCa.pem } }, tls: true },
        allow: { authenticated: true },
      },
      'trust',
    )
    configError(
      {
        source: { requestHeader: { proxyCertificate: { anchors: proxyCa.pem } }, tls: true },
        trust: { anchors: proxyCa.pem },
        allow: { authenticated: true },
      },
      'source.requestHeader.proxyCertificate.anchors',
    )
  })

  it('header name lists must be non-empty lists of header names', () => {
    configError(options({ usernameHeaders: [] }), 'source.requestHeader.usernameHeaders')
    configError(options({ groupHeaders: ['X Remote'] }), 'source.requestHeader.groupHeaders[0]')
    configError(options({ extraHeaderPrefixes: [''] }), 'source.requestHeader.extraHeaderPrefixes[0]')
    configError(options({ usernameHeaders: ['X-A', 'x-a'] }), 'source.requestHeader.usernameHeaders[1]')
    configError(options({ whatever: true }), 'source.requestHeader.whatever')
  })
})
