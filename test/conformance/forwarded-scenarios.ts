import * as http from 'node:http'
import {
  type ClientCertOptions,
  FORWARDED_FORMATS,
  type ForwardedFormat,
  type ForwardedOptions,
} from '@clientcert/core'
import {
  forwardedHeaders,
  nginxEscape,
  requestHttp,
  requestUpgrade,
  requestWithUndici,
} from '@clientcert/testing'
import { expect } from 'vitest'
import type { ClientName, Fixtures } from '../support/fixtures.js'
import { type Outcome, onBothPaths, type Scenario, type ScenarioContext } from './scenarios.js'

/**
 * Forwarded-mode scenarios (THREATS.md A, B, C, H). The proxy is played by connections from
 * 127.0.0.2, a stranger by 127.0.0.3; the app listens on 127.0.0.1 (or on `::`, dual-stack).
 */
export const PROXY = '127.0.0.2'
export const STRANGER = '127.0.0.3'

type Headers = Record<string, string | string[]>

export const ALL_FORMATS: readonly ForwardedFormat[] = FORWARDED_FORMATS

/** Formats whose preset requires a verify header, with a wrong value to send. */
const VERIFY: Partial<Record<ForwardedFormat, { header: string; wrong: string[] }>> = {
  nginx: {
    header: 'x-ssl-client-verify',
    wrong: ['FAILED:unable to get issuer certificate', 'NONE', 'success'],
  },
  haproxy: { header: 'x-ssl-client-verify', wrong: ['20', '1', '00'] },
  gcp: { header: 'x-client-cert-chain-verified', wrong: ['false', 'TRUE'] },
}

export function fwdAuth(
  format: ForwardedFormat | ForwardedOptions['format'],
  extra: Partial<ForwardedOptions> = {},
  tls = false,
): Partial<ClientCertOptions> {
  return {
    source: { forwarded: { format, trustedProxies: [PROXY], ...extra }, ...(tls ? { tls: true } : {}) },
  }
}

const headersFor = (
  f: Fixtures,
  format: ForwardedFormat,
  client: ClientName,
  opts: Parameters<typeof forwardedHeaders>[2] = {},
) => forwardedHeaders(format, f.clients[client], opts)

/** A plain-HTTP request from `from`, to the app's IPv4 loopback address (also on a `::` listener). */
const httpFrom =
  (from: string, path: string, headers: (f: Fixtures) => Headers) =>
  async ({ url, f, upgrade }: ScenarioContext): Promise<Outcome> =>
    (upgrade ? requestUpgrade : requestHttp)(url.replace('[::1]', '127.0.0.1'), {
      path,
      localAddress: from,
      headers: headers(f),
    })

/** An HTTPS request (optionally with a client certificate) from `from`. */
const httpsFrom =
  (from: string, path: string, client: ClientName | null, headers: (f: Fixtures) => Headers) =>
  async ({ url, f, h2, upgrade }: ScenarioContext): Promise<Outcome> =>
    upgrade
      ? requestUpgrade(url.replace('[::1]', '127.0.0.1'), {
          path,
          localAddress: from,
          client: client === null ? null : f.clients[client],
          ca: f.pki.serverCa.pem,
          headers: headers(f),
        })
      : requestWithUndici(url.replace('[::1]', '127.0.0.1'), {
          allowH2: h2,
          path,
          localAddress: from,
          client: client === null ? null : f.clients[client],
          ca: f.pki.serverCa.pem,
          headers: headers(f),
        })

function perFormat(format: ForwardedFormat): Scenario[] {
  const auth = fwdAuth(format)
  const ok = (f: Fixtures) => headersFor(f, format, 'alice')
  const certHeader = CERT_HEADER[format]
  const list: Scenario[] = [
    {
      name: `${format}: allowlisted proxy forwards a valid certificate → 200`,
      threat: 'ok',
      mode: 'forwarded',
      auth,
      run: httpFrom(PROXY, '/whoami', ok),
      expect: { status: 200, id: 'alice' },
      check: (o) =>
        expect(JSON.parse(o.body).principal.source).toEqual({ type: 'forwarded', format, proxy: PROXY }),
    },
    {
      name: `${format}: a stranger sends the same headers → 401`,
      threat: 'A',
      mode: 'forwarded',
      auth,
      run: httpFrom(STRANGER, '/whoami', ok),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
    },
    {
      name: `${format}: a stranger adds X-Forwarded-For / Forwarded / X-Real-IP naming the proxy → 401`,
      threat: 'B',
      mode: 'forwarded',
      auth,
      run: httpFrom(STRANGER, '/whoami', (f) => ({
        ...ok(f),
        'x-forwarded-for': PROXY,
        forwarded: `for=${PROXY}`,
        'x-real-ip': PROXY,
      })),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
    },
    {
      name: `${format}: dual-stack listener, proxy seen as ::ffff:${PROXY} → 200`,
      threat: 'B',
      mode: 'forwarded-dual',
      auth,
      run: httpFrom(PROXY, '/whoami', ok),
      expect: { status: 200, id: 'alice' },
    },
    {
      name: `${format}: dual-stack listener, stranger → 401`,
      threat: 'B',
      mode: 'forwarded-dual',
      auth,
      run: httpFrom(STRANGER, '/whoami', ok),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
    },
    {
      name: `${format}: the certificate header repeated on two lines → 401`,
      threat: 'H',
      mode: 'forwarded',
      auth,
      run: httpFrom(PROXY, '/whoami', (f) => {
        const h: Headers = { ...ok(f) }
        h[certHeader] = [String(h[certHeader]), String(headersFor(f, format, 'bob')[certHeader])]
        return h
      }),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_MALFORMED' },
    },
    {
      name: `${format}: a value that is not the format's encoding → 401`,
      threat: 'H',
      mode: 'forwarded',
      auth,
      run: httpFrom(PROXY, '/whoami', (f) => ({ ...ok(f), [certHeader]: garbageFor(format) })),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_MALFORMED' },
    },
    {
      name: `${format}: issuer-name spoof through the proxy (app validates the chain) → 401`,
      threat: 'C',
      mode: 'forwarded',
      auth,
      run: httpFrom(PROXY, '/whoami', (f) => headersFor(f, format, 'issuerSpoof')),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED' },
    },
    {
      name: `${format}: expired certificate through the proxy → 401`,
      threat: 'C',
      mode: 'forwarded',
      auth,
      run: httpFrom(PROXY, '/whoami', (f) => headersFor(f, format, 'expired')),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_EXPIRED' },
    },
    {
      name: `${format}: not-yet-valid certificate through the proxy → 401`,
      threat: 'C',
      mode: 'forwarded',
      auth,
      run: httpFrom(PROXY, '/whoami', (f) => headersFor(f, format, 'notYetValid')),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_NOT_YET_VALID' },
    },
    {
      name: `${format}: proxy forwards no certificate → 401`,
      threat: 'C',
      mode: 'forwarded',
      auth,
      run: httpFrom(PROXY, '/whoami', () => ({})),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_MISSING' },
    },
    {
      name: `${format}: certificate header from the proxy to a TLS-only configuration → 401`,
      threat: 'A',
      mode: 'socket',
      run: httpsFrom(PROXY, '/whoami', null, ok),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
    },
  ]
  list.push(...spellingScenarios(format))
  const v = VERIFY[format]
  if (v) {
    list.push({
      name: `${format}: proxy omits the verify header → 401`,
      threat: 'A',
      mode: 'forwarded',
      auth,
      run: httpFrom(PROXY, '/whoami', (f) => headersFor(f, format, 'alice', { verified: false })),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED' },
    })
    for (const wrong of v.wrong) {
      list.push({
        name: `${format}: proxy reports "${wrong}" → 401`,
        threat: 'C',
        mode: 'forwarded',
        auth,
        run: httpFrom(PROXY, '/whoami', (f) => headersFor(f, format, 'alice', { verified: wrong })),
        expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED' },
      })
    }
  }
  return list
}

/** `x-ssl-client-cert` → `x_ssl_client_cert`; `X_SSL_Client_Cert` with `mixed`. */
const underscore = (name: string, mixed = false) =>
  name
    .split('-')
    .map((w) => (mixed ? (w.length <= 3 ? w.toUpperCase() : w[0]!.toUpperCase() + w.slice(1)) : w))
    .join('_')

const titleCase = (name: string) =>
  name
    .split('-')
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('-')

/**
 * Issue 13, finding 1: proxies strip client-sent headers by exact name and many forward other
 * spellings. When the proxy adds no header of its own (a client without a certificate under
 * optional mTLS), the client's underscore twin arrives alone from the allowlisted address.
 * Every name of the preset (certificate, chain, verify, extras), alone and next to the real one.
 */
function spellingScenarios(format: ForwardedFormat): Scenario[] {
  const lax = fwdAuth(format, { requireVerify: false })
  const list: Scenario[] = [
    {
      name: `${format}: the proxy's exact header names in another case (Title-Case) → 200`,
      threat: 'ok',
      mode: 'forwarded',
      auth: fwdAuth(format),
      run: httpFrom(PROXY, '/whoami', (f) =>
        Object.fromEntries(Object.entries(headersFor(f, format, 'alice')).map(([k, v]) => [titleCase(k), v])),
      ),
      expect: { status: 200, id: 'alice' },
    },
    {
      name: `${format}: only underscore twins of the proxy's headers, from the allowlisted proxy → 401 untrusted proxy`,
      threat: 'A',
      mode: 'forwarded',
      auth: lax,
      run: httpFrom(PROXY, '/whoami', (f) =>
        Object.fromEntries(
          Object.entries(headersFor(f, format, 'alice')).map(([k, v]) => [underscore(k), v]),
        ),
      ),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
    },
  ]
  // Per header name of the preset: its mixed-case underscore twin replaces it, or its
  // underscore twin sits next to it (with bob's value).
  for (const name of PRESET_NAMES[format]) {
    list.push(
      {
        name: `${format}: ${underscore(name, true)} in place of ${name}, from the allowlisted proxy → 401 untrusted proxy`,
        threat: 'A',
        mode: 'forwarded',
        auth: lax,
        run: httpFrom(PROXY, '/whoami', (f) => {
          const h: Headers = { ...headersFor(f, format, 'alice', { chain: [f.pki.intermediate] }) }
          const value = h[name] ?? 'x'
          delete h[name]
          return { ...h, [underscore(name, true)]: value }
        }),
        expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
      },
      {
        name: `${format}: ${underscore(name)} next to ${name}, from the allowlisted proxy → 401 untrusted proxy`,
        threat: 'H',
        mode: 'forwarded',
        auth: fwdAuth(format),
        run: httpFrom(PROXY, '/whoami', (f) => ({
          ...headersFor(f, format, 'alice'),
          [underscore(name)]: headersFor(f, format, 'bob', { chain: [f.pki.intermediate] })[name] ?? 'x',
        })),
        expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
      },
    )
  }
  return list
}

/** Every header name of each preset (certificate, chain, verify, cross-check extras). */
const PRESET_NAMES: Readonly<Record<ForwardedFormat, readonly string[]>> = {
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

function garbageFor(format: ForwardedFormat): string {
  switch (format) {
    case 'rfc9440':
    case 'gcp':
      return ':not base64!:'
    case 'xfcc':
      return 'Hash=00;Cert="%ZZ"'
    case 'nginx':
    case 'aws-alb':
    case 'aws-alb-passthrough':
      return '-----BEGIN%20CERTIFICATE-----%0AMIIB%ZZ%0A-----END%20CERTIFICATE-----'
    default:
      return 'bm90IGEgY2VydGlmaWNhdGU' // base64 of "not a certificate", without padding
  }
}

const CERT_HEADER: Readonly<Record<ForwardedFormat, string>> = {
  rfc9440: 'client-cert',
  xfcc: 'x-forwarded-client-cert',
  nginx: 'x-ssl-client-cert',
  haproxy: 'x-ssl-client-cert',
  traefik: 'x-forwarded-tls-client-cert',
  caddy: 'x-client-cert',
  'aws-alb': 'x-amzn-mtls-clientcert-leaf',
  'aws-alb-passthrough': 'x-amzn-mtls-clientcert',
  azure: 'x-arr-clientcert',
  gcp: 'x-client-cert-leaf',
  cloudflare: 'cf-client-cert-der-base64',
}

/**
 * Alice's nginx headers three times on ONE keep-alive connection from the proxy (validated,
 * then from the cache, then from the settled connection: all 200), then `last` on `path` on
 * the same connection: the scenario's outcome.
 */
const afterSettling =
  (path: string, last: (f: Fixtures) => Headers) =>
  async ({ url, f, probes }: ScenarioContext): Promise<Outcome> => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: PROXY })
    const ports: number[] = []
    const send = (at: string, headers: Headers) =>
      new Promise<Outcome>((resolve, reject) => {
        const req = http.request(`${url}${at}`, { agent, headers }, (res) => {
          ports.push(req.socket?.localPort ?? -1)
          let body = ''
          res.on('data', (d: Buffer) => (body += d))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }))
        })
        req.on('error', reject)
        req.end()
      })
    try {
      for (let i = 0; i < 3; i++)
        expect((await send('/whoami', headersFor(f, 'nginx', 'alice'))).status).toBe(200)
      probes.handled = 0
      const outcome = await send(path, last(f))
      expect(new Set(ports).size).toBe(1)
      return outcome
    } finally {
      agent.destroy()
    }
  }

/** Format-independent attacks, with a few representative presets. */
function general(): Scenario[] {
  const nginx = fwdAuth('nginx')
  const aliceNginx = (f: Fixtures) => headersFor(f, 'nginx', 'alice')
  const pem = (f: Fixtures, c: ClientName) => f.clients[c].pem
  return [
    {
      name: 'stranger over HTTPS without a client certificate sends a certificate header → 401',
      threat: 'A',
      mode: 'forwarded-tls',
      auth: fwdAuth('nginx', {}, true),
      run: httpsFrom(STRANGER, '/whoami', null, aliceNginx),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
    },
    {
      name: 'stranger with its own certificate (bob) adds a header for alice → rejected, never alice',
      threat: 'A',
      mode: 'forwarded-tls',
      auth: fwdAuth('nginx', {}, true),
      run: httpsFrom(STRANGER, '/whoami', 'bob', aliceNginx),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
    },
    {
      name: 'allowlisted peer with its own certificate (bob) and a header for alice, tls enabled → bob',
      threat: 'A',
      mode: 'forwarded-tls',
      auth: fwdAuth('nginx', {}, true),
      run: httpsFrom(PROXY, '/whoami', 'bob', aliceNginx),
      expect: { status: 200, id: 'bob' },
    },
    {
      name: 'allowlisted peer with its own certificate and a header, tls not enabled → 401',
      threat: 'A',
      mode: 'forwarded-tls',
      auth: fwdAuth('nginx'),
      run: httpsFrom(PROXY, '/whoami', 'bob', aliceNginx),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
    },
    {
      name: 'direct TLS client (no header) is authenticated by its socket when tls is enabled',
      threat: 'ok',
      mode: 'forwarded-tls',
      auth: fwdAuth('nginx', {}, true),
      run: httpsFrom(STRANGER, '/whoami', 'bob', () => ({})),
      expect: { status: 200, id: 'bob' },
    },
    {
      name: 'stranger sends only a "verified: SUCCESS" header → 401',
      threat: 'A',
      mode: 'forwarded',
      auth: nginx,
      run: httpFrom(STRANGER, '/whoami', () => ({ 'x-ssl-client-verify': 'SUCCESS' })),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
    },
    {
      name: 'stranger uses an underscore spelling (x_ssl_client_cert) → 401',
      threat: 'A',
      mode: 'forwarded',
      auth: nginx,
      run: httpFrom(STRANGER, '/whoami', (f) => ({
        x_ssl_client_cert: nginxEscape(pem(f, 'alice')),
        x_ssl_client_verify: 'SUCCESS',
      })),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
    },
    {
      name: 'stranger sends a header of another preset than the configured one (RFC 9440 to an nginx app) → 401',
      threat: 'A',
      mode: 'forwarded',
      auth: nginx,
      run: httpFrom(STRANGER, '/whoami', (f) => headersFor(f, 'rfc9440', 'alice')),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
    },
    {
      name: 'proxy header plus an underscore twin (X-SSL-Client-Cert and x_ssl_client_cert) → 401 untrusted proxy',
      threat: 'H',
      mode: 'forwarded',
      auth: nginx,
      run: httpFrom(PROXY, '/whoami', (f) => ({
        ...aliceNginx(f),
        x_ssl_client_cert: nginxEscape(pem(f, 'admin')),
      })),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
    },
    {
      name: 'comma-folded value (two escaped PEMs joined by ", ") → 401',
      threat: 'H',
      mode: 'forwarded',
      auth: nginx,
      run: httpFrom(PROXY, '/whoami', (f) => ({
        ...aliceNginx(f),
        'x-ssl-client-cert': `${nginxEscape(pem(f, 'alice'))}, ${nginxEscape(pem(f, 'admin'))}`,
      })),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_MALFORMED' },
    },
    {
      name: 'junk around the PEM → 401',
      threat: 'H',
      mode: 'forwarded',
      auth: nginx,
      run: httpFrom(PROXY, '/whoami', (f) => ({
        ...aliceNginx(f),
        'x-ssl-client-cert': nginxEscape(`subject=CN=admin\n${pem(f, 'alice')}`),
      })),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_MALFORMED' },
    },
    {
      name: 'two PEM blocks where one is expected → 401',
      threat: 'H',
      mode: 'forwarded',
      auth: nginx,
      run: httpFrom(PROXY, '/whoami', (f) => ({
        ...aliceNginx(f),
        'x-ssl-client-cert': nginxEscape(pem(f, 'admin') + pem(f, 'alice')),
      })),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_MALFORMED' },
    },
    {
      name: 'empty PEM block → 401',
      threat: 'H',
      mode: 'forwarded',
      auth: nginx,
      run: httpFrom(PROXY, '/whoami', () => ({
        'x-ssl-client-cert': nginxEscape('-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n'),
        'x-ssl-client-verify': 'SUCCESS',
      })),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_MALFORMED' },
    },
    {
      name: 'valid base64 of bytes that are not DER → 401',
      threat: 'H',
      mode: 'forwarded',
      auth: fwdAuth('haproxy'),
      run: httpFrom(PROXY, '/whoami', () => ({
        'x-ssl-client-cert': Buffer.from('0\u0082\u00ff\u00ffjunk').toString('base64'),
        'x-ssl-client-verify': '0',
      })),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_MALFORMED' },
    },
    {
      name: 'header over maxHeaderBytes → 401',
      threat: 'H',
      mode: 'forwarded',
      auth: fwdAuth('nginx', { maxHeaderBytes: 2048 }),
      run: httpFrom(PROXY, '/whoami', (f) => ({
        ...aliceNginx(f),
        'x-ssl-client-cert': nginxEscape(pem(f, 'alice')) + '%20'.repeat(1000),
      })),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_MALFORMED' },
    },
    {
      name: "header beyond Node's header limit → 431 from Node, not 500, handler never runs",
      threat: 'H',
      mode: 'forwarded',
      auth: nginx,
      run: httpFrom(PROXY, '/whoami', () => ({
        'x-ssl-client-cert': 'A'.repeat(40_000),
        'x-ssl-client-verify': 'SUCCESS',
      })),
      expect: { status: 431 },
    },
    {
      name: 'chain longer than maxChainLength → 401',
      threat: 'H',
      mode: 'forwarded',
      auth: fwdAuth('rfc9440', { maxChainLength: 1 }),
      run: httpFrom(PROXY, '/whoami', (f) =>
        headersFor(f, 'rfc9440', 'alice', { chain: [f.pki.intermediate, f.pki.intermediate] }),
      ),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_MALFORMED' },
    },
    {
      name: 'RFC 9440: Client-Cert-Chain without Client-Cert → 401',
      threat: 'H',
      mode: 'forwarded',
      auth: fwdAuth('rfc9440'),
      run: httpFrom(PROXY, '/whoami', (f) => ({
        'client-cert-chain': `:${Buffer.from(f.pki.intermediate.der).toString('base64')}:`,
      })),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_MALFORMED' },
    },
    {
      name: 'RFC 9440: Client-Cert given as a list of two byte sequences → 401',
      threat: 'H',
      mode: 'forwarded',
      auth: fwdAuth('rfc9440'),
      run: httpFrom(PROXY, '/whoami', (f) => ({
        'client-cert': `${headersFor(f, 'rfc9440', 'alice')['client-cert']}, ${headersFor(f, 'rfc9440', 'admin')['client-cert']}`,
      })),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_MALFORMED' },
    },
    {
      name: 'RFC 9440: a string instead of a byte sequence → 401',
      threat: 'H',
      mode: 'forwarded',
      auth: fwdAuth('rfc9440'),
      run: httpFrom(PROXY, '/whoami', () => ({ 'client-cert': '"MIIB"' })),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_MALFORMED' },
    },
    {
      name: 'RFC 9440: parameters on the item are parsed and ignored → 200',
      threat: 'ok',
      mode: 'forwarded',
      auth: fwdAuth('rfc9440'),
      run: httpFrom(PROXY, '/whoami', (f) => ({
        'client-cert': `${headersFor(f, 'rfc9440', 'alice')['client-cert']};a=1;b="x"`,
      })),
      expect: { status: 200, id: 'alice' },
    },
    {
      name: "XFCC: a client-supplied first element is ignored, the proxy's last element is used",
      threat: 'H',
      mode: 'forwarded',
      auth: fwdAuth('xfcc'),
      run: httpFrom(PROXY, '/whoami', (f) => ({
        'x-forwarded-client-cert': `${headersFor(f, 'xfcc', 'admin')['x-forwarded-client-cert']},${headersFor(f, 'xfcc', 'alice')['x-forwarded-client-cert']}`,
      })),
      expect: { status: 200, id: 'alice' },
    },
    {
      name: 'XFCC: xfccElement "first" selects the first element',
      threat: 'ok',
      mode: 'forwarded',
      auth: fwdAuth('xfcc', { xfccElement: 'first' }),
      run: httpFrom(PROXY, '/whoami', (f) => ({
        'x-forwarded-client-cert': `${headersFor(f, 'xfcc', 'admin')['x-forwarded-client-cert']},${headersFor(f, 'xfcc', 'alice')['x-forwarded-client-cert']}`,
      })),
      expect: { status: 200, id: 'admin' },
    },
    {
      name: 'XFCC: a URI SAN with "," and a forged element (Envoy writes URI unquoted) → 401',
      threat: 'H',
      mode: 'forwarded',
      auth: fwdAuth('xfcc'),
      run: httpFrom(PROXY, '/whoami', (f) => headersFor(f, 'xfcc', 'xfccInjector')),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_MALFORMED' },
    },
    {
      name: 'XFCC: Hash that does not match Cert → 401',
      threat: 'H',
      mode: 'forwarded',
      auth: fwdAuth('xfcc'),
      run: httpFrom(PROXY, '/whoami', (f) => ({
        'x-forwarded-client-cert': String(headersFor(f, 'xfcc', 'alice')['x-forwarded-client-cert']).replace(
          /Hash=[0-9a-f]+/,
          `Hash=${f.clients.admin.fingerprint256}`,
        ),
      })),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_MALFORMED' },
    },
    {
      name: 'XFCC: element with Subject/URI but no Cert (identity never from Subject) → 401',
      threat: 'H',
      mode: 'forwarded',
      auth: fwdAuth('xfcc'),
      run: httpFrom(PROXY, '/whoami', () => ({
        'x-forwarded-client-cert':
          'By=spiffe://example.org/proxy;Hash=00;Subject="CN=admin";URI=spiffe://example.org/admin',
      })),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_MALFORMED' },
    },
    {
      name: 'custom header named "constructor" (no prototype surprises) → 200',
      threat: 'H',
      mode: 'forwarded',
      auth: fwdAuth({ header: 'constructor', decoder: 'base64-der' }),
      run: httpFrom(PROXY, '/whoami', (f) => ({
        constructor: Buffer.from(f.clients.alice.der).toString('base64'),
      })),
      expect: { status: 200, id: 'alice' },
    },
    {
      name: 'custom header named "__proto__" absent from the request → 401 missing, no crash',
      threat: 'H',
      mode: 'forwarded',
      auth: fwdAuth({ header: '__proto__', decoder: 'base64-der' }),
      run: httpFrom(PROXY, '/whoami', () => ({ 'x-other': '1' })),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_MISSING' },
    },
    {
      name: 'custom Tomcat-style "(null)" means no certificate → 401',
      threat: 'C',
      mode: 'forwarded',
      auth: fwdAuth({ header: 'x-client-cert-pem', decoder: 'url-pem' }),
      run: httpFrom(PROXY, '/whoami', () => ({ 'x-client-cert-pem': '(null)' })),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_MISSING' },
    },
    ...onBothPaths({
      name: 'keep-alive from the proxy: each request judged on its own header (200, then 401 without one)',
      threat: 'B',
      mode: 'forwarded',
      auth: nginx,
      run: afterSettling('/whoami', () => ({})),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_MISSING' },
    }),
    ...onBothPaths({
      name: 'keep-alive from the proxy: the same lines again plus X_SSL_Client_Verify (a header not read) → 401 untrusted proxy',
      threat: 'A',
      mode: 'forwarded',
      auth: fwdAuth('nginx', { requireVerify: false }),
      // The connection's shortcuts compare the lines it read last time: they must still see twins.
      run: afterSettling('/whoami', (f) => ({ ...aliceNginx(f), X_SSL_Client_Verify: 'SUCCESS' })),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
    }),
    ...onBothPaths({
      name: "keep-alive from the proxy after alice ×3: bob's headers on the same connection → bob",
      threat: 'B',
      mode: 'forwarded',
      auth: nginx,
      run: afterSettling('/whoami', (f) => headersFor(f, 'nginx', 'bob')),
      expect: { status: 200, id: 'bob' },
    }),
    ...onBothPaths({
      name: "keep-alive from the proxy after alice ×3: alice's headers again on /admin → 403",
      threat: 'D',
      mode: 'forwarded',
      auth: nginx,
      run: afterSettling('/admin', aliceNginx),
      expect: { status: 403, code: 'ERR_CLIENT_CERT_NOT_ALLOWED' },
    }),
    {
      name: 'Unix-socket peer without allowUnixSocket: certificate header → 401',
      threat: 'B',
      mode: 'forwarded-unix',
      auth: nginx,
      run: unixRequest(aliceNginx),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
    },
    {
      name: 'Unix-socket peer with allowUnixSocket: true → 200',
      threat: 'ok',
      mode: 'forwarded-unix',
      auth: fwdAuth('nginx', { allowUnixSocket: true }),
      run: unixRequest(aliceNginx),
      expect: { status: 200, id: 'alice' },
    },
  ]
}

function unixRequest(headers: (f: Fixtures) => Headers) {
  return ({ url, f, upgrade }: ScenarioContext) =>
    upgrade
      ? requestUpgrade(url, { path: '/whoami', headers: headers(f) })
      : new Promise<Outcome>((resolve, reject) => {
          const req = http.request(
            { socketPath: url.replace(/^unix:/, ''), path: '/whoami', headers: headers(f) },
            (res) => {
              let body = ''
              res.on('data', (d: Buffer) => (body += d))
              res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }))
            },
          )
          req.on('error', reject)
          req.end()
        })
}

export function forwardedScenarios(): Scenario[] {
  return [...ALL_FORMATS.flatMap(perFormat), ...general(), ...proxyCertificates()]
}

/**
 * Proxies that prove who they are with their own TLS client certificate
 * (`source.forwarded.proxyCertificate`, Kubernetes' requestheader CA + allowed names): any peer
 * address, a proxy CA of its own, one allowed name.
 */
function proxyCertificates(): Scenario[] {
  const byCertificate =
    (extra: Partial<ForwardedOptions> = {}) =>
    (f: Fixtures): Partial<ClientCertOptions> =>
      ({
        source: {
          forwarded: {
            format: 'nginx',
            proxyCertificate: { anchors: f.proxyCaPem, allowedNames: ['front-proxy-client'] },
            ...extra,
          },
        },
      }) as Partial<ClientCertOptions>
  const aliceNginx = (f: Fixtures) => headersFor(f, 'nginx', 'alice')
  const requestHeaders = (f: Fixtures): Partial<ClientCertOptions> => ({
    source: {
      requestHeader: { proxyCertificate: { anchors: f.proxyCaPem, allowedNames: ['front-proxy-client'] } },
    },
  })
  return [
    {
      name: 'proxy certificate: the proxy presents its certificate and forwards alice → 200',
      threat: 'ok',
      mode: 'forwarded-tls',
      auth: byCertificate(),
      run: httpsFrom(STRANGER, '/whoami', 'frontProxy', aliceNginx),
      expect: { status: 200, id: 'alice' },
      check: (o) =>
        expect(JSON.parse(o.body).principal.source).toEqual({
          type: 'forwarded',
          format: 'nginx',
          proxy: STRANGER,
        }),
    },
    {
      name: 'proxy certificate: a stranger with a valid proxy-CA certificate whose name is not allowed → 401',
      threat: 'A',
      mode: 'forwarded-tls',
      auth: byCertificate(),
      run: httpsFrom(STRANGER, '/whoami', 'proxyWrongName', aliceNginx),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
    },
    {
      name: "proxy certificate: the proxy's address without its certificate → 401",
      threat: 'A',
      mode: 'forwarded-tls',
      auth: byCertificate({ trustedProxies: [PROXY] }),
      run: httpsFrom(PROXY, '/whoami', null, aliceNginx),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
    },
    {
      name: 'proxy certificate: the right certificate from an address not in trustedProxies → 401 (both must hold)',
      threat: 'A',
      mode: 'forwarded-tls',
      auth: byCertificate({ trustedProxies: [PROXY] }),
      run: httpsFrom(STRANGER, '/whoami', 'frontProxy', aliceNginx),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
    },
    {
      name: 'proxy certificate: a front-proxy-client certificate issued by the client CA → 401',
      threat: 'A',
      mode: 'forwarded-tls',
      auth: byCertificate(),
      run: httpsFrom(PROXY, '/whoami', 'proxyFromClientCa', aliceNginx),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
    },
    {
      name: 'request headers: the certificate-authenticated proxy asserts X-Remote-User and groups → 200 request-header principal',
      threat: 'ok',
      mode: 'forwarded-tls',
      auth: requestHeaders,
      run: httpsFrom(PROXY, '/whoami', 'frontProxy', () => ({
        'X-Remote-User': 'alice',
        // One line: over HTTP/2 undici joins repeated lines into one field (one group, as in Kubernetes).
        'X-Remote-Group': 'ops',
      })),
      expect: { status: 200, id: 'alice' },
      check: (o) => {
        const p = JSON.parse(o.body).principal
        expect(p.kind).toBe('request-header')
        expect(p.groups).toEqual(['ops'])
        expect(p.fingerprint256).toBe('')
      },
    },
    {
      name: 'request headers: a stranger (or the proxy address without its certificate) sends X-Remote-User → 401',
      threat: 'A',
      mode: 'forwarded-tls',
      auth: requestHeaders,
      run: httpsFrom(PROXY, '/whoami', 'proxyWrongName', () => ({ 'X-Remote-User': 'admin' })),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' },
    },
    {
      name: 'proxy certificate: the authenticated proxy forwards a certificate of an unknown CA → 401 untrusted',
      threat: 'C',
      mode: 'forwarded-tls',
      auth: byCertificate(),
      run: httpsFrom(PROXY, '/whoami', 'frontProxy', (f) => headersFor(f, 'nginx', 'unknownCa')),
      expect: { status: 401, code: 'ERR_CLIENT_CERT_UNTRUSTED' },
    },
  ]
}
