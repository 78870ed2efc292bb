// Issue 13, finding 1, end to end: real nginx (`underscores_in_headers on`) and HAProxy (which
// forwards underscore names by default) strip the certificate headers by their exact name only.
// Under optional mTLS a client without a certificate sends the underscore twins of its preset's
// headers with alice's (public) certificate; the proxy adds nothing of its own, so the twins
// reach the app alone from the allowlisted address. They must get 401, never alice.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ForwardedFormat } from '@clientcert/core'
import { forwardedHeaders, requestWithHttps } from '@clientcert/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  attempt,
  createMaterial,
  describeOutcome,
  findBinary,
  freePort,
  type Material,
  type Outcome,
  PROXY_SOURCE,
  problemCode,
  type RunningApp,
  type RunningProxy,
  startApp,
  startProxy,
} from './harness.js'

/** How each proxy sets a preset's headers when (and only when) the client sent a certificate. */
const NGINX: Partial<Record<ForwardedFormat, string[]>> = {
  nginx: ['X-SSL-Client-Cert $ssl_client_escaped_cert', 'X-SSL-Client-Verify $ssl_client_verify'],
  'aws-alb': ['X-Amzn-Mtls-Clientcert-Leaf $ssl_client_escaped_cert'],
  'aws-alb-passthrough': ['X-Amzn-Mtls-Clientcert $ssl_client_escaped_cert'],
}

const HAPROXY: Partial<Record<ForwardedFormat, string[]>> = {
  haproxy: ['X-SSL-Client-Cert %[ssl_c_der,base64]', 'X-SSL-Client-Verify %[ssl_c_verify]'],
  // RFC 9440 through a custom header line: the proxy writes the Structured Field byte sequence.
  rfc9440: ['Client-Cert :%[ssl_c_der,base64]:'],
  traefik: ['X-Forwarded-Tls-Client-Cert %[ssl_c_der,base64]'],
  caddy: ['X-Client-Cert %[ssl_c_der,base64]'],
  azure: ['X-ARR-ClientCert %[ssl_c_der,base64]'],
  cloudflare: [
    'Cf-Client-Cert-Der-Base64 %[ssl_c_der,base64]',
    'Cf-Client-Cert-Sha256 %[ssl_c_der,sha2(256),hex]',
  ],
  gcp: [
    'X-Client-Cert-Leaf :%[ssl_c_der,base64]:',
    'X-Client-Cert-Hash %[ssl_c_der,sha2(256),base64]',
    'X-Client-Cert-Chain-Verified true',
  ],
}

/** Every header name of the preset, which the proxy strips (by exact name) before setting its own. */
const STRIP: Partial<Record<ForwardedFormat, string[]>> = {
  nginx: ['X-SSL-Client-Cert', 'X-SSL-Client-Verify'],
  haproxy: ['X-SSL-Client-Cert', 'X-SSL-Client-Verify'],
  'aws-alb': ['X-Amzn-Mtls-Clientcert-Leaf'],
  'aws-alb-passthrough': ['X-Amzn-Mtls-Clientcert'],
  rfc9440: ['Client-Cert', 'Client-Cert-Chain'],
  traefik: ['X-Forwarded-Tls-Client-Cert'],
  caddy: ['X-Client-Cert'],
  azure: ['X-ARR-ClientCert'],
  cloudflare: ['Cf-Client-Cert-Der-Base64', 'Cf-Client-Cert-Sha256'],
  gcp: ['X-Client-Cert-Leaf', 'X-Client-Cert-Hash', 'X-Client-Cert-Chain-Verified', 'X-Client-Cert-Chain'],
}

function nginxConfig(m: Material, listeners: Array<{ port: number; app: number; format: ForwardedFormat }>) {
  const server = ({ port, app, format }: (typeof listeners)[number]) => `
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_verify_client optional;
    # Forward client headers with "_" in their names (nginx drops them by default).
    underscores_in_headers on;
    location / {
      proxy_pass http://127.0.0.1:${app};
      proxy_bind ${PROXY_SOURCE};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # Replaces the client's line of the same name; sends none when the value is empty.
${(NGINX[format] ?? []).map((l) => `      proxy_set_header ${l};`).join('\n')}
    }
  }`
  const tmp = (name: string) => join(m.dir, `nginx-${name}`)
  return `
daemon off;
master_process off;
worker_processes 1;
pid ${join(m.dir, 'nginx.pid')};
error_log stderr notice;
events { worker_connections 128; }
http {
  access_log off;
  client_body_temp_path ${tmp('body')};
  proxy_temp_path ${tmp('proxy')};
  fastcgi_temp_path ${tmp('fastcgi')};
  uwsgi_temp_path ${tmp('uwsgi')};
  scgi_temp_path ${tmp('scgi')};
  ssl_certificate ${m.files.serverCert};
  ssl_certificate_key ${m.files.serverKey};
  ssl_client_certificate ${m.files.clientCas};
  ssl_verify_depth 3;
${listeners.map(server).join('\n')}
}
`
}

function haproxyConfig(
  m: Material,
  listeners: Array<{ port: number; app: number; format: ForwardedFormat }>,
) {
  const frontend = ({ port, app, format }: (typeof listeners)[number]) => `
frontend f_${format}
  bind 127.0.0.1:${port} ssl crt ${m.files.serverBundle} ca-file ${m.files.clientCas} verify optional
${(STRIP[format] ?? []).map((h) => `  http-request del-header ${h}`).join('\n')}
${(HAPROXY[format] ?? []).map((l) => `  http-request set-header ${l} if { ssl_c_used }`).join('\n')}
  default_backend b_${format}

backend b_${format}
  server app 127.0.0.1:${app} source ${PROXY_SOURCE}
`
  return `
global
  maxconn 256

defaults
  mode http
  timeout connect 5s
  timeout client 10s
  timeout server 10s
${listeners.map(frontend).join('\n')}
`
}

/** `x-ssl-client-cert` → `x_ssl_client_cert`, or `X_SSL_Client_Cert` with `mixed`. */
const underscore = (name: string, mixed: boolean) =>
  name
    .split('-')
    .map((w) => (mixed ? (w.length <= 3 ? w.toUpperCase() : w[0]!.toUpperCase() + w.slice(1)) : w))
    .join('_')

interface Running {
  m: Material
  proxy: RunningProxy
  apps: Map<ForwardedFormat, RunningApp>
  ports: Map<ForwardedFormat, number>
}

function suite(name: 'nginx' | 'haproxy', formats: ForwardedFormat[]) {
  describe(`real proxy: ${name} forwards underscore twins of the certificate headers`, () => {
    let r: Running | undefined
    const started: Partial<Running> = {}
    beforeAll(async () => {
      const binary = findBinary(name, name)
      const m = await createMaterial(`${name}-spell`)
      started.m = m
      const apps = new Map<ForwardedFormat, RunningApp>()
      started.apps = apps
      const ports = new Map<ForwardedFormat, number>()
      const listeners: Array<{ port: number; app: number; format: ForwardedFormat }> = []
      for (const format of formats) {
        // requireVerify: false, as with a proxy that sends no verify header (the reproduced setup).
        const app = await startApp(format, PROXY_SOURCE, m, { requireVerify: false })
        apps.set(format, app)
        const port = await freePort()
        ports.set(format, port)
        listeners.push({ port, app: app.port, format })
      }
      const file = join(m.dir, `${name}.conf`)
      writeFileSync(file, name === 'nginx' ? nginxConfig(m, listeners) : haproxyConfig(m, listeners))
      const args = name === 'nginx' ? ['-p', m.dir, '-c', file, '-e', 'stderr'] : ['-f', file, '-db']
      const proxy = await startProxy(name, binary, args, [...ports.values()], { cwd: m.dir })
      started.proxy = proxy
      r = { m, proxy, apps, ports }
    })
    afterAll(async () => {
      await started.proxy?.stop()
      for (const app of started.apps?.values() ?? []) await app.close()
      started.m?.cleanup()
    })

    const via = (format: ForwardedFormat, client: 'alice' | null, headers: Record<string, string> = {}) => {
      const { m, ports } = r!
      const port = ports.get(format)!
      return attempt(
        requestWithHttps(`https://127.0.0.1:${port}`, {
          ca: m.pki.serverCa.pem,
          servername: 'localhost',
          path: '/whoami',
          client: client === null ? null : m.alice,
          headers: { host: `localhost:${port}`, ...headers },
          timeoutMs: 5000,
        }),
      )
    }

    const status = (o: Outcome) => (o.kind === 'response' ? o.status : -1)

    for (const format of formats) {
      it(`${format}: a client with a certificate gets through with its identity (control)`, async () => {
        const o = await via(format, 'alice')
        expect(status(o), describeOutcome(o)).toBe(200)
        expect(o.kind === 'response' && (JSON.parse(o.body) as { id: string }).id).toBe('alice')
      })

      for (const mixed of [false, true]) {
        it(`${format}: no certificate + ${mixed ? 'mixed-case ' : ''}underscore twins carrying alice's certificate → 401, never alice`, async () => {
          const { m, apps } = r!
          const app = apps.get(format)!
          const handled = app.probes.handled
          const twins = Object.fromEntries(
            Object.entries(forwardedHeaders(format, m.alice)).map(([k, v]) => [underscore(k, mixed), v]),
          )
          const o = await via(format, null, twins)
          expect(status(o), describeOutcome(o)).toBe(401)
          expect(problemCode(o)).toBe('ERR_CLIENT_CERT_UNTRUSTED_PROXY')
          expect(app.probes.handled).toBe(handled)
          expect(app.probes.rejected.at(-1)?.code).toBe('ERR_CLIENT_CERT_UNTRUSTED_PROXY')
        })
      }

      it(`${format}: alice's certificate + an underscore twin of the certificate header (bob's) → 401`, async () => {
        const { m } = r!
        const [certHeader] = Object.keys(forwardedHeaders(format, m.alice)).filter((k) =>
          (STRIP[format] ?? []).some((s) => s.toLowerCase() === k),
        )
        const bob = forwardedHeaders(format, m.bob)
        const o = await via(format, 'alice', { [underscore(certHeader!, false)]: bob[certHeader!]! })
        expect(status(o), describeOutcome(o)).toBe(401)
        expect(problemCode(o)).toBe('ERR_CLIENT_CERT_UNTRUSTED_PROXY')
      })
    }
  })
}

suite('nginx', ['nginx', 'aws-alb', 'aws-alb-passthrough'])
suite('haproxy', ['haproxy', 'rfc9440', 'traefik', 'caddy', 'azure', 'cloudflare', 'gcp'])
