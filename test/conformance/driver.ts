import * as http from 'node:http'
import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import type * as tls from 'node:tls'
import type { AllowPolicy, ClientCertOptions, ClientPrincipal } from '@clientcert/core'

/**
 * The contract between the conformance scenarios and an adapter. A driver builds the same
 * small app in its framework; scenarios never know which framework they talk to.
 *
 * Routes every driver serves:
 *  - `GET /whoami`  → 200 `{ principal: PrincipalSummary | null, httpVersion }`
 *  - `POST /echo`   → JSON body parsed by the framework's parser (instrumented), 200 `{ principal, body }`
 *  - `GET /admin`   → guarded by `spec.adminPolicy` (per-route policy), 200 `{ principal }`
 *  - `POST /admin`  → the same per-route policy, then the JSON body parsed, 200 `{ principal, body }`
 */
export interface AppSpec {
  /** Core options for the adapter. */
  readonly auth: ClientCertOptions
  /** Optional-certificate mode: requests without a certificate reach routes with no principal. */
  readonly optional?: boolean
  /** Per-route policy on `/admin`. Default `{ ids: ['admin'] }`. */
  readonly adminPolicy?: AllowPolicy
  /** Deliberately mount the body parser before the authentication stage (drivers with `canMisorder`). */
  readonly misordered?: boolean
}

/** What the app records, so scenarios can prove that nothing ran for a rejected request. */
export interface Probes {
  /** Times the framework's body parser started on a request. */
  parsed: number
  /** Times a route handler ran. */
  handled: number
  /** Configuration errors the adapter logged. */
  logged: string[]
}

export interface ListenOptions {
  /** TLS server options; `undefined` = plain HTTP. */
  readonly tls: tls.TlsOptions | undefined
  readonly host: string
  /** Listen on this Unix socket path instead (the URL is then `unix:<path>`). */
  readonly path?: string
}

export interface RunningApp {
  /** Base URL, e.g. `https://127.0.0.1:43123`. */
  readonly url: string
  close(): Promise<void>
}

export interface Driver {
  readonly name: string
  /** True when the driver can build the unsafe order (parser before authentication) for the refusal test. */
  readonly canMisorder: boolean
  /** TLS listeners speak HTTP/2 (HTTP/1.1 allowed too); clients then offer h2. */
  readonly http2?: boolean
  /**
   * The app's endpoints are WebSocket upgrades: scenarios send their GETs as handshakes
   * (`requestUpgrade`).
   */
  readonly upgrade?: boolean
  /**
   * Scenarios that cannot apply to this driver, by exact name, with the reason: skipped
   * visibly (the reason is in the test name), and a name that matches no scenario fails the run.
   */
  readonly notApplicable?: Readonly<Record<string, string>>
  start(spec: AppSpec, probes: Probes, listen: ListenOptions): Promise<RunningApp>
}

/** The principal fields routes return. */
export interface PrincipalSummary {
  readonly id: string
  readonly kind: string
  readonly groups: readonly string[]
  readonly spiffeId: string | null
  readonly fingerprint256: string
  readonly x5tS256: string
  readonly subject: string
  readonly source: ClientPrincipal['source']
}

export function summarise(p: ClientPrincipal | undefined): PrincipalSummary | null {
  if (p === undefined) return null
  return {
    id: p.id,
    kind: p.kind,
    groups: p.groups,
    spiffeId: p.spiffeId ?? null,
    fingerprint256: p.fingerprint256,
    x5tS256: p.x5tS256,
    subject: p.subject.dn,
    source: p.source,
  }
}

/** The base URL of a TCP listener (a `::` listener is reached as `[::1]`). */
export function urlOf(address: { port: number }, listen: ListenOptions): string {
  const host = listen.host.includes(':') ? `[${listen.host === '::' ? '::1' : listen.host}]` : listen.host
  return `${listen.tls ? 'https' : 'http'}://${host}:${address.port}`
}

/** Serves a Node request listener (Express app) per `listen`: HTTPS, plain HTTP or a Unix socket. */
export async function serveNode(handler: http.RequestListener, listen: ListenOptions): Promise<RunningApp> {
  const server = listen.tls ? https.createServer(listen.tls, handler) : http.createServer(handler)
  await new Promise<void>((resolve) =>
    listen.path ? server.listen(listen.path, resolve) : server.listen(0, listen.host, resolve),
  )
  return {
    url: listen.path ? `unix:${listen.path}` : urlOf(server.address() as AddressInfo, listen),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
