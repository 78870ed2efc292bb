import { createHash, X509Certificate } from 'node:crypto'
import {
  type CertificateAuthority,
  createRootCA,
  createSelfSigned,
  createTestPki,
  type IssuedCertificate,
  type TestPki,
  toPem,
} from '@clientcert/testing'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  ClientCertConfigError,
  type ClientCertOptions,
  compilePolicy,
  createClientCertAuthenticator,
} from '../src/index.js'
import { NOW } from './helpers.js'

const ALLOW = { authenticated: true } as const

let pki: TestPki
let client: IssuedCertificate
let selfSigned: IssuedCertificate
let otherRoot: CertificateAuthority
let certPin: string
let spkiPin: string

beforeAll(async () => {
  pki = await createTestPki({ now: NOW })
  ;[client, selfSigned, otherRoot] = await Promise.all([
    pki.issueClient({ subject: 'CN=client' }),
    createSelfSigned({ now: NOW }),
    createRootCA({ now: NOW, subject: 'CN=Other Root' }),
  ])
  certPin = selfSigned.fingerprint256
  spkiPin = spkiPinOf(selfSigned)
})

/** `sha256/<base64>` of the SubjectPublicKeyInfo, computed by node:crypto. */
function spkiPinOf(cert: IssuedCertificate): string {
  const spki = new X509Certificate(Buffer.from(cert.der)).publicKey.export({ type: 'spki', format: 'der' })
  return `sha256/${createHash('sha256').update(spki).digest('base64')}`
}

/** Creates an authenticator, expecting a ClientCertConfigError; returns it. */
function configError(options: unknown): ClientCertConfigError {
  try {
    createClientCertAuthenticator(options as ClientCertOptions)
  } catch (err) {
    expect(err).toBeInstanceOf(ClientCertConfigError)
    expect(err).toBeInstanceOf(TypeError)
    const e = err as ClientCertConfigError
    expect(e.code).toBe('ERR_CLIENT_CERT_INVALID_OPTION')
    expect(e.name).toBe('ClientCertConfigError')
    return e
  }
  throw new Error('expected a ClientCertConfigError, but the options were accepted')
}

/** Expects the named option and the exact explanation. */
function expectInvalid(options: unknown, option: string, expected: string | RegExp): void {
  const err = configError(options)
  expect(err.option).toBe(option)
  if (typeof expected === 'string') {
    expect(err.message).toBe(`Invalid clientcert option "${option}": ${expected}`)
  } else {
    expect(err.message.slice(`Invalid clientcert option "${option}": `.length)).toMatch(expected)
  }
}

function accepted(options: ClientCertOptions): void {
  expect(() => createClientCertAuthenticator(options)).not.toThrow()
}

describe('top level', () => {
  it('rejects an unknown option', () => {
    expectInvalid(
      { allow: ALLOW, trsut: {} },
      'trsut',
      /^unknown option; expected one of source, trust, identity/,
    )
  })

  it('rejects options that are not an object', () => {
    for (const options of [undefined, null, 'allow', [ALLOW]]) {
      expectInvalid(options, 'options', 'must be an object')
    }
  })

  it('rejects a missing allow', () => {
    expectInvalid(
      {},
      'allow',
      'is required; use { authenticated: true } to admit every client with a valid certificate',
    )
  })

  it('rejects __proto__ and constructor as option keys', () => {
    expectInvalid(
      JSON.parse('{"allow": {"authenticated": true}, "__proto__": {}}'),
      '__proto__',
      /^unknown option/,
    )
    expectInvalid(
      JSON.parse('{"allow": {"authenticated": true}, "constructor": 1}'),
      'constructor',
      /^unknown option/,
    )
    expectInvalid(
      { allow: ALLOW, trust: JSON.parse('{"__proto__": 1}') },
      'trust.__proto__',
      /^unknown option/,
    )
    expectInvalid(
      { allow: ALLOW, status: JSON.parse('{"constructor": 401}') },
      'status.constructor',
      /^unknown/,
    )
    expectInvalid(
      { allow: ALLOW, cache: JSON.parse('{"__proto__": {"max": 1}}') },
      'cache.__proto__',
      /^unknown/,
    )
    expectInvalid(
      { allow: ALLOW, eku: JSON.parse('{"hasOwnProperty": 1}') },
      'eku.hasOwnProperty',
      /^unknown/,
    )
  })

  it('rejects an unsupported source', () => {
    const expected =
      'expected "tls", { forwarded: { format, trustedProxies }, tls?: boolean } or { requestHeader: { proxyCertificate }, tls?: boolean }'
    for (const source of ['forwarded', 'TLS', true, null, ['tls']]) {
      expectInvalid({ allow: ALLOW, source }, 'source', expected)
    }
    expectInvalid({ allow: ALLOW, source: {} }, 'source.forwarded', 'is required in an object source')
    expectInvalid(
      { allow: ALLOW, source: { tls: true } },
      'source.forwarded',
      'is required in an object source',
    )
    expectInvalid(
      { allow: ALLOW, source: JSON.parse('{"__proto__": {}}') },
      'source.__proto__',
      /^unknown option/,
    )
    accepted({ allow: ALLOW, source: 'tls' })
  })

  it('rejects an unknown identity mapping', () => {
    for (const identity of ['email', 'CN', 'Subject', 'constructor', '', 42]) {
      expectInvalid(
        { allow: ALLOW, identity },
        'identity',
        'expected a function or one of spiffe, san-dns, san-uri, san-email, san-ip, subject, cn, kubernetes, fingerprint, spki',
      )
    }
    accepted({ allow: ALLOW, identity: 'san-dns' })
    accepted({ allow: ALLOW, identity: () => 'x' })
  })
})

describe('allow', () => {
  it('rejects a policy that is not an object', () => {
    for (const allow of [null, true, 'authenticated', [ALLOW]]) {
      expectInvalid(
        { allow },
        'allow',
        'expected a policy object such as { ids: [...] } or { authenticated: true }',
      )
    }
  })

  it('rejects {} rather than reading it as "allow all"', () => {
    expectInvalid(
      { allow: {} },
      'allow',
      'a policy needs exactly one key (an empty object is a mistake, not "allow all")',
    )
  })

  it('rejects a policy with two keys', () => {
    expectInvalid(
      { allow: { ids: ['a'], groups: ['b'] } },
      'allow',
      'a policy has exactly one key, found ids, groups; combine with any/all',
    )
  })

  it('rejects an unknown policy key, naming its path', () => {
    const expected =
      'unknown policy key; expected one of authenticated, ids, spiffe, dnsSuffix, pins, groups, predicate, any, all'
    expectInvalid({ allow: { idz: ['a'] } }, 'allow.idz', expected)
    expectInvalid(
      { allow: { any: [{ ids: ['a'] }, { all: [{ nope: 1 }] }] } },
      'allow.any[1].all[0].nope',
      expected,
    )
  })

  it('rejects __proto__ and constructor as policy keys', () => {
    expectInvalid({ allow: JSON.parse('{"__proto__": 1}') }, 'allow.__proto__', /^unknown policy key/)
    expectInvalid(
      { allow: JSON.parse('{"__proto__": {"authenticated": true}}') },
      'allow.__proto__',
      /^unknown/,
    )
    expectInvalid(
      { allow: JSON.parse('{"constructor": {"authenticated": true}}') },
      'allow.constructor',
      /^unknown/,
    )
    expectInvalid({ allow: JSON.parse('{"ids": ["a"], "__proto__": []}') }, 'allow.__proto__', /^unknown/)
    expectInvalid(
      { allow: { spiffe: JSON.parse('{"trustDomain": "example.org", "__proto__": {}}') } },
      'allow.spiffe.__proto__',
      'unknown key; expected trustDomain, pathPrefix',
    )
    // An inherited key is not a key: a policy whose prototype says "authenticated" is still empty.
    const inherited = Object.create({ authenticated: true }) as object
    expectInvalid({ allow: inherited }, 'allow', /^a policy needs exactly one key/)
  })

  it('rejects malformed values of each policy kind', () => {
    expectInvalid({ allow: { authenticated: false } }, 'allow.authenticated', 'must be true')
    expectInvalid({ allow: { authenticated: 'true' } }, 'allow.authenticated', 'must be true')
    expectInvalid({ allow: { ids: 'alice' } }, 'allow.ids', 'must be an array of strings')
    expectInvalid({ allow: { ids: ['alice', ''] } }, 'allow.ids[1]', 'must be a non-empty string')
    expectInvalid({ allow: { groups: [1] } }, 'allow.groups[0]', 'must be a non-empty string')
    expectInvalid(
      { allow: { predicate: 'x => true' } },
      'allow.predicate',
      'must be a function returning true to allow',
    )
    expectInvalid({ allow: { any: { ids: ['a'] } } }, 'allow.any', 'must be an array of policies')
    expectInvalid({ allow: { all: [{}] } }, 'allow.all[0]', /^a policy needs exactly one key/)
    expectInvalid(
      { allow: { pins: ['abc'] } },
      'allow.pins[0]',
      'a certificate pin is 64 hex digits (SHA-256), optionally colon-separated',
    )
  })

  describe('spiffe rules', () => {
    it('rejects an upper-case trust domain', () => {
      expectInvalid(
        { allow: { spiffe: { trustDomain: 'Example.org' } } },
        'allow.spiffe.trustDomain',
        'trust domain has characters outside [a-z0-9.-_] (port, userinfo or upper case)',
      )
      expectInvalid(
        { allow: { spiffe: [{ trustDomain: 'example.org' }, { trustDomain: 'example.org:8443' }] } },
        'allow.spiffe[1].trustDomain',
        'trust domain has characters outside [a-z0-9.-_] (port, userinfo or upper case)',
      )
    })

    it('rejects a path prefix without a leading slash', () => {
      expectInvalid(
        { allow: { spiffe: { trustDomain: 'example.org', pathPrefix: 'ns/prod' } } },
        'allow.spiffe.pathPrefix',
        'must start with "/"',
      )
      expectInvalid(
        { allow: { spiffe: { trustDomain: 'example.org', pathPrefix: '' } } },
        'allow.spiffe.pathPrefix',
        'must start with "/"',
      )
    })

    it('rejects path prefixes that break SPIFFE ID syntax', () => {
      for (const pathPrefix of ['/ns/', '/ns/../prod', '/ns/%70rod', '/ns?x=1']) {
        const err = configError({ allow: { spiffe: { trustDomain: 'example.org', pathPrefix } } })
        expect(err.option).toMatch(/^allow\.spiffe/)
        expect(err.message).toMatch(/path/)
      }
    })

    it('rejects missing or unknown rule keys and an empty rule list', () => {
      expectInvalid({ allow: { spiffe: {} } }, 'allow.spiffe.trustDomain', 'must be a string')
      expectInvalid(
        { allow: { spiffe: { trustdomain: 'example.org' } } },
        'allow.spiffe.trustdomain',
        'unknown key; expected trustDomain, pathPrefix',
      )
      expectInvalid({ allow: { spiffe: [] } }, 'allow.spiffe', 'needs at least one rule')
      expectInvalid(
        { allow: { spiffe: 'example.org' } },
        'allow.spiffe',
        'expected { trustDomain, pathPrefix? }',
      )
      accepted({ allow: { spiffe: { trustDomain: 'example.org', pathPrefix: '/ns/prod' } } })
    })
  })

  describe('dnsSuffix', () => {
    it.each([
      'exa mple.com',
      '*.example.com',
      'example..com',
      'example.com.',
      '-a.example.com',
      '',
      '.',
      '..a',
    ])('rejects %j', (suffix) => {
      expectInvalid({ allow: { dnsSuffix: suffix } }, 'allow.dnsSuffix', `"${suffix}" is not a DNS name`)
    })

    it('names the bad element of a list; rejects an empty list and non-strings', () => {
      expectInvalid(
        { allow: { dnsSuffix: ['example.com', 'bad_name.com'] } },
        'allow.dnsSuffix[1]',
        '"bad_name.com" is not a DNS name',
      )
      expectInvalid({ allow: { dnsSuffix: [] } }, 'allow.dnsSuffix', 'needs at least one suffix')
      expectInvalid({ allow: { dnsSuffix: 42 } }, 'allow.dnsSuffix', 'must be a DNS suffix string')
      accepted({ allow: { dnsSuffix: ['Example.COM', '.example.org'] } })
    })
  })
})

describe('trust', () => {
  it('rejects an empty trust object, a non-object and unknown keys', () => {
    expectInvalid(
      { allow: ALLOW, trust: {} },
      'trust',
      "set trust.anchors or trust.pins, or leave trust out to rely on the TLS server's verification",
    )
    expectInvalid({ allow: ALLOW, trust: null }, 'trust', 'must be an object')
    expectInvalid({ allow: ALLOW, trust: { ca: pki.root.pem } }, 'trust.ca', /^unknown option/)
  })

  describe('anchors', () => {
    it('rejects empty or blank PEM text', () => {
      expectInvalid({ allow: ALLOW, trust: { anchors: '' } }, 'trust.anchors', 'no PEM certificate found')
      expectInvalid(
        { allow: ALLOW, trust: { anchors: ' \n\t\n' } },
        'trust.anchors',
        'no PEM certificate found',
      )
      expectInvalid({ allow: ALLOW, trust: { anchors: [] } }, 'trust.anchors', 'is empty')
    })

    it('rejects junk, a private key alone and a key after a certificate', () => {
      const after = 'unexpected text after the last PEM certificate block'
      expectInvalid({ allow: ALLOW, trust: { anchors: 'not a certificate' } }, 'trust.anchors', after)
      expectInvalid({ allow: ALLOW, trust: { anchors: pki.root.keyPem } }, 'trust.anchors', after)
      expectInvalid(
        { allow: ALLOW, trust: { anchors: pki.root.pem + pki.root.keyPem } },
        'trust.anchors',
        after,
      )
    })

    it('says so when a file path is given instead of PEM text (and reads no file)', () => {
      for (const path of [
        './ca.pem',
        '/etc/pki/tls/ca.crt',
        'certs\\root.cer',
        'ca.pem',
        ' ./pki/root.pem\n',
      ]) {
        expectInvalid(
          { allow: ALLOW, trust: { anchors: [path] } },
          'trust.anchors[0]',
          `"${path.trim()}" looks like a file path; certificates are given as PEM text or DER bytes, not paths: pass readFileSync(${JSON.stringify(path.trim())})`,
        )
      }
      // Not paths: plain junk keeps the PEM message.
      expectInvalid(
        { allow: ALLOW, trust: { anchors: 'not a certificate' } },
        'trust.anchors',
        'unexpected text after the last PEM certificate block',
      )
    })

    it('rejects text between PEM blocks (including a private key before a certificate)', () => {
      const between = 'unexpected text between PEM blocks'
      const bundle = `${pki.root.pem}Bag Attributes: friendlyName=root\n${otherRoot.pem}`
      expectInvalid({ allow: ALLOW, trust: { anchors: bundle } }, 'trust.anchors', between)
      expectInvalid(
        { allow: ALLOW, trust: { anchors: pki.root.keyPem + pki.root.pem } },
        'trust.anchors',
        between,
      )
      expectInvalid({ allow: ALLOW, trust: { anchors: `junk\n${pki.root.pem}` } }, 'trust.anchors', between)
    })

    it('rejects bad base64 and blocks that do not hold a certificate', () => {
      expectInvalid(
        {
          allow: ALLOW,
          trust: { anchors: '-----BEGIN CERTIFICATE-----\nAB=C\n-----END CERTIFICATE-----\n' },
        },
        'trust.anchors',
        'bad base64 in PEM block',
      )
      expectInvalid(
        { allow: ALLOW, trust: { anchors: toPem(Uint8Array.of(1, 2, 3)) } },
        'trust.anchors',
        'not a parseable X.509 certificate (element overruns its container)',
      )
      const trailing = Uint8Array.from([...pki.root.der, 0])
      expectInvalid(
        { allow: ALLOW, trust: { anchors: trailing } },
        'trust.anchors',
        'not a parseable X.509 certificate (trailing bytes after element)',
      )
      expectInvalid(
        { allow: ALLOW, trust: { anchors: 42 } },
        'trust.anchors',
        'expected PEM text, DER bytes (Uint8Array/Buffer) or an X509Certificate',
      )
    })

    it('names the offending element of a list', () => {
      expectInvalid(
        { allow: ALLOW, trust: { anchors: [pki.root.pem, 'junk'] } },
        'trust.anchors[1]',
        'unexpected text after the last PEM certificate block',
      )
    })

    it('rejects a certificate that is not a CA, pointing at pins', () => {
      expectInvalid(
        { allow: ALLOW, trust: { anchors: [pki.root.pem, client.pem] } },
        'trust.anchors[1]',
        '"CN=client" is not a CA certificate; pin self-signed clients with trust.pins',
      )
      expectInvalid(
        { allow: ALLOW, trust: { anchors: selfSigned.pem } },
        'trust.anchors[0]',
        '"CN=self-signed client" is not a CA certificate; pin self-signed clients with trust.pins',
      )
    })

    it('accepts PEM (LF or CRLF, bundles), DER and @peculiar/x509 certificates', () => {
      accepted({ allow: ALLOW, trust: { anchors: pki.root.pem } })
      accepted({ allow: ALLOW, trust: { anchors: pki.root.pem.replaceAll('\n', '\r\n') } })
      accepted({ allow: ALLOW, trust: { anchors: `\n${pki.root.pem}\n${otherRoot.pem}\n` } })
      accepted({ allow: ALLOW, trust: { anchors: [pki.root.der, Buffer.from(otherRoot.der)] } })
      accepted({ allow: ALLOW, trust: { anchors: pki.root.certificate } })
    })

    it('rejects intermediates without anchors', () => {
      expectInvalid(
        { allow: ALLOW, trust: { intermediates: pki.intermediate.pem, pins: [certPin] } },
        'trust.intermediates',
        'needs trust.anchors to build paths to',
      )
      expectInvalid(
        { allow: ALLOW, trust: { intermediates: pki.intermediate.pem } },
        'trust.intermediates',
        'needs trust.anchors to build paths to',
      )
      accepted({ allow: ALLOW, trust: { anchors: pki.root.pem, intermediates: pki.intermediate.pem } })
    })
  })

  describe('pins', () => {
    const certMsg = 'a certificate pin is 64 hex digits (SHA-256), optionally colon-separated'
    const spkiMsg = 'an SPKI pin is "sha256/" followed by the base64 of 32 bytes'

    it('rejects an empty or non-array pin list', () => {
      expectInvalid({ allow: ALLOW, trust: { pins: [] } }, 'trust.pins', 'must be a non-empty array')
      expectInvalid({ allow: ALLOW, trust: { pins: certPin } }, 'trust.pins', 'must be a non-empty array')
    })

    it('rejects certificate pins of the wrong length or with misplaced colons', () => {
      const colons = certPin.match(/../g)!.join(':')
      const bad = [
        certPin.slice(0, 63),
        `${certPin}0`,
        `${certPin.slice(0, 62)}zz`,
        `${colons}:`,
        `:${colons}`,
        colons.replace(':', ''), // one colon missing
        `${colons.slice(0, 4)}:${colons.slice(4)}`, // an empty group
        certPin.match(/..../g)!.join(':'), // four digits per group
        `sha1/${certPin}`,
      ]
      for (const pin of bad) {
        expectInvalid({ allow: ALLOW, trust: { pins: [certPin, pin] } }, 'trust.pins[1]', certMsg)
      }
    })

    it('rejects SPKI pins that are not the base64 of 32 bytes', () => {
      const b64 = spkiPin.slice('sha256/'.length)
      const bad = [
        'sha256/',
        'sha256/abc',
        `sha256/${b64.slice(0, -1)}`, // no padding
        `sha256/${Buffer.alloc(32, 0xfb).toString('base64url')}`, // base64url alphabet
        `sha256/${Buffer.alloc(31).toString('base64')}`,
        `sha256/${Buffer.alloc(33).toString('base64')}`,
        `sha256/ ${b64}`,
      ]
      for (const pin of bad) expectInvalid({ allow: ALLOW, trust: { pins: [pin] } }, 'trust.pins[0]', spkiMsg)
    })

    it('rejects a pin that is not a string', () => {
      expectInvalid({ allow: ALLOW, trust: { pins: [42] } }, 'trust.pins[0]', 'a pin must be a string')
    })

    it('accepts hex (any case, with or without colons) and SPKI pins', () => {
      const nodeStyle = new X509Certificate(Buffer.from(selfSigned.der)).fingerprint256 // AB:CD:...
      accepted({ allow: ALLOW, trust: { pins: [certPin, certPin.toUpperCase(), nodeStyle, spkiPin] } })
    })
  })
})

describe('scalars and sub-objects', () => {
  it('rejects an unknown EKU name, a malformed OID and a non-string', () => {
    for (const required of ['clientauth', 'emailProtection', 'client-auth', '1.3.6.01.5', '3.1', '1']) {
      expectInvalid(
        { allow: ALLOW, eku: { required } },
        'eku.required',
        `"${required}" is neither a known EKU name nor a dotted OID`,
      )
    }
    expectInvalid(
      { allow: ALLOW, eku: { required: 42 } },
      'eku.required',
      'expected "clientAuth", "serverAuth", an OID or null',
    )
    expectInvalid({ allow: ALLOW, eku: { allowAny: 'yes' } }, 'eku.allowAny', 'must be a boolean')
    expectInvalid({ allow: ALLOW, eku: { allowMissing: 1 } }, 'eku.allowMissing', 'must be a boolean')
    expectInvalid({ allow: ALLOW, eku: [] }, 'eku', 'must be an object')
    accepted({ allow: ALLOW, eku: { required: '1.3.6.1.5.5.7.3.4', allowAny: true, allowMissing: false } })
    accepted({ allow: ALLOW, eku: { required: null } })
  })

  // BUG (prototype surprise, THREATS.md H): EKU names are looked up on a plain object, so
  // "constructor", "toString" or "__proto__" resolve to Object.prototype members and are
  // accepted as if they were EKU names (every client is then rejected at request time).
  it('rejects Object.prototype member names as EKU names', () => {
    for (const required of ['constructor', 'toString', '__proto__']) {
      expectInvalid(
        { allow: ALLOW, eku: { required } },
        'eku.required',
        `"${required}" is neither a known EKU name nor a dotted OID`,
      )
    }
  })

  it.each([-1, 301, 1.5, '5', Number.NaN, Number.POSITIVE_INFINITY, null])(
    'rejects clockToleranceSec %j',
    (clockToleranceSec) => {
      expectInvalid(
        { allow: ALLOW, clockToleranceSec },
        'clockToleranceSec',
        'must be an integer from 0 to 300',
      )
    },
  )

  it.each([0, 17, 2.5, '8'])('rejects maxChainDepth %j', (maxChainDepth) => {
    expectInvalid({ allow: ALLOW, maxChainDepth }, 'maxChainDepth', 'must be an integer from 1 to 16')
  })

  it('accepts the bounds of clockToleranceSec and maxChainDepth', () => {
    accepted({ allow: ALLOW, clockToleranceSec: 0, maxChainDepth: 1 })
    accepted({ allow: ALLOW, clockToleranceSec: 300, maxChainDepth: 16 })
  })

  it('rejects statuses outside 400-499 and a bare number', () => {
    expectInvalid({ allow: ALLOW, status: 200 }, 'status', 'must be an object')
    expectInvalid(
      { allow: ALLOW, status: { unauthenticated: 200 } },
      'status.unauthenticated',
      'must be an integer from 400 to 499',
    )
    expectInvalid(
      { allow: ALLOW, status: { forbidden: 500 } },
      'status.forbidden',
      'must be an integer from 400 to 499',
    )
    expectInvalid({ allow: ALLOW, status: { unauthorized: 401 } }, 'status.unauthorized', /^unknown option/)
    accepted({ allow: ALLOW, status: { unauthenticated: 403, forbidden: 404 } })
  })

  it('rejects cache.max 0, cache.ttlMs 0 and cache: true', () => {
    expectInvalid({ allow: ALLOW, cache: { max: 0 } }, 'cache.max', 'must be an integer from 1 to 10000000')
    expectInvalid(
      { allow: ALLOW, cache: { ttlMs: 0 } },
      'cache.ttlMs',
      'must be an integer from 1 to 86400000',
    )
    expectInvalid({ allow: ALLOW, cache: true }, 'cache', 'must be an object')
    accepted({ allow: ALLOW, cache: false })
    accepted({ allow: ALLOW, cache: { max: 1, ttlMs: 1 } })
  })

  it('rejects a now that is not a function', () => {
    for (const now of [NOW, NOW.getTime(), 'now']) {
      expectInvalid({ allow: ALLOW, now }, 'now', 'must be a function returning a Date or epoch milliseconds')
    }
  })

  it('rejects hooks that are not functions', () => {
    expectInvalid({ allow: ALLOW, onAuthenticated: 'log' }, 'onAuthenticated', 'must be a function')
    expectInvalid({ allow: ALLOW, onRejected: {} }, 'onRejected', 'must be a function')
  })
})

describe('public root store guard', () => {
  let roots: string[]

  beforeAll(async () => {
    const cas = await Promise.all(
      Array.from({ length: 21 }, (_, i) =>
        createRootCA({ now: NOW, subject: `CN=Public-looking Root ${i}` }),
      ),
    )
    roots = cas.map((ca) => ca.pem)
  })

  it('rejects more than 20 anchors with { authenticated: true }', () => {
    const message =
      '21 anchors look like a public root store; a public CA vouches for names, not clients, so name who is allowed'
    expectInvalid({ allow: ALLOW, trust: { anchors: roots } }, 'allow', message)
    expectInvalid({ allow: compilePolicy(ALLOW), trust: { anchors: roots.join('') } }, 'allow', message)
  })

  it('accepts 20 anchors with { authenticated: true } and 21 with an identity policy', () => {
    accepted({ allow: ALLOW, trust: { anchors: roots.slice(0, 20) } })
    accepted({ allow: { ids: ['alice'] }, identity: 'cn', trust: { anchors: roots } })
    accepted({ allow: { dnsSuffix: 'example.com' }, identity: 'san-dns', trust: { anchors: roots } })
  })
})
