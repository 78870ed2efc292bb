import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { FORWARDED_HEADER_FORMATS, type ForwardedHeaderFormat } from './forwarded.js'
import { createTestPki } from './test-pki.js'

/** TLS material for a development server. */
export interface DevTls {
  /** Server certificate chain PEM. */
  readonly cert: string
  /** Server private key PEM. */
  readonly key: string
  /** Client CA PEM the server trusts. */
  readonly clientCa: string
  /** Where a development PKI was written, when one was generated. */
  readonly devDir?: string
}

/**
 * Server TLS material for examples and local development: the files named by `TLS_CERT`,
 * `TLS_KEY` and `CLIENT_CA` when set (all three, or none), otherwise a fresh development PKI
 * written to `dir` — `client-ca.pem`, `server-ca.pem`, `server.pem`, `server-key.pem` and
 * `<name>.pem` / `<name>-key.pem` for each client (keys mode 0600). Never for production.
 */
export async function loadOrCreateDevTls(
  env: NodeJS.ProcessEnv,
  dir: string,
  clients: readonly string[] = ['alice', 'admin'],
): Promise<DevTls> {
  const { TLS_CERT, TLS_KEY, CLIENT_CA } = env
  if (TLS_CERT || TLS_KEY || CLIENT_CA) {
    if (!TLS_CERT || !TLS_KEY || !CLIENT_CA)
      throw new Error('set all of TLS_CERT, TLS_KEY and CLIENT_CA, or none')
    return {
      cert: readFileSync(TLS_CERT, 'utf8'),
      key: readFileSync(TLS_KEY, 'utf8'),
      clientCa: readFileSync(CLIENT_CA, 'utf8'),
    }
  }
  mkdirSync(dir, { recursive: true })
  const pki = await createTestPki()
  const write = (name: string, data: string, secret = false) =>
    writeFileSync(join(dir, name), data, { mode: secret ? 0o600 : 0o644 })
  // Root and intermediate: the bundle both the TLS stack (`ca`) and app-level trust
  // (`trust.anchors`, forwarded mode) can build client paths with.
  const clientCa = pki.clientCaPem + pki.intermediate.pem
  write('client-ca.pem', clientCa)
  write('server-ca.pem', pki.serverCa.pem)
  write('server.pem', pki.server.chainPem)
  write('server-key.pem', pki.server.keyPem, true)
  for (const name of clients) {
    const c = await pki.issueClient({ subject: `CN=${name}` })
    write(`${name}.pem`, c.chainPem)
    write(`${name}-key.pem`, c.keyPem, true)
  }
  return { cert: pki.server.chainPem, key: pki.server.keyPem, clientCa, devDir: dir }
}

/** Core options for forwarded mode, as the examples build them from the environment. */
export interface ExampleForwardedAuth {
  readonly source: {
    readonly forwarded: { readonly format: ForwardedHeaderFormat; readonly trustedProxies: readonly string[] }
    readonly tls: true
  }
  readonly trust: { readonly anchors: string }
}

/** The examples' configuration contract (examples/README.md), read from the environment. */
export interface ExampleConfig {
  readonly host: string
  readonly port: number
  readonly adminIds: readonly string[]
  readonly tls: DevTls
  /** HTTPS server options: the TLS stack verifies client certificates against CLIENT_CA. */
  readonly https: {
    readonly cert: string
    readonly key: string
    readonly ca: string
    readonly requestCert: true
    readonly rejectUnauthorized: false
    readonly minVersion: 'TLSv1.2'
  }
  /** With TRUSTED_PROXIES set: the plain-HTTP port for the proxy hop and the core options for it. */
  readonly forwarded?: { readonly httpPort: number; readonly auth: ExampleForwardedAuth }
  /** Prints the listening line (tests wait for `listening on <url>`) and a curl command for a dev PKI. */
  announce(name: string, url: string): void
}

/**
 * Reads HOST, PORT, TLS_CERT/TLS_KEY/CLIENT_CA (or generates a dev PKI into `certsDir`),
 * ADMIN_IDS, and TRUSTED_PROXIES + FORWARDED_FORMAT + HTTP_PORT for forwarded mode.
 */
export async function loadExampleConfig(
  env: NodeJS.ProcessEnv,
  certsDir: string,
  defaultPort: number,
): Promise<ExampleConfig> {
  const list = (v: string | undefined, dflt: string) =>
    (v ?? dflt)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
  const tls = await loadOrCreateDevTls(env, certsDir)
  const proxies = list(env.TRUSTED_PROXIES, '')
  const forwarded =
    proxies.length === 0
      ? undefined
      : {
          httpPort: Number(env.HTTP_PORT ?? 0),
          auth: {
            source: {
              forwarded: { format: forwardedFormat(env.FORWARDED_FORMAT), trustedProxies: proxies },
              tls: true as const,
            },
            trust: { anchors: tls.clientCa },
          },
        }
  return {
    host: env.HOST ?? '127.0.0.1',
    port: Number(env.PORT ?? defaultPort),
    adminIds: list(env.ADMIN_IDS, 'admin'),
    tls,
    https: {
      cert: tls.cert,
      key: tls.key,
      ca: tls.clientCa,
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    },
    ...(forwarded ? { forwarded } : {}),
    announce(name, url) {
      console.log(`${name} listening on ${url}`)
      if (tls.devDir) {
        const d = tls.devDir
        console.log(`development PKI in ${d}; try:`)
        console.log(
          `  curl --cacert ${d}/server-ca.pem --cert ${d}/alice.pem --key ${d}/alice-key.pem ${url}/whoami`,
        )
      }
    },
  }
}

/** `https://host:port` / `http://[::1]:port` for a bound address. */
export function urlFor(scheme: 'http' | 'https', host: string, port: number): string {
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`
}

function forwardedFormat(value: string | undefined): ForwardedHeaderFormat {
  const format = value ?? 'rfc9440'
  if (!(FORWARDED_HEADER_FORMATS as readonly string[]).includes(format)) {
    throw new Error(`FORWARDED_FORMAT must be one of ${FORWARDED_HEADER_FORMATS.join(', ')}`)
  }
  return format as ForwardedHeaderFormat
}
