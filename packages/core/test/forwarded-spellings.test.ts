// Issue 13, finding 1: proxies strip forwarded-certificate headers by their exact name, and many
// forward other spellings untouched (Envoy, Traefik, HAProxy, nginx with underscores_in_headers).
// Only the exact spelling (any case) of the configured names may be read; every other spelling
// of a forwarded-certificate header is refused, from any peer, on every path.
import { createTestPki, forwardedHeaders, type IssuedCertificate, type TestPki } from '@clientcert/testing'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  type ClientCertError,
  type ClientCertOptions,
  createClientCertAuthenticator,
  FORWARDED_FORMATS,
  type ForwardedFormat,
  type ForwardedOptions,
  type OptionalAuthResult,
  type RequestLike,
} from '../src/index.js'
import { NOW, tlsSocket } from './helpers.js'

const PROXY = '10.0.0.5'
const STRANGER = '203.0.113.9'

let pki: TestPki
let alice: IssuedCertificate
let bob: IssuedCertificate
beforeAll(async () => {
  pki = await createTestPki({ now: NOW })
  ;[alice, bob] = await Promise.all([
    pki.issueClient({ subject: 'CN=alice' }),
    pki.issueClient({ subject: 'CN=bob' }),
  ])
})

/** Every header name of each preset (certificate, chain, verify, cross-check extras). */
const NAMES: Readonly<Record<ForwardedFormat, readonly string[]>> = {
  rfc9440: ['client-cert', 'client-cert-chain'],
  xfcc: ['x-forwarded-client-cert'],
  nginx: ['x-ssl-client-cert', 'x-ssl-client-verify'],
  haproxy: ['x-ssl-client-cert', 'x-ssl-client-verify'],
  traefik: ['x-forwarded-tls-client-cert'],
  caddy: ['x-client-cert'],
  'aws-alb': ['x-amzn-mtls-clientcert-leaf'],
  'aws-alb-passthrough': ['x-amzn-mtls-clientcert'],
  azure: ['x-arr-clientcert'],
  gcp: ['x-client-cert-leaf', 'x-client-cert-chain', 'x-client-cert-chain-verified', 'x-client-cert-hash'],
  cloudflare: ['cf-client-cert-der-base64', 'cf-client-cert-sha256'],
}

/** A custom format whose names are in no preset, and one configured with underscores. */
const CUSTOM = {
  header: 'x-app-cert-pem',
  decoder: 'url-pem',
  chainHeader: 'x-app-chain-pem',
  verifyHeader: 'x-app-cert-ok',
  verifyValue: 'yes',
} as const
const CUSTOM_NAMES = [CUSTOM.header, CUSTOM.chainHeader, CUSTOM.verifyHeader]

/** Spellings of `name` that are not `name` in another case: all, some and mixed-case underscores. */
function twins(name: string): string[] {
  const all = name.replace(/-/g, '_')
  const first = name.replace('-', '_')
  const mixed = all
    .split('_')
    .map((w, i) => (i % 2 === 0 ? w.toUpperCase() : w[0]!.toUpperCase() + w.slice(1)))
    .join('_')
  return [...new Set([all, first, mixed])]
}

/** Title-Case, as curl or a browser would write the exact name. */
const titleCase = (name: string) =>
  name
    .split('-')
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('-')

type Lines = ReadonlyArray<readonly [string, string]>

/** As Node builds it: raw lines kept apart, `headers` lower-cased and folded. */
function nodeRequest(remoteAddress: string, lines: Lines, socket?: object): RequestLike {
  const headers: Record<string, string> = {}
  for (const [k, v] of lines) {
    const key = k.toLowerCase()
    headers[key] = key in headers ? `${headers[key]}, ${v}` : v
  }
  return { socket: socket ?? { remoteAddress }, headers, rawHeaders: lines.flat() }
}

/** A framework-built request object with only `headers` (no raw lines). */
function headersOnly(remoteAddress: string, lines: Lines): RequestLike {
  const headers: Record<string, string | string[]> = {}
  for (const [k, v] of lines) {
    const prev = headers[k]
    headers[k] = prev === undefined ? v : [...(Array.isArray(prev) ? prev : [prev]), v]
  }
  return { socket: { remoteAddress }, headers }
}

function setup(format: ForwardedOptions['format'], extra: Partial<ForwardedOptions> = {}) {
  const rejected: string[] = []
  const auth = createClientCertAuthenticator({
    source: { forwarded: { format, trustedProxies: [PROXY], ...extra } },
    trust: { anchors: pki.root.pem, intermediates: pki.intermediate.pem },
    identity: 'cn',
    allow: { authenticated: true },
    now: () => NOW,
    onRejected: (err: ClientCertError) => rejected.push(err.code),
  } satisfies ClientCertOptions)
  return { auth, rejected }
}

const verdict = (r: OptionalAuthResult) => (r.ok ? `ok:${r.principal?.id}` : r.error.code)

/** The headers the preset's proxy sends for `cert`, in order, as lines. */
function linesFor(format: ForwardedFormat, cert: IssuedCertificate): [string, string][] {
  return Object.entries(forwardedHeaders(format, cert))
}

function customLines(cert: IssuedCertificate): [string, string][] {
  return [
    [CUSTOM.header, encodeURIComponent(cert.pem)],
    [CUSTOM.verifyHeader, 'yes'],
  ]
}

const UNTRUSTED_PROXY = 'ERR_CLIENT_CERT_UNTRUSTED_PROXY'

const cases: Array<{
  label: string
  format: ForwardedOptions['format']
  names: readonly string[]
  lines: (c: IssuedCertificate) => [string, string][]
}> = [
  ...FORWARDED_FORMATS.map((format) => ({
    label: format,
    format: format as ForwardedOptions['format'],
    names: NAMES[format],
    lines: (c: IssuedCertificate) => linesFor(format, c),
  })),
  { label: 'custom', format: CUSTOM, names: CUSTOM_NAMES, lines: customLines },
]

for (const { label, format, names, lines } of cases) {
  describe(`${label}: other spellings of the forwarded headers are refused`, () => {
    it('the exact names, in any case, are read (control)', async () => {
      const { auth } = setup(format)
      const real = lines(alice).map(([k, v]) => [titleCase(k), v] as const)
      expect(verdict(await auth.authenticate(nodeRequest(PROXY, real)))).toBe('ok:alice')
      expect(verdict(await auth.authenticate(headersOnly(PROXY, real)))).toBe('ok:alice')
    })

    for (const name of names) {
      for (const twin of twins(name)) {
        it(`${twin} alone from the allowlisted proxy (in place of ${name}) → 401 untrusted proxy`, async () => {
          const { auth, rejected } = setup(format)
          // The twin carries what the real header would: alice's value.
          const real = lines(alice)
          const value = real.find(([k]) => k === name)?.[1] ?? lines(alice)[0]![1]
          const sent: Lines = [...real.filter(([k]) => k !== name), [twin, value]]
          expect(verdict(await auth.authenticate(nodeRequest(PROXY, sent)))).toBe(UNTRUSTED_PROXY)
          expect(verdict(await auth.authenticate(headersOnly(PROXY, sent)))).toBe(UNTRUSTED_PROXY)
          expect(verdict(await auth.authenticate(nodeRequest(PROXY, sent), { optional: true }))).toBe(
            UNTRUSTED_PROXY,
          )
          expect(rejected).toEqual([UNTRUSTED_PROXY, UNTRUSTED_PROXY, UNTRUSTED_PROXY])
        })

        it(`${twin} next to the real ${name} from the allowlisted proxy → 401 untrusted proxy`, async () => {
          const { auth, rejected } = setup(format)
          const other = lines(bob).find(([k]) => k === name)?.[1] ?? 'x'
          const sent: Lines = [...lines(alice), [twin, other]]
          expect(verdict(await auth.authenticate(nodeRequest(PROXY, sent)))).toBe(UNTRUSTED_PROXY)
          expect(verdict(await auth.authenticate(headersOnly(PROXY, sent)))).toBe(UNTRUSTED_PROXY)
          expect(rejected).toEqual([UNTRUSTED_PROXY, UNTRUSTED_PROXY])
        })

        it(`${twin} from a stranger → 401 untrusted proxy`, async () => {
          const { auth } = setup(format)
          const sent: Lines = [[twin, lines(alice)[0]![1]]]
          expect(verdict(await auth.authenticate(nodeRequest(STRANGER, sent)))).toBe(UNTRUSTED_PROXY)
          expect(verdict(await auth.authenticate(headersOnly(STRANGER, sent)))).toBe(UNTRUSTED_PROXY)
        })
      }
    }

    it('a twin on a keep-alive proxy connection that repeats its last lines (the per-connection shortcut) → 401', async () => {
      const { auth } = setup(format, { requireVerify: false })
      const socket = { remoteAddress: PROXY }
      const real = lines(alice)
      expect(verdict(await auth.authenticate(nodeRequest(PROXY, real, socket)))).toBe('ok:alice')
      for (const name of names) {
        for (const twin of twins(name)) {
          const sent: Lines = [...real, [twin, 'x']]
          expect(verdict(await auth.authenticate(nodeRequest(PROXY, sent, socket))), twin).toBe(
            UNTRUSTED_PROXY,
          )
        }
      }
      expect(verdict(await auth.authenticate(nodeRequest(PROXY, real, socket)))).toBe('ok:alice')
    })

    it("another preset's underscore twin from the allowlisted proxy → 401; its exact name is ignored", async () => {
      const { auth } = setup(format)
      const real = lines(alice)
      const own = new Set(names)
      for (const other of Object.values(NAMES).flat()) {
        if (own.has(other)) continue
        const twin = other.replace(/-/g, '_')
        expect(
          verdict(await auth.authenticate(nodeRequest(PROXY, [...real, [twin, 'x']]))),
          `${twin} to ${label}`,
        ).toBe(UNTRUSTED_PROXY)
        // A proxy in front of this one may set its own headers under their exact names.
        expect(verdict(await auth.authenticate(nodeRequest(PROXY, [...real, [other, 'x']])))).toBe('ok:alice')
      }
    })
  })
}

describe('custom names configured with underscores', () => {
  const format = { header: 'x_app_cert', decoder: 'base64-der' } as const
  const value = () => Buffer.from(alice.der).toString('base64')

  it('the configured spelling is read in any case', async () => {
    const { auth } = setup(format)
    for (const name of ['x_app_cert', 'X_App_Cert'])
      expect(verdict(await auth.authenticate(nodeRequest(PROXY, [[name, value()]])))).toBe('ok:alice')
  })

  it('its hyphen spelling is a twin → 401, alone or next to it', async () => {
    const { auth } = setup(format)
    expect(verdict(await auth.authenticate(nodeRequest(PROXY, [['X-App-Cert', value()]])))).toBe(
      UNTRUSTED_PROXY,
    )
    expect(
      verdict(
        await auth.authenticate(
          nodeRequest(PROXY, [
            ['x_app_cert', value()],
            ['x-app-cert', value()],
          ]),
        ),
      ),
    ).toBe(UNTRUSTED_PROXY)
  })

  it('a renamed preset header keeps its exact spelling too', async () => {
    const { auth } = setup('haproxy', { headers: { cert: 'ssl_client_cert' } })
    const v = linesFor('haproxy', alice)
    const cert = v.find(([k]) => k === 'x-ssl-client-cert')![1]
    const verify: [string, string] = ['x-ssl-client-verify', '0']
    expect(verdict(await auth.authenticate(nodeRequest(PROXY, [['SSL_Client_Cert', cert], verify])))).toBe(
      'ok:alice',
    )
    expect(verdict(await auth.authenticate(nodeRequest(PROXY, [['ssl-client-cert', cert], verify])))).toBe(
      UNTRUSTED_PROXY,
    )
  })
})

describe('TLS-only authenticators: an admitted connection still refuses every spelling', () => {
  it('an admitted connection sending x_ssl_client_cert / Client_Cert / x_amzn_mtls_clientcert_leaf → 401', async () => {
    const auth = createClientCertAuthenticator({
      identity: 'cn',
      allow: { authenticated: true },
      now: () => NOW,
    })
    const socket = tlsSocket(alice.der)
    const req = (lines: Lines) => nodeRequest('', lines, socket)
    expect(verdict(await auth.authenticate(req([])))).toBe('ok:alice')
    for (const twin of [
      'x_ssl_client_cert',
      'Client_Cert',
      'x_amzn_mtls_clientcert_leaf',
      'CF_Client_Cert_X',
    ])
      expect(verdict(await auth.authenticate(req([[twin, 'x']]))), twin).toBe(UNTRUSTED_PROXY)
  })
})
