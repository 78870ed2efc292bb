import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createMaterial,
  findBinary,
  freePort,
  type Material,
  PROXY_SOURCE,
  type RunningApp,
  type RunningProxy,
  startApp,
  startProxy,
} from './harness.js'

// `clientcert probe` through a real nginx in front of an Express app in forwarded mode. One
// location sets the certificate headers (inherited from the server block); another adds a
// proxy_set_header of its own, and nginx then drops every inherited one: the client's own
// X-SSL-Client-Cert reaches the app from the allowlisted proxy address. The probe must FAIL that
// route and pass the other.
const CLI = fileURLToPath(new URL('../../packages/cli/dist/cli.js', import.meta.url))

function nginxConf(m: Material, port: number, appPort: number): string {
  const tmp = (name: string) => {
    const path = join(m.dir, 'nginx', name)
    mkdirSync(path, { recursive: true })
    return path
  }
  return `
daemon off;
master_process off;
worker_processes 1;
pid ${join(m.dir, 'nginx.pid')};
error_log stderr notice;
events { worker_connections 128; }
http {
  access_log off;
  client_body_temp_path ${tmp('client_body')};
  proxy_temp_path ${tmp('proxy')};
  fastcgi_temp_path ${tmp('fastcgi')};
  uwsgi_temp_path ${tmp('uwsgi')};
  scgi_temp_path ${tmp('scgi')};
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${m.files.serverCert};
    ssl_certificate_key ${m.files.serverKey};
    ssl_client_certificate ${m.files.clientCas};
    ssl_verify_client on;
    ssl_verify_depth 3;
    proxy_bind ${PROXY_SOURCE};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
    proxy_set_header X-SSL-Client-Verify $ssl_client_verify;
    location / {
      proxy_pass http://127.0.0.1:${appPort};
    }
    # The mistake: a header of its own, so none of the server block's proxy_set_header apply here.
    location /legacy/ {
      proxy_pass http://127.0.0.1:${appPort}/;
      proxy_set_header X-Request-Id $request_id;
    }
  }
}
`
}

function probe(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [CLI, 'probe', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    proc.stdout.on('data', (d: Buffer) => (out += d))
    proc.stderr.on('data', (d: Buffer) => (out += d))
    proc.on('exit', (code) => resolve({ code, out }))
  })
}

describe('clientcert probe through nginx', () => {
  let m: Material
  let app: RunningApp
  let proxy: RunningProxy
  let base: string
  let files: string[]

  beforeAll(async () => {
    const binary = findBinary('nginx', 'nginx')
    m = await createMaterial('probe-nginx')
    app = await startApp('nginx', PROXY_SOURCE, m)
    const port = await freePort()
    const conf = join(m.dir, 'nginx.conf')
    writeFileSync(conf, nginxConf(m, port, app.port))
    proxy = await startProxy('nginx', binary, ['-p', m.dir, '-c', conf, '-e', 'stderr'], [port], {
      cwd: m.dir,
    })
    base = `https://127.0.0.1:${port}`
    const write = (name: string, data: string) => {
      writeFileSync(join(m.dir, name), data, { mode: 0o600 })
      return join(m.dir, name)
    }
    files = [
      '--ca',
      write('server-ca.pem', m.pki.serverCa.pem),
      '--cert',
      write('alice.pem', m.alice.chainPem),
      '--key',
      write('alice-key.pem', m.alice.keyPem),
    ]
  })
  afterAll(async () => {
    await proxy?.stop()
    await app?.close()
    m?.cleanup()
  })

  it("passes the route that overwrites the headers (nginx's own 400 page is not a body-parse alarm)", async () => {
    const r = await probe([`${base}/whoami`, ...files])
    expect(r.out).toMatch(
      /PASS\s+body-before-auth\s+answered 400 \(no problem code\), the same page as without a body/,
    )
    expect(r.out).toMatch(/PASS\s+overwrite:nginx\s+answered 200/)
    expect(r.out).not.toMatch(/FAIL|ERROR/)
    expect(r.code, r.out).toBe(0)
  })

  it('FAILs the location that forgets to overwrite the certificate header', async () => {
    const r = await probe([`${base}/legacy/whoami`, ...files])
    expect(r.out).toMatch(
      /FAIL\s+overwrite:nginx\s+answered 401 ERR_CLIENT_CERT_UNTRUSTED: the forwarded-certificate header/,
    )
    expect(r.code, r.out).toBe(1)
  })
})
