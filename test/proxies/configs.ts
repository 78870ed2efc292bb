import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { type Material, PROXY_SOURCE } from './harness.js'

/**
 * Proxy configurations, generated per run into the suite's temporary directory. Each proxy
 * gets three TLS listeners in front of the same app:
 *
 *  - `strict`:   client certificate required and verified against the client root + intermediate;
 *  - `optional`: verified when sent, but a client without one gets through;
 *  - `lax`:      certificate requested and forwarded even when it failed verification
 *                (nginx `optional_no_ca`, HAProxy `*-ignore-err all`, Caddy `request`), so only
 *                the verify header (where the preset has one) and the app's own validation stand
 *                between it and the handler.
 *
 * Every listener strips client-sent copies of the certificate/verify headers and sets them itself.
 */
export interface Listeners {
  readonly strict: number
  readonly optional: number
  readonly lax: number
}

/** nginx 1.22: `daemon off`, single process, every path inside `m.dir`. Run with `-p dir -c conf -e stderr`. */
export function nginxConfig(m: Material, ports: Listeners, appPort: number): string {
  const tmp = (name: string) => {
    const path = join(m.dir, 'nginx', name)
    mkdirSync(path, { recursive: true })
    return path
  }
  const server = (port: number, verify: string) => `
    server {
      listen 127.0.0.1:${port} ssl;
      ssl_verify_client ${verify};
      location / {
        proxy_pass http://127.0.0.1:${appPort};
        proxy_bind ${PROXY_SOURCE};
        proxy_http_version 1.1;
        proxy_set_header Host $host;
        proxy_set_header Connection "";
        # Replaces any client-sent line of the same names (also when the value is empty: then none is sent).
        proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
        proxy_set_header X-SSL-Client-Verify $ssl_client_verify;
      }
    }`
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
  ssl_certificate ${m.files.serverCert};
  ssl_certificate_key ${m.files.serverKey};
  ssl_client_certificate ${m.files.clientCas};
  ssl_verify_depth 3;
  ${server(ports.strict, 'on')}
  ${server(ports.optional, 'optional')}
  ${server(ports.lax, 'optional_no_ca')}
}
`
}

/** HAProxy 2.6: run with `-f cfg -db` (foreground). */
export function haproxyConfig(m: Material, ports: Listeners, appPort: number): string {
  const frontend = (name: string, port: number, verify: string) => `
frontend ${name}
  bind 127.0.0.1:${port} ssl crt ${m.files.serverBundle} ca-file ${m.files.clientCas} ${verify}
  http-request del-header X-SSL-Client-Cert
  http-request del-header X-SSL-Client-Verify
  http-request set-header X-SSL-Client-Cert %[ssl_c_der,base64]
  http-request set-header X-SSL-Client-Verify %[ssl_c_verify]
  default_backend app
`
  return `
global
  maxconn 256

defaults
  mode http
  timeout connect 5s
  timeout client 10s
  timeout server 10s
${frontend('strict', ports.strict, 'verify required')}
${frontend('optional', ports.optional, 'verify optional')}
${frontend('lax', ports.lax, 'verify optional crt-ignore-err all ca-ignore-err all')}
backend app
  server app 127.0.0.1:${appPort} source ${PROXY_SOURCE}
`
}

/**
 * Caddy 2.6: run with `run --config Caddyfile --adapter caddyfile` and HOME/XDG_* in `m.dir`.
 * No ACME, no admin endpoint, no HTTP/3, explicit certificates.
 *
 * Sites are written `https://:port` + `bind 127.0.0.1`, not `https://127.0.0.1:port`: the
 * latter makes the Caddyfile adapter put client_auth in a connection policy matched on
 * SNI `127.0.0.1` plus a catch-all policy `{}` without client authentication, and a client
 * that connects by IP sends no SNI, so it lands in the catch-all. `ipSite` (when given) is such a
 * listener, kept to prove the app still fails closed behind that misconfiguration.
 *
 * Caddy 2.6's `reverse_proxy` has no `local_address` transport option, so it reaches the app
 * from 127.0.0.1 and the test trusts that address as the proxy.
 */
export function caddyConfig(m: Material, ports: Listeners, appPort: number, ipSite?: number): string {
  const site = (address: string, bind: boolean, mode: string) => `
${address} {
  ${bind ? 'bind 127.0.0.1' : ''}
  tls ${m.files.serverCert} ${m.files.serverKey} {
    client_auth {
      mode ${mode}
      trusted_ca_cert_file ${m.files.clientRoot}
      trusted_ca_cert_file ${m.files.clientIntermediate}
    }
  }
  # Runs before reverse_proxy: drops every client-sent line of the header.
  request_header -X-Client-Cert
  reverse_proxy 127.0.0.1:${appPort} {
    header_up X-Client-Cert {http.request.tls.client.certificate_der_base64}
  }
}`
  return `
{
  auto_https off
  admin off
  skip_install_trust
  grace_period 1s
  storage file_system ${join(m.dir, 'caddy-data')}
  servers {
    protocols h1 h2
  }
}
${site(`https://:${ports.strict}`, true, 'require_and_verify')}
${site(`https://:${ports.optional}`, true, 'verify_if_given')}
${site(`https://:${ports.lax}`, true, 'request')}
${ipSite === undefined ? '' : site(`https://127.0.0.1:${ipSite}`, true, 'require_and_verify')}
`
}
