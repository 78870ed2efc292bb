import { createPrivateKey, X509Certificate } from 'node:crypto'
import { createSecureContext } from 'node:tls'
import {
  applyServerTrust,
  type ClientCertAuthenticator,
  ClientCertConfigError,
  parseSpiffeId,
  type RotatableTlsServer,
  type TrustOptions,
  TrustSourceError,
} from '@clientcert/core'
import { type ClientReadableStream, type Client as GrpcClient, Metadata, status } from '@grpc/grpc-js'
import { workloadTarget } from './address.js'
import { derToPem, splitDer } from './der.js'
import {
  insecureChannel,
  SECURITY_HEADER,
  workloadService,
  type X509BundlesResponse,
  type X509SvidResponse,
} from './proto.js'

/** Options of {@link createWorkloadApiSource}. */
export interface WorkloadApiSourceOptions {
  /** The authenticator whose `trust.spiffe.bundles` follow the Workload API. */
  readonly authenticator: Pick<ClientCertAuthenticator, 'updateTrust'>
  /**
   * The Workload API address, `unix:///path/to/agent.sock` or `tcp://IP:port`. Default: the
   * `SPIFFE_ENDPOINT_SOCKET` environment variable.
   */
  readonly address?: string
  /** Other trust settings kept with every update (e.g. `anchors` for clients without a SPIFFE ID). */
  readonly trust?: Omit<TrustOptions, 'spiffe'>
  /**
   * A TLS server to serve this workload's own X509-SVID (streamed with `FetchX509SVID`); its
   * client CAs become the trust bundles. New handshakes use them; no older session resumes.
   */
  readonly server?: RotatableTlsServer
  /** Which SVID the server serves when the workload has several: by SPIFFE ID. Default: the first (the spec's default). */
  readonly svidId?: string
  /** Reconnection delays: doubling from `initialMs` (default 500) up to `maxMs` (default 30 000). */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number }
  /** An update could not be used, or the stream broke; the last good state stays in force. */
  readonly onError?: (error: TrustSourceError) => void
  /** An update was applied. */
  readonly onUpdate?: (info: WorkloadApiUpdate) => void
}

export interface WorkloadApiUpdate {
  readonly kind: 'bundles' | 'svid'
  /** Trust domains now trusted (for `bundles`), or the SVID's SPIFFE ID (for `svid`). */
  readonly trustDomains: readonly string[]
  readonly spiffeId?: string
}

/** A running Workload API source. */
export interface WorkloadApiSource {
  /**
   * Resolves once the first bundles (and, with `server`, the first SVID) are applied; rejects
   * with a `TrustSourceError` after `timeoutMs` (default 10 000) without them. Serve only after it.
   */
  ready(timeoutMs?: number): Promise<void>
  /** The trust domains currently applied. */
  trustDomains(): readonly string[]
  /** Stops the streams; trust stays as last applied. */
  close(): void
}

const SOURCE = 'workload-api'

interface Svid {
  readonly spiffeId: string
  readonly certPem: string
  readonly keyPem: string
  readonly ownBundle: readonly Uint8Array[]
}

/**
 * Follows the SPIFFE Workload API (SPIRE agent, or any implementation of the published
 * protocol) the way go-spiffe's `X509Source` does: streams `FetchX509Bundles` into
 * `trust.spiffe.bundles` (each message is the whole set, so a trust domain missing from it is
 * withdrawn), and `FetchX509SVID` into the server's certificate. Every message is validated
 * whole before anything is applied; a bad one or a broken stream keeps the last good state,
 * is reported, and the stream is opened again with backoff.
 */
export function createWorkloadApiSource(options: WorkloadApiSourceOptions): WorkloadApiSource {
  if (typeof options !== 'object' || options === null)
    throw new ClientCertConfigError('createWorkloadApiSource', 'expects an options object')
  const auth = options.authenticator
  if (typeof auth?.updateTrust !== 'function')
    throw new ClientCertConfigError('authenticator', 'must be a clientcert authenticator')
  const address = options.address ?? process.env.SPIFFE_ENDPOINT_SOCKET
  if (address === undefined || address === '')
    throw new ClientCertConfigError('address', 'is required when SPIFFE_ENDPOINT_SOCKET is not set')
  const target = workloadTarget(address, options.address === undefined ? 'SPIFFE_ENDPOINT_SOCKET' : 'address')
  const server = options.server
  if (server !== undefined && typeof server.setSecureContext !== 'function')
    throw new ClientCertConfigError('server', 'must be a tls/https server')
  if (options.svidId !== undefined && typeof parseSpiffeId(options.svidId) === 'string')
    throw new ClientCertConfigError('svidId', 'is not a SPIFFE ID')
  const initialMs = delay(options.backoff?.initialMs, 'backoff.initialMs', 500)
  const maxMs = delay(options.backoff?.maxMs, 'backoff.maxMs', 30_000)
  for (const fn of ['onError', 'onUpdate'] as const) {
    if (options[fn] !== undefined && typeof options[fn] !== 'function')
      throw new ClientCertConfigError(fn, 'must be a function')
  }

  const Service = workloadService()
  const client: GrpcClient = new Service(target, insecureChannel())
  let closed = false
  let bundles: Map<string, readonly Uint8Array[]> | undefined
  let svid: Svid | undefined
  const waiters = new Set<() => void>()
  const isReady = () => bundles !== undefined && (server === undefined || svid !== undefined)

  const report = (message: string, cause?: unknown): void => {
    try {
      options.onError?.(new TrustSourceError(SOURCE, message, { cause }))
    } catch {
      // A failing report hook must not stop the source.
    }
  }
  const updated = (info: WorkloadApiUpdate): void => {
    try {
      options.onUpdate?.(info)
    } catch {
      // Applied already; a failing hook changes nothing.
    }
    if (isReady()) for (const w of waiters) w()
  }

  /** Loads the server identity into a throw-away context first, so a bad one fails before anything changes. */
  const prepareServer = (
    nextBundles: Map<string, readonly Uint8Array[]> | undefined,
    nextSvid: Svid | undefined,
  ): (() => void) => {
    if (server === undefined || nextSvid === undefined) return () => {}
    // The CertificateRequest names every trusted authority; path choice per domain is the app's.
    const cas = [...(nextBundles?.values() ?? [])].flat()
    const clientCa = (cas.length > 0 ? cas : nextSvid.ownBundle).map((d) => derToPem(d))
    createSecureContext({ cert: nextSvid.certPem, key: nextSvid.keyPem, ca: clientCa })
    return () => applyServerTrust(server, { cert: nextSvid.certPem, key: nextSvid.keyPem, clientCa })
  }

  const onBundles = (msg: X509BundlesResponse): void => {
    const next = new Map<string, readonly Uint8Array[]>()
    for (const [key, der] of Object.entries(msg.bundles ?? {})) {
      const td = trustDomainOf(key)
      if (td === undefined) throw new Error(`bundle key "${key}" is not a trust domain`)
      if (next.has(td)) throw new Error(`trust domain "${td}" appears twice`)
      next.set(td, splitDer(der, `bundle of ${td}`))
    }
    const applyServer = prepareServer(next, svid)
    auth.updateTrust({
      trust: {
        ...options.trust,
        spiffe: { bundles: Object.fromEntries([...next].map(([td, c]) => [td, [...c]])) },
      },
    })
    bundles = next
    applyServer()
    updated({ kind: 'bundles', trustDomains: [...next.keys()] })
  }

  const onSvid = (msg: X509SvidResponse): void => {
    const list = msg.svids ?? []
    const chosen = options.svidId === undefined ? list[0] : list.find((s) => s.spiffe_id === options.svidId)
    if (chosen === undefined)
      throw new Error(
        options.svidId === undefined ? 'no SVID in the update' : `no SVID for ${options.svidId}`,
      )
    const chain = splitDer(chosen.x509_svid, 'x509_svid')
    const leaf = new X509Certificate(chain[0]!)
    // The agent's claim and the certificate must agree: the leaf is what peers will see.
    const uris = (leaf.subjectAltName ?? '').split(', ').filter((n) => n.startsWith('URI:'))
    if (uris.length !== 1 || uris[0] !== `URI:${chosen.spiffe_id}`)
      throw new Error(`the SVID certificate does not carry exactly the SPIFFE ID ${chosen.spiffe_id}`)
    const key = createPrivateKey({ key: Buffer.from(chosen.x509_svid_key), format: 'der', type: 'pkcs8' })
    const next: Svid = {
      spiffeId: chosen.spiffe_id,
      certPem: chain.map((d) => derToPem(d)).join(''),
      keyPem: key.export({ type: 'pkcs8', format: 'pem' }) as string,
      ownBundle: chosen.bundle.length > 0 ? splitDer(chosen.bundle, 'bundle') : [],
    }
    prepareServer(bundles, next)()
    svid = next
    updated({ kind: 'svid', trustDomains: [], spiffeId: next.spiffeId })
  }

  const streams = new Set<ClientReadableStream<unknown>>()
  const follow = <T>(method: 'FetchX509Bundles' | 'FetchX509SVID', handle: (msg: T) => void): void => {
    let attempt = 0
    const open = (): void => {
      if (closed) return
      const metadata = new Metadata()
      metadata.set(SECURITY_HEADER, 'true')
      const call = (
        client as unknown as Record<string, (req: object, md: Metadata) => ClientReadableStream<T>>
      )[method]!({}, metadata)
      streams.add(call as ClientReadableStream<unknown>)
      let done = false
      const retry = (why: string, cause?: unknown): void => {
        if (done) return
        done = true
        streams.delete(call as ClientReadableStream<unknown>)
        if (closed) return
        report(`${method}: ${why}; keeping the last good state, reconnecting`, cause)
        const wait = Math.min(maxMs, initialMs * 2 ** Math.min(attempt++, 16))
        setTimeout(open, wait).unref?.()
      }
      call.on('data', (msg: T) => {
        try {
          handle(msg)
          attempt = 0
        } catch (err) {
          report(`${method}: an update was refused (${describeError(err)}); keeping the last good state`, err)
        }
      })
      call.on('error', (err: Error & { code?: number }) => {
        if (closed && err.code === status.CANCELLED) return
        retry(`stream failed (${status[err.code ?? status.UNKNOWN] ?? 'UNKNOWN'})`, err)
      })
      call.on('end', () => retry('stream ended'))
    }
    open()
  }

  follow<X509BundlesResponse>('FetchX509Bundles', onBundles)
  if (server !== undefined) follow<X509SvidResponse>('FetchX509SVID', onSvid)

  return {
    ready(timeoutMs = 10_000) {
      if (isReady()) return Promise.resolve()
      return new Promise<void>((resolve, reject) => {
        const done = () => {
          clearTimeout(timer)
          waiters.delete(done)
          resolve()
        }
        const timer = setTimeout(() => {
          waiters.delete(done)
          reject(
            new TrustSourceError(
              SOURCE,
              `no ${bundles === undefined ? 'bundles' : 'SVID'} within ${timeoutMs} ms`,
            ),
          )
        }, timeoutMs)
        waiters.add(done)
      })
    },
    trustDomains: () => [...(bundles?.keys() ?? [])],
    close() {
      closed = true
      for (const s of streams) s.cancel()
      streams.clear()
      client.close()
    },
  }
}

/** Bundle keys are trust domain IDs (`spiffe://example.org`); a bare name is accepted too, as go-spiffe does. */
function trustDomainOf(key: string): string | undefined {
  const id = parseSpiffeId(key.startsWith('spiffe://') ? key : `spiffe://${key}`)
  if (typeof id === 'string' || id.path !== '') return undefined
  return id.trustDomain
}

function describeError(err: unknown): string {
  if (err instanceof ClientCertConfigError) return err.message
  return err instanceof Error ? err.message : 'unknown failure'
}

function delay(v: unknown, option: string, fallback: number): number {
  if (v === undefined) return fallback
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 3_600_000)
    throw new ClientCertConfigError(option, 'must be an integer number of milliseconds (1–3600000)')
  return v
}
