import { createHash, X509Certificate } from 'node:crypto'
import {
  createRootCA,
  createSelfSigned,
  createTestPki,
  generateKeyPair,
  type IssuedCertificate,
  type TestPki,
} from '@clientcert/testing'
import { beforeAll, describe, expect, it, vi } from 'vitest'
import {
  type AuthResult,
  type ClientCertError,
  ClientCertError as ClientCertErrorClass,
  type ClientCertErrorCode,
  type ClientCertOptions,
  compilePolicy,
  createClientCertAuthenticator,
  isClientCertError,
  type OptionalAuthResult,
  publicMessage,
  toProblemDetails,
} from '../src/index.js'
import { DAY, HOUR, NOW, NOW_MS, OIDS, tlsSocket } from './helpers.js'

const ALLOW = { authenticated: true } as const
const t = { now: NOW }

/** An authenticator on the pinned clock, admitting every valid client unless told otherwise. */
function authenticator(overrides: Partial<ClientCertOptions> = {}) {
  return createClientCertAuthenticator({ allow: ALLOW, now: () => NOW, ...overrides })
}

/** Asserts a rejection: code, fixed public message, detailed reason and status together. */
function rejected(
  result: AuthResult | OptionalAuthResult,
  code: ClientCertErrorCode,
  reason: string | RegExp,
  status?: number,
): ClientCertError {
  if (result.ok) throw new Error(`expected ${code}, got a principal`)
  const { error } = result
  expect(error).toBeInstanceOf(ClientCertErrorClass)
  expect(isClientCertError(error)).toBe(true)
  expect(error.name).toBe('ClientCertError')
  expect(error.code).toBe(code)
  expect(error.message).toBe(publicMessage(code))
  if (typeof reason === 'string') expect(error.reason).toBe(reason)
  else expect(error.reason).toMatch(reason)
  if (status !== undefined) {
    expect(error.status).toBe(status)
    expect(error.statusCode).toBe(status)
  }
  return error
}

function accepted(result: AuthResult | OptionalAuthResult) {
  if (!result.ok) throw new Error(`expected a principal, got ${result.error.code}: ${result.error.reason}`)
  if (result.principal === undefined) throw new Error('expected a principal, got none')
  return result.principal
}

let pki: TestPki
let alice: IssuedCertificate
let jane: IssuedCertificate
let selfSigned: IssuedCertificate
let stranger: IssuedCertificate

beforeAll(async () => {
  pki = await createTestPki({ now: NOW })
  const otherRoot = await createRootCA({ ...t, subject: 'CN=Stranger Root' })
  ;[alice, jane, selfSigned, stranger] = await Promise.all([
    pki.issueClient({
      subject: 'CN=alice, O=acme',
      serialNumber: '8badf00d',
      san: {
        dns: ['alice.example.com'],
        uri: ['spiffe://example.org/ns/prod/sa/alice'],
        email: ['alice@example.com'],
        ip: ['2001:db8:0:0:1:0:0:1'],
      },
    }),
    pki.issueClient({ subject: 'CN=jane, O=system:masters, O=dev' }),
    createSelfSigned({ ...t, subject: 'CN=pinned device' }),
    otherRoot.issueClient({ ...t, subject: 'CN=stranger' }),
  ])
})

describe('reading the socket', () => {
  const missing = 'ERR_CLIENT_CERT_MISSING'
  const noCert = 'the client presented no certificate on this connection'

  it('rejects a request without a socket, or with a non-TLS one', async () => {
    const auth = authenticator()
    rejected(await auth.authenticate({}), missing, 'the request has no socket', 401)
    rejected(await auth.authenticate({ socket: undefined }), missing, 'the request has no socket')
    rejected(await auth.authenticate({ socket: null }), missing, 'the request has no socket')
    rejected(await auth.authenticate({ socket: {} }), missing, 'the connection is not TLS')
    rejected(
      await auth.authenticate({ socket: tlsSocket(alice.der, { encrypted: false }) }),
      missing,
      'the connection is not TLS',
    )
    rejected(
      await auth.authenticate({ socket: tlsSocket(alice.der, { encrypted: 'yes' }) }),
      missing,
      'the connection is not TLS',
    )
  })

  it('rejects a destroyed socket', async () => {
    const socket = tlsSocket(alice.der, { destroyed: true })
    rejected(await authenticator().authenticate({ socket }), missing, 'the socket is destroyed')
  })

  it('rejects, without crashing, when reading the peer certificate throws', async () => {
    const socket = tlsSocket(alice.der, {
      getPeerX509Certificate: () => {
        throw new Error('socket hang up')
      },
    })
    rejected(
      await authenticator().authenticate({ socket }),
      missing,
      'reading the peer certificate failed: socket hang up',
    )
  })

  it('rejects a socket with no peer certificate, an empty one, or a non-byte one', async () => {
    const auth = authenticator()
    rejected(await auth.authenticate({ socket: tlsSocket(undefined) }), missing, noCert)
    for (const raw of [Buffer.alloc(0), 'MIIB...', [0x30, 0x00], undefined]) {
      const socket = tlsSocket(alice.der, { getPeerX509Certificate: () => ({ raw }) })
      rejected(await auth.authenticate({ socket }), missing, noCert)
    }
  })

  it('rejects authorized: true without a certificate (TLS 1.3 resumption, nodejs/node#35317)', async () => {
    const socket = tlsSocket(undefined, { authorized: true, authorizationError: null })
    rejected(await authenticator().authenticate({ socket }), missing, noCert, 401)
  })

  it('reads getPeerCertificate(false).raw, the cheaper call, when the socket has it', async () => {
    // A policy naming clients: the chain walk a policy naming nobody needs is not made.
    const auth = authenticator({ allow: { pins: [jane.fingerprint256] } })
    let x509Reads = 0
    const both = tlsSocket(undefined, {
      getPeerX509Certificate: () => {
        x509Reads++
        return { raw: Buffer.from(alice.der) }
      },
      getPeerCertificate: (detailed?: boolean) =>
        detailed === false ? { raw: Buffer.from(jane.der) } : null,
    })
    expect(accepted(await auth.authenticate({ socket: both })).fingerprint256).toBe(jane.fingerprint256)
    expect(x509Reads).toBe(0)
  })

  it('uses getPeerCertificate(false) alone too (no getPeerX509Certificate)', async () => {
    // A policy naming the client: this fake reports no issuer chain, which a policy naming
    // nobody refuses (public-roots.test.ts).
    const auth = authenticator({ allow: { pins: [alice.fingerprint256] } })
    const legacy = (raw: unknown) =>
      tlsSocket(undefined, { getPeerX509Certificate: undefined, getPeerCertificate: () => ({ raw }) })
    expect(accepted(await auth.authenticate({ socket: legacy(Buffer.from(alice.der)) })).fingerprint256).toBe(
      alice.fingerprint256,
    )
    // Node returns {} when there is no peer certificate.
    const none = tlsSocket(undefined, { getPeerX509Certificate: undefined, getPeerCertificate: () => ({}) })
    rejected(await auth.authenticate({ socket: none }), missing, noCert)
  })
})

describe("the TLS stack's verdict (no app-level trust)", () => {
  const why = (err: string) => `the TLS stack did not verify the client certificate (${err})`

  it('rejects authorized: true with a non-empty authorizationError', async () => {
    const socket = tlsSocket(alice.der, {
      authorized: true,
      authorizationError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    })
    rejected(
      await authenticator().authenticate({ socket }),
      'ERR_CLIENT_CERT_UNTRUSTED',
      why('UNABLE_TO_VERIFY_LEAF_SIGNATURE'),
    )
  })

  it('maps authorizationError CERT_HAS_EXPIRED to ERR_CLIENT_CERT_EXPIRED', async () => {
    const socket = tlsSocket(alice.der, { authorized: false, authorizationError: 'CERT_HAS_EXPIRED' })
    rejected(
      await authenticator().authenticate({ socket }),
      'ERR_CLIENT_CERT_EXPIRED',
      why('CERT_HAS_EXPIRED'),
      401,
    )
  })

  it('maps other OpenSSL codes, and rejects authorized: false without a code', async () => {
    const auth = authenticator()
    const verdict = (authorized: unknown, authorizationError: unknown) =>
      auth.authenticate({ socket: tlsSocket(alice.der, { authorized, authorizationError }) })
    rejected(
      await verdict(false, 'CERT_NOT_YET_VALID'),
      'ERR_CLIENT_CERT_NOT_YET_VALID',
      why('CERT_NOT_YET_VALID'),
    )
    rejected(await verdict(false, 'INVALID_CA'), 'ERR_CLIENT_CERT_BASIC_CONSTRAINTS', why('INVALID_CA'))
    rejected(
      await verdict(false, 'DEPTH_ZERO_SELF_SIGNED_CERT'),
      'ERR_CLIENT_CERT_UNTRUSTED',
      why('DEPTH_ZERO_SELF_SIGNED_CERT'),
    )
    rejected(await verdict(false, null), 'ERR_CLIENT_CERT_UNTRUSTED', why('not authorized'))
    // Only the boolean true counts as authorized.
    rejected(await verdict('true', null), 'ERR_CLIENT_CERT_UNTRUSTED', why('not authorized'))
  })

  it("our own leaf checks refine the TLS stack's verdict", async () => {
    const expired = await pki.issueClient({
      subject: 'CN=old',
      notBefore: new Date(NOW_MS - 2 * DAY),
      notAfter: new Date(NOW_MS - DAY),
    })
    const socket = tlsSocket(expired.der, { authorized: false, authorizationError: 'UNSPECIFIED' })
    rejected(
      await authenticator().authenticate({ socket }),
      'ERR_CLIENT_CERT_EXPIRED',
      `the client certificate expired at ${new Date(NOW_MS - DAY).toISOString()}; ${why('UNSPECIFIED')}`,
    )
  })

  // BUG (prototype surprise, THREATS.md H; not an RFC rule): OPENSSL_CODES is a plain object, so
  // an authorizationError naming an Object.prototype member maps to a function instead of a code
  // and the request ends in ERR_CLIENT_CERT_INTERNAL (500) instead of ERR_CLIENT_CERT_UNTRUSTED.
  it('an authorizationError named like an Object.prototype member is still UNTRUSTED', async () => {
    const socket = tlsSocket(alice.der, { authorized: false, authorizationError: 'constructor' })
    rejected(
      await authenticator().authenticate({ socket }),
      'ERR_CLIENT_CERT_UNTRUSTED',
      why('constructor'),
      401,
    )
  })

  it('rejects garbage DER from an authorized socket as MALFORMED', async () => {
    const socket = tlsSocket(Buffer.from('not a certificate'))
    rejected(
      await authenticator().authenticate({ socket }),
      'ERR_CLIENT_CERT_MALFORMED',
      'the client certificate is not valid DER: element overruns its container',
      401,
    )
    const trailing = tlsSocket(Uint8Array.from([...alice.der, 0]))
    rejected(
      await authenticator().authenticate({ socket: trailing }),
      'ERR_CLIENT_CERT_MALFORMED',
      'the client certificate is not valid DER: trailing bytes after element',
    )
  })

  // BUG (see parse.test.ts): invalid UTF-8 in a name throws a TypeError, not a DerError, so a
  // malformed certificate becomes a 500 (ERR_CLIENT_CERT_INTERNAL) instead of a 401.
  it('rejects invalid UTF-8 in the subject as MALFORMED, not INTERNAL', async () => {
    const value = 'Zoë'
    const cert = await pki.issueClient({ subject: `CN=${value}` })
    const bytes = Uint8Array.from(cert.der)
    bytes[Buffer.from(bytes).indexOf(Buffer.from(value, 'utf8')) + 2] = 0xff
    rejected(
      await authenticator().authenticate({ socket: tlsSocket(bytes) }),
      'ERR_CLIENT_CERT_MALFORMED',
      /^the client certificate is not valid DER: /,
      401,
    )
  })

  it('applies the leaf rules to a certificate the TLS stack accepted', async () => {
    const serverOnly = await pki.issueClient({ subject: 'CN=server-ish', eku: ['serverAuth'] })
    rejected(
      await authenticator().authenticate({ socket: tlsSocket(serverOnly.der) }),
      'ERR_CLIENT_CERT_EKU',
      `the client certificate extendedKeyUsage (${OIDS.serverAuth}) lacks ${OIDS.clientAuth}`,
    )
    const caLeaf = await pki.issueClient({ subject: 'CN=ca-leaf', basicConstraints: { ca: true } })
    rejected(
      await authenticator().authenticate({ socket: tlsSocket(caLeaf.der) }),
      'ERR_CLIENT_CERT_BASIC_CONSTRAINTS',
      'the client certificate is a CA certificate (basicConstraints cA=TRUE)',
    )
  })
})

describe('the principal', () => {
  it('carries the certificate facts, with the fingerprint as the default id', async () => {
    const p = accepted(await authenticator().authenticate({ socket: tlsSocket(alice.der) }))
    const x = new X509Certificate(Buffer.from(alice.der))
    expect(p.id).toBe(alice.fingerprint256)
    expect(p.kind).toBe('fingerprint')
    expect(p.groups).toEqual([])
    expect(p.subject.dn).toBe('O=acme,CN=alice')
    expect(p.subject.rdns).toEqual([
      [{ type: 'CN', oid: '2.5.4.3', value: 'alice', isString: true }],
      [{ type: 'O', oid: '2.5.4.10', value: 'acme', isString: true }],
    ])
    expect(p.issuer.dn).toBe('CN=Test Client Intermediate CA')
    expect(p.san).toEqual({
      dns: ['alice.example.com'],
      uri: ['spiffe://example.org/ns/prod/sa/alice'],
      email: ['alice@example.com'],
      ip: ['2001:db8::1:0:0:1'],
    })
    expect(p.spiffeId).toBe('spiffe://example.org/ns/prod/sa/alice')
    expect(p.serialNumber).toBe('8badf00d')
    expect(p.serialNumber.toUpperCase()).toBe(x.serialNumber)
    expect(p.notBefore).toEqual(new Date(x.validFrom))
    expect(p.notAfter).toEqual(new Date(x.validTo))
    expect(p.fingerprint256).toBe(x.fingerprint256.replaceAll(':', '').toLowerCase())
    expect(p.x5tS256).toBe(createHash('sha256').update(alice.der).digest('base64url'))
    expect(p.spkiSha256).toBe(
      createHash('sha256')
        .update(x.publicKey.export({ type: 'spki', format: 'der' }))
        .digest('hex'),
    )
    expect(Buffer.from(p.certificate.rawData).equals(Buffer.from(alice.der))).toBe(true)
    expect(p.chain).toEqual([]) // the TLS stack verified the chain; none is rebuilt
    expect(p.source).toEqual({ type: 'tls' })
    expect(Object.isFrozen(p)).toBe(true)
    expect(Object.isFrozen(p.groups)).toBe(true)
  })

  describe('identity mappings', () => {
    it.each([
      ['spiffe', 'spiffe://example.org/ns/prod/sa/alice', 'spiffe'],
      ['san-dns', 'alice.example.com', 'dns'],
      ['san-uri', 'spiffe://example.org/ns/prod/sa/alice', 'uri'],
      ['san-email', 'alice@example.com', 'email'],
      ['san-ip', '2001:db8::1:0:0:1', 'ip'],
      ['subject', 'O=acme,CN=alice', 'subject'],
      ['cn', 'alice', 'cn'],
    ] as const)('%s → id %s', async (identity, id, kind) => {
      const p = accepted(await authenticator({ identity }).authenticate({ socket: tlsSocket(alice.der) }))
      expect([p.id, p.kind, p.groups]).toEqual([id, kind, []])
    })

    it('kubernetes: CN is the user, each O a group, in certificate order', async () => {
      const p = accepted(
        await authenticator({ identity: 'kubernetes' }).authenticate({ socket: tlsSocket(jane.der) }),
      )
      expect([p.id, p.kind, p.groups]).toEqual(['jane', 'kubernetes', ['system:masters', 'dev']])
    })

    it('custom functions, sync and async, see the certificate facts', async () => {
      const sync = vi.fn((facts: { subject: { dn: string } }) => `user:${facts.subject.dn}`)
      const p1 = accepted(
        await authenticator({ identity: sync }).authenticate({ socket: tlsSocket(alice.der) }),
      )
      expect([p1.id, p1.kind]).toEqual(['user:O=acme,CN=alice', 'custom'])
      expect(sync).toHaveBeenCalledWith(expect.objectContaining({ fingerprint256: alice.fingerprint256 }))
      const async = async (facts: { san: { email: readonly string[] } }) => facts.san.email[0] ?? ''
      const p2 = accepted(
        await authenticator({ identity: async }).authenticate({ socket: tlsSocket(alice.der) }),
      )
      expect([p2.id, p2.kind]).toEqual(['alice@example.com', 'custom'])
    })

    it('rejects a certificate without a usable identity under the mapping', async () => {
      const [twoDns, twoCns, multiValued, controlChar] = await Promise.all([
        pki.issueClient({ subject: 'CN=x', san: { dns: ['a.example.com', 'b.example.com'] } }),
        pki.issueClient({ subject: 'CN=a, CN=b' }),
        pki.issueClient({
          subject: [
            [
              { type: 'CN', value: 'a' },
              { type: 'O', value: 'b' },
            ],
          ],
        }),
        pki.issueClient({ subject: [[{ type: 'CN', value: 'eve\nadmin' }]] }),
      ])
      const id = 'ERR_CLIENT_CERT_IDENTITY'
      const run = (cert: IssuedCertificate, identity: ClientCertOptions['identity']) =>
        authenticator({ identity }).authenticate({ socket: tlsSocket(cert.der) })
      rejected(await run(twoDns, 'san-dns'), id, 'expected exactly one DNS SAN, found 2')
      rejected(await run(jane, 'san-email'), id, 'expected exactly one email SAN, found 0')
      rejected(await run(twoCns, 'cn'), id, 'expected exactly one CN in the subject, found 2')
      rejected(await run(multiValued, 'cn'), id, 'the CN is part of a multi-valued RDN')
      rejected(await run(controlChar, 'cn'), id, 'CN contains control characters')
      rejected(await run(jane, 'spiffe'), id, 'an X509-SVID has exactly one URI SAN, this certificate has 0')
    })

    it('rejects a custom function that throws or returns no non-empty string', async () => {
      const id = 'ERR_CLIENT_CERT_IDENTITY'
      const run = (identity: ClientCertOptions['identity']) =>
        authenticator({ identity }).authenticate({ socket: tlsSocket(alice.der) })
      rejected(
        await run(() => {
          throw new Error('directory down')
        }),
        id,
        'the identity function threw: Error: directory down',
      )
      rejected(
        await run(async () => Promise.reject(new TypeError('nope'))),
        id,
        'the identity function threw: TypeError: nope',
      )
      rejected(await run(() => ''), id, 'the custom identity is empty')
      rejected(await run(() => 'a\u0000b'), id, 'the custom identity contains control characters')
      rejected(await run(() => 42 as unknown as string), id, 'the identity function returned no string')
    })

    it('spiffe: the leaf must be a valid X509-SVID', async () => {
      const uri = 'spiffe://example.org/ns/prod/sa/api'
      const [noKeyUsage, certSign, crlSign, twoUris, dotDot] = await Promise.all([
        pki.issueClient({ subject: 'CN=svid', san: { uri: [uri] }, keyUsage: null }),
        pki.issueClient({
          subject: 'CN=svid',
          san: { uri: [uri] },
          keyUsage: ['digitalSignature', 'keyCertSign'],
        }),
        pki.issueClient({
          subject: 'CN=svid',
          san: { uri: [uri] },
          keyUsage: ['digitalSignature', 'cRLSign'],
        }),
        pki.issueClient({ subject: 'CN=svid', san: { uri: [uri, 'spiffe://example.org/other'] } }),
        pki.issueClient({ subject: 'CN=svid', san: { uri: ['spiffe://example.org/ns/../admin'] } }),
      ])
      const id = 'ERR_CLIENT_CERT_IDENTITY'
      const run = (cert: IssuedCertificate) =>
        authenticator({ identity: 'spiffe' }).authenticate({ socket: tlsSocket(cert.der) })
      rejected(await run(noKeyUsage), id, 'an X509-SVID leaf must have keyUsage digitalSignature')
      rejected(await run(crlSign), id, 'an X509-SVID leaf must not have keyCertSign or cRLSign')
      // keyCertSign without cA is refused for every leaf (RFC 5280 §4.2.1.9), before any mapping.
      rejected(await run(certSign), 'ERR_CLIENT_CERT_KEY_USAGE', '"CN=svid" asserts keyCertSign without cA')
      rejected(await run(twoUris), id, 'an X509-SVID has exactly one URI SAN, this certificate has 2')
      rejected(await run(dotDot), id, 'invalid SPIFFE ID: path has a "." or ".." segment')
    })
  })
})

describe('per-connection memo and validation cache', () => {
  it('reads the peer certificate once per socket', async () => {
    const auth = authenticator({ allow: { pins: [alice.fingerprint256] } })
    const socket = tlsSocket(alice.der)
    const first = accepted(await auth.authenticate({ socket }))
    const second = accepted(await auth.authenticate({ socket }))
    expect(socket.reads).toBe(1)
    expect(second).toBe(first)
  })

  it('a second socket with the same certificate reuses the cached validation', async () => {
    const identity = vi.fn(() => 'alice')
    const auth = authenticator({ identity, allow: { ids: ['alice'] } })
    const [a, b] = [tlsSocket(alice.der), tlsSocket(alice.der)]
    accepted(await auth.authenticate({ socket: a }))
    accepted(await auth.authenticate({ socket: b }))
    expect([a.reads, b.reads]).toEqual([1, 1])
    expect(identity).toHaveBeenCalledTimes(1)
  })

  it('a policy naming nobody reads the TLS-verified chain once more, once per certificate', async () => {
    const auth = authenticator()
    const [a, b] = [tlsSocket(alice.der), tlsSocket(alice.der)]
    accepted(await auth.authenticate({ socket: a }))
    accepted(await auth.authenticate({ socket: a }))
    accepted(await auth.authenticate({ socket: b }))
    // a: the certificate, then the chain for the public-root check; b: cached, chain judged already.
    expect([a.reads, b.reads]).toEqual([2, 1])
  })

  it('with cache: false every new connection is validated again', async () => {
    const identity = vi.fn(() => 'alice')
    const auth = authenticator({ identity, cache: false })
    accepted(await auth.authenticate({ socket: tlsSocket(alice.der) }))
    accepted(await auth.authenticate({ socket: tlsSocket(alice.der) }))
    expect(identity).toHaveBeenCalledTimes(2)
  })

  it('judges time on every request: a remembered connection expires with its certificate', async () => {
    let clock = NOW_MS
    const auth = authenticator({ now: () => clock, allow: { pins: [alice.fingerprint256] } })
    const socket = tlsSocket(alice.der)
    const p = accepted(await auth.authenticate({ socket }))
    clock = p.notAfter.getTime() + 1000
    rejected(
      await auth.authenticate({ socket }),
      'ERR_CLIENT_CERT_EXPIRED',
      `a certificate in the path expired at ${p.notAfter.toISOString()}`,
      401,
    )
    expect(socket.reads).toBe(1)
    // A new connection with the same certificate is not served from the cache either.
    rejected(
      await auth.authenticate({ socket: tlsSocket(alice.der) }),
      'ERR_CLIENT_CERT_EXPIRED',
      `the client certificate expired at ${p.notAfter.toISOString()}`,
    )
  })

  it('a certificate not yet valid is rejected', async () => {
    const future = await pki.issueClient({ subject: 'CN=future', notBefore: new Date(NOW_MS + HOUR) })
    rejected(
      await authenticator().authenticate({ socket: tlsSocket(future.der) }),
      'ERR_CLIENT_CERT_NOT_YET_VALID',
      `the client certificate is not valid before ${new Date(NOW_MS + HOUR).toISOString()}`,
    )
  })
})

describe('failing closed', () => {
  it('a transient clock failure is not remembered for the connection', async () => {
    let broken = true
    const auth = authenticator({ now: () => (broken ? Number.NaN : NOW_MS) })
    const socket = tlsSocket(alice.der)
    rejected(await auth.authenticate({ socket }), 'ERR_CLIENT_CERT_INTERNAL', /no valid time/, 500)
    broken = false
    accepted(await auth.authenticate({ socket }))
  })

  it('a clock returning NaN is an internal error, never a pass', async () => {
    for (const broken of [Number.NaN, Number.POSITIVE_INFINITY, new Date(Number.NaN), '2030-01-01']) {
      const auth = authenticator({ now: () => broken as number })
      rejected(
        await auth.authenticate({ socket: tlsSocket(alice.der) }),
        'ERR_CLIENT_CERT_INTERNAL',
        'authentication threw: TypeError: options.now() returned no valid time',
        500,
      )
    }
  })

  it('onAuthenticated throwing turns the success into an internal error, reported to onRejected', async () => {
    const onRejected = vi.fn()
    const auth = authenticator({
      onAuthenticated: () => {
        throw new Error('audit log down')
      },
      onRejected,
    })
    const error = rejected(
      await auth.authenticate({ socket: tlsSocket(alice.der) }),
      'ERR_CLIENT_CERT_INTERNAL',
      'authentication threw: Error: audit log down',
      500,
    )
    expect(onRejected).toHaveBeenCalledExactlyOnceWith(error, { request: expect.anything() })
  })

  it('onRejected throwing leaves the original rejection in place', async () => {
    const auth = authenticator({
      onRejected: () => {
        throw new Error('audit log down')
      },
    })
    rejected(
      await auth.authenticate({ socket: tlsSocket(undefined) }),
      'ERR_CLIENT_CERT_MISSING',
      /no certificate/,
      401,
    )
  })

  it('hooks see the full reason and the request', async () => {
    const onRejected = vi.fn()
    const onAuthenticated = vi.fn()
    const auth = authenticator({ onRejected, onAuthenticated, allow: { ids: ['bob'] }, identity: 'cn' })
    const request = { socket: tlsSocket(alice.der) }
    const error = rejected(
      await auth.authenticate(request),
      'ERR_CLIENT_CERT_NOT_ALLOWED',
      '"alice" (cn) is not allowed by ids(1)',
      403,
    )
    expect(onRejected).toHaveBeenCalledExactlyOnceWith(error, { request })
    expect(onAuthenticated).not.toHaveBeenCalled()
    const ok = { socket: tlsSocket(alice.der) }
    const p = accepted(await auth.authenticate(ok, { policy: compilePolicy({ ids: ['alice'] }) }))
    expect(onAuthenticated).toHaveBeenCalledExactlyOnceWith(p, { request: ok })
  })

  it('a policy predicate that throws is an internal error', async () => {
    const auth = authenticator({
      allow: {
        predicate: () => {
          throw new Error('policy store down')
        },
      },
    })
    rejected(
      await auth.authenticate({ socket: tlsSocket(alice.der) }),
      'ERR_CLIENT_CERT_INTERNAL',
      'policy predicate threw: Error: policy store down',
      500,
    )
  })
})

describe('statuses and response bodies', () => {
  it('status.unauthenticated changes authentication failures only', async () => {
    const auth = authenticator({ status: { unauthenticated: 403 }, allow: { ids: ['nobody'] } })
    rejected(
      await auth.authenticate({ socket: tlsSocket(undefined) }),
      'ERR_CLIENT_CERT_MISSING',
      /no certificate/,
      403,
    )
    rejected(
      await auth.authenticate({ socket: tlsSocket(alice.der) }),
      'ERR_CLIENT_CERT_NOT_ALLOWED',
      /is not allowed/,
      403,
    )
    const nan = authenticator({ status: { unauthenticated: 403 }, now: () => Number.NaN })
    rejected(
      await nan.authenticate({ socket: tlsSocket(alice.der) }),
      'ERR_CLIENT_CERT_INTERNAL',
      /no valid time/,
      500,
    )
  })

  it('status.forbidden changes policy denials', async () => {
    const auth = authenticator({ status: { forbidden: 404 }, allow: { ids: ['nobody'] } })
    rejected(
      await auth.authenticate({ socket: tlsSocket(alice.der) }),
      'ERR_CLIENT_CERT_NOT_ALLOWED',
      /is not allowed/,
      404,
    )
    rejected(
      await auth.authenticate({ socket: tlsSocket(undefined) }),
      'ERR_CLIENT_CERT_MISSING',
      /no certificate/,
      401,
    )
  })

  it('toProblemDetails has exactly type, title, status, detail and code, and never the reason', async () => {
    const auth = authenticator({ status: { unauthenticated: 403 } })
    const socket = tlsSocket(alice.der, { authorized: false, authorizationError: 'SECRET_OPENSSL_DETAIL' })
    const error = rejected(
      await auth.authenticate({ socket }),
      'ERR_CLIENT_CERT_UNTRUSTED',
      /SECRET_OPENSSL_DETAIL/,
    )
    const body = toProblemDetails(error)
    expect(Object.keys(body).sort()).toEqual(['code', 'detail', 'status', 'title', 'type'])
    expect(body).toEqual({
      type: 'about:blank',
      title: 'Forbidden',
      status: 403,
      detail: publicMessage('ERR_CLIENT_CERT_UNTRUSTED'),
      code: 'ERR_CLIENT_CERT_UNTRUSTED',
    })
    const json = JSON.stringify(body)
    expect(json).not.toContain('SECRET_OPENSSL_DETAIL')
    expect(json).not.toContain(error.reason)
    expect(
      toProblemDetails(rejected(await authenticator().authenticate({}), 'ERR_CLIENT_CERT_MISSING', /socket/)),
    ).toEqual({
      type: 'about:blank',
      title: 'Unauthorized',
      status: 401,
      detail: 'A client certificate is required.',
      code: 'ERR_CLIENT_CERT_MISSING',
    })
  })
})

describe('optional mode', () => {
  it('succeeds with no principal only when no certificate was presented', async () => {
    const onRejected = vi.fn()
    const auth = authenticator({ onRejected })
    const optional = { optional: true } as const
    // A healthy connection without a certificate: plain HTTP, or TLS where the client sent none.
    for (const socket of [{}, tlsSocket(alice.der, { encrypted: false }), tlsSocket(undefined)]) {
      expect(await auth.authenticate({ socket }, optional)).toEqual({ ok: true, principal: undefined })
    }
    expect(onRejected).not.toHaveBeenCalled()
    // No socket, a destroyed one or one that throws is not "anonymous": it is still rejected.
    rejected(await auth.authenticate({}, optional), 'ERR_CLIENT_CERT_MISSING', 'the request has no socket')
    rejected(
      await auth.authenticate({ socket: tlsSocket(alice.der, { destroyed: true }) }, optional),
      'ERR_CLIENT_CERT_MISSING',
      'the socket is destroyed',
    )
    const throwing = tlsSocket(alice.der, {
      getPeerX509Certificate: () => {
        throw new Error('EBADF')
      },
    })
    rejected(
      await auth.authenticate({ socket: throwing }, optional),
      'ERR_CLIENT_CERT_MISSING',
      'reading the peer certificate failed: EBADF',
    )
    expect(accepted(await auth.authenticate({ socket: tlsSocket(alice.der) }, optional)).id).toBe(
      alice.fingerprint256,
    )
    rejected(
      await auth.authenticate({ socket: tlsSocket(Buffer.from('junk junk junk')) }, optional),
      'ERR_CLIENT_CERT_MALFORMED',
      /^the client certificate is not valid DER: /,
    )
    rejected(
      await auth.authenticate({ socket: tlsSocket(alice.der, { authorized: false }) }, optional),
      'ERR_CLIENT_CERT_UNTRUSTED',
      /not authorized/,
    )
  })

  it('an optional request with a certificate is still authorized', async () => {
    const auth = authenticator({ allow: { ids: ['nobody'] } })
    rejected(
      await auth.authenticate({ socket: tlsSocket(alice.der) }, { optional: true }),
      'ERR_CLIENT_CERT_NOT_ALLOWED',
      /is not allowed by ids\(1\)/,
      403,
    )
  })
})

describe('app-level trust', () => {
  const unverified = (cert: IssuedCertificate) =>
    tlsSocket(cert.der, { authorized: false, authorizationError: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' })

  it('anchors + intermediates: validates the path itself, whatever the TLS stack said', async () => {
    const auth = authenticator({ trust: { anchors: pki.root.pem, intermediates: pki.intermediate.pem } })
    const p = accepted(await auth.authenticate({ socket: unverified(alice) }))
    expect(p.chain.map((c) => Buffer.from(c.rawData).toString('hex'))).toEqual([
      Buffer.from(pki.intermediate.der).toString('hex'),
      Buffer.from(pki.root.der).toString('hex'),
    ])
    rejected(
      await auth.authenticate({ socket: unverified(stranger) }),
      'ERR_CLIENT_CERT_UNTRUSTED',
      'no path from "CN=stranger" (issuer "CN=Stranger Root") to a trust anchor',
    )
    rejected(
      await auth.authenticate({ socket: unverified(selfSigned) }),
      'ERR_CLIENT_CERT_UNTRUSTED',
      /^no path from "CN=pinned device"/,
    )
  })

  it('pins: a self-signed client pinned by certificate hash (colon form) or SPKI', async () => {
    const certPin = new X509Certificate(Buffer.from(selfSigned.der)).fingerprint256
    const spki = new X509Certificate(Buffer.from(selfSigned.der)).publicKey.export({
      type: 'spki',
      format: 'der',
    })
    const spkiPin = `sha256/${createHash('sha256').update(spki).digest('base64')}`
    for (const pin of [certPin, spkiPin]) {
      const auth = authenticator({ trust: { pins: [pin] } })
      const p = accepted(await auth.authenticate({ socket: unverified(selfSigned) }))
      expect([p.fingerprint256, p.chain]).toEqual([selfSigned.fingerprint256, []])
      rejected(
        await auth.authenticate({ socket: unverified(alice) }),
        'ERR_CLIENT_CERT_UNTRUSTED',
        'the client certificate matches no pin',
      )
    }
  })

  it('an SPKI pin does not admit a self-issued certificate whose signature is not its own', async () => {
    const [keyA, keyB] = await Promise.all([generateKeyPair('P-256'), generateKeyPair('P-256')])
    const signer = await createRootCA({ ...t, subject: 'CN=lookalike', keys: keyA })
    // Subject = issuer = CN=lookalike, public key B, but signed with key A.
    const forged = await signer.issue({
      ...t,
      subject: 'CN=lookalike',
      keys: keyB,
      basicConstraints: { ca: false },
      keyUsage: ['digitalSignature'],
      eku: ['clientAuth'],
    })
    const genuine = await createSelfSigned({ ...t, subject: 'CN=lookalike', keys: keyB })
    const spki = new X509Certificate(Buffer.from(genuine.der)).publicKey.export({
      type: 'spki',
      format: 'der',
    })
    const auth = authenticator({
      trust: { pins: [`sha256/${createHash('sha256').update(spki).digest('base64')}`] },
    })
    accepted(await auth.authenticate({ socket: unverified(genuine) }))
    rejected(
      await auth.authenticate({ socket: unverified(forged) }),
      'ERR_CLIENT_CERT_UNTRUSTED',
      'the client certificate matches no pin',
    )
  })

  it('anchors and pins together: either admits', async () => {
    const auth = authenticator({
      trust: {
        anchors: pki.root.pem,
        intermediates: pki.intermediate.pem,
        pins: [selfSigned.fingerprint256],
      },
    })
    accepted(await auth.authenticate({ socket: unverified(alice) }))
    accepted(await auth.authenticate({ socket: unverified(selfSigned) }))
    rejected(
      await auth.authenticate({ socket: unverified(stranger) }),
      'ERR_CLIENT_CERT_UNTRUSTED',
      /^no path/,
    )
  })

  it('the leaf rules apply to pinned certificates too', async () => {
    const serverOnly = await createSelfSigned({ ...t, subject: 'CN=pinned server', eku: ['serverAuth'] })
    const auth = authenticator({ trust: { pins: [serverOnly.fingerprint256] } })
    rejected(
      await auth.authenticate({ socket: unverified(serverOnly) }),
      'ERR_CLIENT_CERT_EKU',
      `the client certificate extendedKeyUsage (${OIDS.serverAuth}) lacks ${OIDS.clientAuth}`,
    )
  })
})
