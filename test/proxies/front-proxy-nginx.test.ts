import { mkdirSync, writeFileSync } from 'node:fs'
import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { ClientCertError } from '@clientcert/core'
import { clientCert } from '@clientcert/express'
import {
  type CertificateAuthority,
  createRootCA,
  forwardedHeaders,
  type IssuedCertificate,
  requestWithUndici,
} from '@clientcert/testing'
import express from 'express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createMaterial,
  findBinary,
  freePort,
  type Material,
  type RunningProxy,
  STRANGER,
  startProxy,
} from './harness.js'

/**
 * Real nginx as a Kubernetes-style front proxy (docs/guide/front-proxy.md): it verifies the
 * client, then connects to the Node HTTPS app over TLS presenting its own front-proxy client
 * certificate (`proxy_ssl_certificate`). The app trusts no address, only that certificate.
 *
 *   client --mTLS--> nginx :front  --TLS, CN=front-proxy-client (front-proxy CA)-->  app
 *   client --mTLS--> nginx :trap   --TLS, CN=front-proxy-client (client CA)------->  app
 */

let m: Material
let proxyCa: CertificateAuthority
let nginx: RunningProxy
let app: https.Server
const rejected: ClientCertError[] = []
const ports = { front: 0, trap: 0 }

beforeAll(async () => {
  m = await createMaterial('front-proxy')
  proxyCa = await createRootCA({ subject: 'CN=Front Proxy CA' })
  const front = await proxyCa.issueClient({ subject: 'CN=front-proxy-client' })
  // The trap: the right name from the client CA.
  const fromClientCa = await m.pki.issueClient({ subject: 'CN=front-proxy-client' })
  const write = (name: string, text: string) => {
    const path = join(m.dir, name)
    writeFileSync(path, text, { mode: 0o600 })
    return path
  }
  const identity = (name: string, c: IssuedCertificate) => ({
    cert: write(`${name}.pem`, c.chainPem),
    key: write(`${name}-key.pem`, c.keyPem),
  })

  const web = express()
  web.use(
    clientCert({
      source: {
        forwarded: {
          format: 'nginx',
          proxyCertificate: { anchors: proxyCa.pem, allowedNames: ['front-proxy-client'] },
        },
      },
      trust: { anchors: m.pki.root.pem, intermediates: m.pki.intermediate.pem },
      identity: 'cn',
      allow: { authenticated: true },
      onRejected: (e) => rejected.push(e),
      logger: () => {},
    }),
  )
  web.get('/whoami', (req, res) => {
    res.json({ id: req.clientCert?.id ?? null, source: req.clientCert?.source ?? null })
  })
  app = https.createServer(
    { ...m.pki.server.tlsOptions(), requestCert: true, rejectUnauthorized: false },
    web,
  )
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r))
  const appPort = (app.address() as AddressInfo).port

  ports.front = await freePort()
  ports.trap = await freePort()
  const tmp = (name: string) => {
    const path = join(m.dir, 'nginx', name)
    mkdirSync(path, { recursive: true })
    return path
  }
  const server = (port: number, as: { cert: string; key: string }, reuse: 'on' | 'off') => `
    server {
      listen 127.0.0.1:${port} ssl;
      ssl_verify_client on;
      location / {
        proxy_pass https://127.0.0.1:${appPort};
        proxy_ssl_certificate ${as.cert};
        proxy_ssl_certificate_key ${as.key};
        proxy_ssl_trusted_certificate ${write('app-server-ca.pem', m.pki.serverCa.pem)};
        proxy_ssl_verify on;
        proxy_ssl_name localhost;
        proxy_ssl_session_reuse ${reuse};
        proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
        proxy_set_header X-SSL-Client-Verify $ssl_client_verify;
      }
    }`
  const conf = write(
    'nginx.conf',
    `
daemon off;
master_process off;
worker_processes 1;
pid ${join(m.dir, 'nginx.pid')};
error_log stderr notice;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${tmp('client_body')};
  proxy_temp_path ${tmp('proxy')};
  fastcgi_temp_path ${tmp('fastcgi')};
  uwsgi_temp_path ${tmp('uwsgi')};
  scgi_temp_path ${tmp('scgi')};
  ssl_certificate ${m.files.serverCert};
  ssl_certificate_key ${m.files.serverKey};
  ssl_client_certificate ${m.files.clientCas};
  ssl_verify_depth 3;
  ${server(ports.front, identity('front-proxy', front), 'on')}
  ${
    // nginx caches upstream TLS sessions per upstream address, shared by every location that
    // proxies there: with reuse on, this block resumed the front block's session and the app saw
    // the front-proxy certificate (measured: 200). Each identity needs its own session cache.
    server(ports.trap, identity('trap-proxy', fromClientCa), 'off')
  }
}
`,
  )
  nginx = await startProxy(
    'nginx',
    findBinary('nginx', 'nginx'),
    ['-p', m.dir, '-c', conf, '-e', 'stderr'],
    [ports.front, ports.trap],
    { cwd: m.dir },
  )
})

afterAll(async () => {
  await nginx?.stop()
  app?.closeAllConnections()
  await new Promise((r) => app?.close(r))
  m?.cleanup()
})

const through = (port: number) =>
  requestWithUndici(`https://127.0.0.1:${port}`, { path: '/whoami', client: m.alice, ca: m.pki.serverCa.pem })

describe('real nginx presents a front-proxy certificate (proxy_ssl_certificate)', () => {
  it('a client through nginx is authenticated from the forwarded header', async () => {
    const res = await through(ports.front)
    expect(res.status, `${res.body}\n${nginx.output()}`).toBe(200)
    expect(res.json()).toMatchObject({ id: 'alice', source: { type: 'forwarded', format: 'nginx' } })
  })

  it('the same headers sent straight to the app by a peer without the proxy certificate → 401', async () => {
    const url = `https://127.0.0.1:${(app.address() as AddressInfo).port}`
    for (const client of [null, m.bob]) {
      const res = await requestWithUndici(url, {
        path: '/whoami',
        localAddress: STRANGER,
        client,
        ca: m.pki.serverCa.pem,
        headers: forwardedHeaders('nginx', m.alice),
      })
      expect(res.status).toBe(401)
      expect(rejected.at(-1)?.code).toBe('ERR_CLIENT_CERT_UNTRUSTED_PROXY')
    }
  })

  it('nginx presenting a front-proxy-client certificate from the client CA → 401', async () => {
    const res = await through(ports.trap)
    expect(res.status, res.body).toBe(401)
    expect(rejected.at(-1)?.code).toBe('ERR_CLIENT_CERT_UNTRUSTED_PROXY')
    expect(rejected.at(-1)?.reason).toMatch(/not an authenticated proxy/)
  })
})
