/**
 * Configuration mistakes that used to pass silently (issue 13, findings 7, 8 and 13): each
 * one is refused with `ClientCertConfigError` at construction (or at `updateTrust`), and the
 * rules in force stay unchanged. Real-socket checks show what the refused setups would have let in.
 */
import {
  createCrl,
  createTestPki,
  forwardedHeaders,
  type IssuedCertificate,
  type RunningServer,
  requestHttp,
  requestWithHttps,
  startHttpServer,
  startMtlsServer,
  type TestPki,
} from '@clientcert/testing'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  type AllowPolicy,
  type ClientCertAuthenticator,
  ClientCertConfigError,
  compilePolicy,
  createClientCertAuthenticator,
} from '../src/index.js'

let pki: TestPki
let alice: IssuedCertificate
beforeAll(async () => {
  pki = await createTestPki()
  alice = await pki.issueClient({ subject: 'CN=alice' })
})

const running: RunningServer[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()))
})

function configError(fn: () => unknown): ClientCertConfigError {
  let err: unknown
  try {
    fn()
  } catch (e) {
    err = e
  }
  expect(err).toBeInstanceOf(ClientCertConfigError)
  return err as ClientCertConfigError
}

/** A server that answers with the authenticator's verdict as JSON. */
async function serve(
  auth: ClientCertAuthenticator,
  start: (h: Parameters<typeof startHttpServer>[0]) => Promise<RunningServer>,
): Promise<RunningServer> {
  const s = await start(async (req, res) => {
    const result = await auth.authenticate(req)
    res.writeHead(result.ok ? 200 : result.error.status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(result.ok ? { id: result.principal.id } : { code: result.error.code }))
  })
  running.push(s)
  return s
}

describe('finding 7: updateTrust() with a key present but undefined is a configuration error', () => {
  const base = () =>
    createClientCertAuthenticator({
      trust: { anchors: pki.root.pem, intermediates: pki.intermediate.pem },
      identity: 'cn',
      allow: { ids: ['alice'] },
      revocation: { crls: { sources: [createCrl(pki.intermediate).pem, createCrl(pki.root).pem] } },
    })
  for (const key of ['trust', 'allow', 'revocation'] as const) {
    it(`updateTrust({ ${key}: undefined }) throws, naming updateTrust.${key}`, () => {
      const auth = base()
      const err = configError(() => auth.updateTrust({ [key]: undefined }))
      expect(err.option).toBe(`updateTrust.${key}`)
    })
  }

  it('over a real socket: a revoked client stays refused after updateTrust({ revocation: undefined })', async () => {
    const crl = createCrl(pki.intermediate, { revoked: [{ serialNumber: alice.certificate.serialNumber }] })
    const auth = createClientCertAuthenticator({
      trust: { anchors: pki.root.pem, intermediates: pki.intermediate.pem },
      identity: 'cn',
      allow: { authenticated: true },
      revocation: { crls: { sources: [crl.pem, createCrl(pki.root).pem] } },
    })
    const server = await serve(auth, (h) =>
      startMtlsServer(h, { pki, rejectUnauthorized: false, tlsOptions: { ca: pki.root.pem } }),
    )
    const ask = () => requestWithHttps(server.url, { client: alice, ca: pki.serverCa.pem })
    expect((await ask()).json()).toEqual({ code: 'ERR_CLIENT_CERT_REVOKED' })
    expect(() => auth.updateTrust({ revocation: undefined })).toThrow(ClientCertConfigError)
    const after = await ask()
    expect(after.status).toBe(401)
    expect(after.json()).toEqual({ code: 'ERR_CLIENT_CERT_REVOKED' })
  })
})

describe('finding 8: IPv6 allowlist entries are judged by the IPv4 peers they cover', () => {
  const forwarded = (trustedProxies: string[]) => ({
    source: { forwarded: { format: 'haproxy' as const, trustedProxies } },
    trust: { anchors: pki.root.pem, intermediates: pki.intermediate.pem },
    identity: 'cn' as const,
    allow: { authenticated: true as const },
  })
  const refused = [
    '::ffff:0:0/96',
    '0:0:0:0:0:ffff:0:0/96',
    '::FFFF:0:0/96',
    '::ffff:0.0.0.0/96',
    '::ffff:255.255.255.255/96',
    '::ffff:0:0/80',
    '::1/64',
    '::1/1',
    '::/8',
    '::2/16',
  ]
  for (const entry of refused) {
    it(`refuses "${entry}" (covers every IPv4 peer)`, () => {
      const err = configError(() => createClientCertAuthenticator(forwarded(['10.0.0.5', entry])))
      expect(err.option).toBe('source.forwarded.trustedProxies[1]')
      expect(err.message).toMatch(/would trust every (IPv4 )?peer/)
    })
  }
  const accepted = [
    '::ffff:10.0.0.0/104',
    '::ffff:a00:0/104',
    '::ffff:0:0/97',
    '::1',
    '::1/128',
    '64:ff9b::/96',
    '2001:db8::/32',
    'fd00::/8',
    '10.0.0.0/8',
  ]
  for (const entry of accepted) {
    it(`accepts "${entry}"`, () => {
      expect(() => createClientCertAuthenticator(forwarded([entry]))).not.toThrow()
    })
  }

  it('over a real socket: a narrow v6 entry admits its IPv4 range and no IPv4 stranger', async () => {
    const headers = forwardedHeaders('haproxy', alice)
    const narrow = await serve(
      createClientCertAuthenticator(forwarded(['::ffff:10.0.0.0/104'])),
      startHttpServer,
    )
    const stranger = await requestHttp(narrow.url, { headers })
    expect(stranger.status).toBe(401)
    expect(stranger.json()).toEqual({ code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' })
    // The control: the same kind of entry covering the loopback range does apply to IPv4 peers.
    const loopback = await serve(
      createClientCertAuthenticator(forwarded(['::ffff:127.0.0.0/104'])),
      startHttpServer,
    )
    const proxy = await requestHttp(loopback.url, { headers })
    expect(proxy.status).toBe(200)
    expect(proxy.json()).toEqual({ id: 'alice' })
  })
})

describe('finding 13: a policy with an empty list can never match and is refused', () => {
  const refused: Array<[string, unknown, string]> = [
    ['ids: []', { ids: [] }, 'allow.ids'],
    ['groups: []', { groups: [] }, 'allow.groups'],
    ['pins: []', { pins: [] }, 'allow.pins'],
    ['dnsSuffix: []', { dnsSuffix: [] }, 'allow.dnsSuffix'],
    ['spiffe: []', { spiffe: [] }, 'allow.spiffe'],
    ['any: []', { any: [] }, 'allow.any'],
    ['all: []', { all: [] }, 'allow.all'],
    ['nested any[1].ids: []', { any: [{ ids: ['alice'] }, { ids: [] }] }, 'allow.any[1].ids'],
    ['nested all[0].any: []', { all: [{ any: [] }] }, 'allow.all[0].any'],
  ]
  for (const [name, policy, option] of refused) {
    it(`createClientCertAuthenticator({ allow: { ${name} } }) throws at ${option}`, () => {
      const err = configError(() =>
        createClientCertAuthenticator({ trust: { anchors: pki.root.pem }, allow: policy as AllowPolicy }),
      )
      expect(err.option).toBe(option)
    })
    it(`per-route compilePolicy({ ${name} }) throws too`, () => {
      const err = configError(() => compilePolicy(policy as AllowPolicy, 'route'))
      expect(err.option).toBe(option.replace(/^allow/, 'route'))
    })
  }
  it('non-empty lists still compile', () => {
    for (const policy of [
      { ids: ['alice'] },
      { groups: ['ops'] },
      { any: [{ ids: ['alice'] }] },
      { all: [{ ids: ['alice'] }, { groups: ['ops'] }] },
    ])
      expect(() => compilePolicy(policy)).not.toThrow()
  })
})
