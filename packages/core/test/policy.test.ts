import { createHash, createPublicKey, X509Certificate } from 'node:crypto'
import { createTestPki, type IssuedCertificate, type TestPki } from '@clientcert/testing'
import { beforeAll, describe, expect, it, vi } from 'vitest'
import {
  type AllowPolicy,
  ClientCertConfigError,
  type ClientPrincipal,
  compilePolicy,
  createClientCertAuthenticator,
  type IdentityMapping,
  isCompiledPolicy,
} from '../src/index.js'
import { NOW, tlsSocket } from './helpers.js'

/** The principal of a real certificate: authenticated over a fake, TLS-verified socket. */
async function principalOf(cert: IssuedCertificate, identity: IdentityMapping = 'fingerprint') {
  const auth = createClientCertAuthenticator({ allow: { authenticated: true }, identity, now: () => NOW })
  const result = await auth.authenticate({ socket: tlsSocket(cert.der) })
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.reason}`)
  return result.principal
}

/** A minimal principal for rules that read only id, groups or spiffeId. */
function principal(fields: { id?: string; groups?: string[]; spiffeId?: string }): ClientPrincipal {
  return { id: 'nobody', kind: 'custom', groups: [], ...fields } as unknown as ClientPrincipal
}

async function allows(policy: AllowPolicy, who: ClientPrincipal): Promise<boolean> {
  const result = await compilePolicy(policy).evaluate(who)
  expect(typeof result).toBe('boolean')
  return result
}

let pki: TestPki
let alice: IssuedCertificate
let aliceRenewed: IssuedCertificate
let bob: IssuedCertificate

beforeAll(async () => {
  pki = await createTestPki({ now: NOW })
  ;[alice, bob] = await Promise.all([
    pki.issueClient({ subject: 'CN=alice, O=system:masters, O=dev' }),
    pki.issueClient({ subject: 'CN=bob, O=dev' }),
  ])
  // Same key pair, new certificate: SPKI pins survive renewal, certificate pins do not.
  aliceRenewed = await pki.issueClient({ subject: 'CN=alice, O=system:masters, O=dev', keys: alice.keys })
})

describe('authenticated', () => {
  it('admits any principal', async () => {
    expect(await allows({ authenticated: true }, principal({}))).toBe(true)
  })
})

describe('ids', () => {
  it('matches principal.id exactly and case-sensitively', async () => {
    const policy = { ids: ['alice', 'spiffe://example.org/ns/prod/sa/api'] }
    expect(await allows(policy, principal({ id: 'alice' }))).toBe(true)
    expect(await allows(policy, principal({ id: 'spiffe://example.org/ns/prod/sa/api' }))).toBe(true)
    for (const id of [
      'Alice',
      'ALICE',
      'alice ',
      ' alice',
      'alic',
      'alice2',
      'spiffe://example.org/ns/prod/sa/api/x',
    ]) {
      expect(await allows(policy, principal({ id })), id).toBe(false)
    }
  })

  it('an empty list could never match: a configuration error', () => {
    expect(() => compilePolicy({ ids: [] })).toThrow(ClientCertConfigError)
    expect(() => compilePolicy({ groups: [] })).toThrow(ClientCertConfigError)
    expect(() => compilePolicy({ pins: [] })).toThrow(ClientCertConfigError)
  })

  it('a name of an Object.prototype member is just a string', async () => {
    expect(await allows({ ids: ['alice'] }, principal({ id: 'constructor' }))).toBe(false)
    expect(await allows({ ids: ['__proto__'] }, principal({ id: '__proto__' }))).toBe(true)
  })
})

describe('groups', () => {
  it('admits a principal in any listed group (kubernetes mapping: each O)', async () => {
    const jane = await principalOf(alice, 'kubernetes')
    expect(jane.groups).toEqual(['system:masters', 'dev'])
    expect(await allows({ groups: ['system:masters'] }, jane)).toBe(true)
    expect(await allows({ groups: ['ops', 'dev'] }, jane)).toBe(true)
    expect(await allows({ groups: ['System:Masters'] }, jane)).toBe(false)
    expect(await allows({ groups: ['system'] }, jane)).toBe(false)
    expect(await allows({ groups: ['system:masters'] }, await principalOf(bob, 'kubernetes'))).toBe(false)
  })

  it('a principal without groups is denied', async () => {
    expect(await allows({ groups: ['dev'] }, principal({ groups: [] }))).toBe(false)
  })
})

describe('pins', () => {
  /** The certificate pin as `openssl x509 -fingerprint -sha256` / node:crypto print it. */
  const colonPin = (cert: IssuedCertificate) => new X509Certificate(Buffer.from(cert.der)).fingerprint256

  /** SPKI pin computed independently from the key node:crypto extracts from the PEM. */
  const spkiPin = (cert: IssuedCertificate) =>
    `sha256/${createHash('sha256')
      .update(createPublicKey(cert.pem).export({ type: 'spki', format: 'der' }))
      .digest('base64')}`

  it('matches the certificate SHA-256 given as colon-separated hex', async () => {
    const who = await principalOf(alice)
    expect(colonPin(alice)).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
    expect(await allows({ pins: [colonPin(alice)] }, who)).toBe(true)
    expect(await allows({ pins: [alice.fingerprint256] }, who)).toBe(true)
    expect(await allows({ pins: [alice.fingerprint256.toUpperCase()] }, who)).toBe(true)
    expect(await allows({ pins: [colonPin(bob)] }, who)).toBe(false)
    // A renewed certificate with the same key is a different certificate.
    expect(await allows({ pins: [colonPin(alice)] }, await principalOf(aliceRenewed))).toBe(false)
  })

  it('matches the SPKI pin sha256/<base64> across renewal, not across keys', async () => {
    expect(await allows({ pins: [spkiPin(alice)] }, await principalOf(alice))).toBe(true)
    expect(await allows({ pins: [spkiPin(alice)] }, await principalOf(aliceRenewed))).toBe(true)
    expect(await allows({ pins: [spkiPin(alice)] }, await principalOf(bob))).toBe(false)
    expect(await allows({ pins: [colonPin(bob), spkiPin(alice)] }, await principalOf(alice))).toBe(true)
  })

  it('a certificate pin never matches the SPKI hash, nor the reverse', async () => {
    const who = await principalOf(alice)
    const spkiHex = Buffer.from(spkiPin(alice).slice('sha256/'.length), 'base64').toString('hex')
    expect(who.spkiSha256).toBe(spkiHex)
    expect(await allows({ pins: [spkiHex] }, who)).toBe(false)
    const certAsSpki = `sha256/${Buffer.from(alice.fingerprint256, 'hex').toString('base64')}`
    expect(await allows({ pins: [certAsSpki] }, who)).toBe(false)
  })
})

describe('dnsSuffix', () => {
  const check = (suffix: string | string[], id: string) => allows({ dnsSuffix: suffix }, principal({ id }))

  it('example.com matches itself and subdomains, on label boundaries only', async () => {
    for (const id of ['example.com', 'api.example.com', 'a.b.example.com', 'API.Example.COM']) {
      expect(await check('example.com', id), id).toBe(true)
    }
    for (const id of [
      'badexample.com',
      'example.com.evil.net',
      'example.co',
      'xample.com',
      'example.com.',
      '*.example.com',
      'api..example.com',
      'api.example.com/x',
      'alice@example.com',
      'spiffe://api.example.com',
      '',
    ]) {
      expect(await check('example.com', id), id).toBe(false)
    }
  })

  it('.example.com (leading dot) matches subdomains only', async () => {
    expect(await check('.example.com', 'api.example.com')).toBe(true)
    expect(await check('.example.com', 'example.com')).toBe(false)
    expect(await check('.example.com', 'badexample.com')).toBe(false)
  })

  it('a suffix configured in upper case matches case-insensitively; a list matches any', async () => {
    expect(await check('EXAMPLE.COM', 'api.example.com')).toBe(true)
    expect(await check(['example.org', '.example.net'], 'a.example.net')).toBe(true)
    expect(await check(['example.org', '.example.net'], 'example.net')).toBe(false)
  })
})

describe('spiffe', () => {
  const check = (rule: AllowPolicy, spiffeId: string | undefined) =>
    allows(rule, principal(spiffeId === undefined ? {} : { spiffeId }))

  it('matches the trust domain exactly', async () => {
    const rule = { spiffe: { trustDomain: 'example.org' } }
    expect(await check(rule, 'spiffe://example.org/ns/prod/sa/api')).toBe(true)
    expect(await check(rule, 'spiffe://example.org')).toBe(true)
    for (const id of [
      'spiffe://example.org.evil/ns/prod',
      'spiffe://sub.example.org/ns/prod',
      'spiffe://example.orgx/ns/prod',
      'spiffe://EXAMPLE.org/ns/prod',
      'spiffe://example.org:443/ns/prod',
      'https://example.org/ns/prod',
    ]) {
      expect(await check(rule, id), id).toBe(false)
    }
    expect(await check(rule, undefined)).toBe(false)
  })

  it('matches a path prefix on segment boundaries', async () => {
    const rule = { spiffe: { trustDomain: 'example.org', pathPrefix: '/ns/prod' } }
    expect(await check(rule, 'spiffe://example.org/ns/prod')).toBe(true)
    expect(await check(rule, 'spiffe://example.org/ns/prod/sa/api')).toBe(true)
    for (const id of [
      'spiffe://example.org/ns/production',
      'spiffe://example.org/ns/prod-2/sa/api',
      'spiffe://example.org/ns',
      'spiffe://example.org',
      'spiffe://example.org/ns/prod/',
      'spiffe://example.org/ns/prod/../admin',
      'spiffe://example.org/ns/prod%2Fsa',
      'spiffe://other.org/ns/prod/sa/api',
    ]) {
      expect(await check(rule, id), id).toBe(false)
    }
  })

  it('reads principal.spiffeId, never principal.id', async () => {
    const rule = { spiffe: { trustDomain: 'example.org' } }
    expect(await allows(rule, principal({ id: 'spiffe://example.org/ns/prod' }))).toBe(false)
  })

  it('any rule of a list may match', async () => {
    const rule = {
      spiffe: [
        { trustDomain: 'example.org', pathPrefix: '/ns/prod' },
        { trustDomain: 'example.net', pathPrefix: '/ns/dev' },
      ],
    }
    expect(await check(rule, 'spiffe://example.net/ns/dev/sa/x')).toBe(true)
    expect(await check(rule, 'spiffe://example.net/ns/prod/sa/x')).toBe(false)
  })
})

describe('predicate', () => {
  const returning = (value: unknown): AllowPolicy => ({ predicate: () => value as boolean })

  it('allows only for exactly true or a promise of exactly true', async () => {
    const who = principal({ id: 'alice' })
    expect(await allows(returning(true), who)).toBe(true)
    expect(await allows(returning(Promise.resolve(true)), who)).toBe(true)
    // biome-ignore lint/suspicious/noThenProperty: a foreign thenable (not a Promise) is what is tested
    const thenable = { then: (resolve: (v: unknown) => void) => resolve(true) }
    expect(await allows(returning(thenable), who)).toBe(true)
    for (const value of [1, 'true', {}, [], [true], new Boolean(true), false, null, undefined]) {
      expect(await allows(returning(value), who), String(value)).toBe(false)
    }
    for (const value of [1, 'true', {}, false]) {
      expect(await allows(returning(Promise.resolve(value)), who), `Promise<${String(value)}>`).toBe(false)
    }
  })

  it('receives the principal', async () => {
    const seen = vi.fn((p: ClientPrincipal) => p.id === 'alice')
    expect(await allows({ predicate: seen }, principal({ id: 'alice' }))).toBe(true)
    expect(seen).toHaveBeenCalledWith(expect.objectContaining({ id: 'alice' }))
  })

  it('a throw or a rejection propagates (the authenticator turns it into an internal error)', async () => {
    const thrower = compilePolicy({
      predicate: () => {
        throw new Error('policy store down')
      },
    })
    expect(() => thrower.evaluate(principal({}))).toThrowError('policy store down')
    const rejecter = compilePolicy({ predicate: () => Promise.reject(new Error('timeout')) })
    await expect(rejecter.evaluate(principal({}))).rejects.toThrowError('timeout')
  })
})

describe('any / all', () => {
  const yes: AllowPolicy = { authenticated: true }
  const no: AllowPolicy = { ids: ['nobody'] }
  const asyncYes: AllowPolicy = { predicate: async () => true }
  const asyncOne: AllowPolicy = { predicate: async () => 1 as unknown as boolean }
  const who = principal({ id: 'alice', groups: ['dev'] })

  it('any is true when one part is exactly true', async () => {
    expect(await allows({ any: [no, yes] }, who)).toBe(true)
    expect(await allows({ any: [no, asyncYes] }, who)).toBe(true)
    expect(await allows({ any: [no, no] }, who)).toBe(false)
    expect(await allows({ any: [no, asyncOne] }, who)).toBe(false)
  })

  it('all is true only when every part is exactly true', async () => {
    expect(await allows({ all: [yes, asyncYes, { ids: ['alice'] }] }, who)).toBe(true)
    expect(await allows({ all: [yes, no] }, who)).toBe(false)
    expect(await allows({ all: [yes, asyncOne] }, who)).toBe(false)
  })

  it('nests', async () => {
    const policy: AllowPolicy = {
      any: [
        { ids: ['root'] },
        { all: [{ groups: ['dev'] }, { any: [{ ids: ['bob'] }, { dnsSuffix: 'example.com' }] }] },
      ],
    }
    expect(await allows(policy, principal({ id: 'root' }))).toBe(true)
    expect(await allows(policy, principal({ id: 'api.example.com', groups: ['dev'] }))).toBe(true)
    expect(await allows(policy, principal({ id: 'bob', groups: ['dev'] }))).toBe(true)
    expect(await allows(policy, principal({ id: 'bob', groups: ['ops'] }))).toBe(false)
    expect(await allows(policy, principal({ id: 'api.example.org', groups: ['dev'] }))).toBe(false)
  })

  it('evaluates in order and stops at the first decisive part', async () => {
    const boom: AllowPolicy = {
      predicate: () => {
        throw new Error('must not run')
      },
    }
    expect(await allows({ any: [yes, boom] }, who)).toBe(true)
    expect(await allows({ all: [no, boom] }, who)).toBe(false)
  })

  it('empty any and empty all are configuration errors (all([]) would be vacuously true)', () => {
    expect(() => compilePolicy({ any: [] })).toThrow(ClientCertConfigError)
    expect(() => compilePolicy({ all: [] })).toThrow(ClientCertConfigError)
    expect(() => compilePolicy({ all: [{ any: [] }] })).toThrow(ClientCertConfigError)
  })
})

describe('compiled policies', () => {
  it('compile once, are frozen, describe themselves and pass through compilePolicy unchanged', () => {
    const compiled = compilePolicy({
      any: [{ ids: ['a', 'b'] }, { groups: ['dev'] }, { dnsSuffix: '.example.com' }],
    })
    expect(isCompiledPolicy(compiled)).toBe(true)
    expect(isCompiledPolicy({ ids: ['a'] })).toBe(false)
    expect(Object.isFrozen(compiled)).toBe(true)
    expect(compilePolicy(compiled)).toBe(compiled)
    expect(compiled.description).toBe('any(ids(2),groups(dev),dnsSuffix(.example.com))')
  })
})
