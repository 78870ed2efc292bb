import cluster from 'node:cluster'
import { hkdfSync } from 'node:crypto'
import { createSecureContext } from 'node:tls'
import type { ClientCertAuthenticator } from '../api.js'
import { ClientCertConfigError, TrustSourceError } from '../errors.js'
import type { TrustOptions } from '../options.js'
import { applyServerTrust } from '../server-options.js'
import type { RotatableTlsServer } from './watch.js'

/** What the primary sends its workers: one trust epoch, complete (never a diff). */
export interface ClusterTrust {
  /** Client CA bundles (PEM): `trust.anchors`, and the client CAs of the server. */
  readonly anchors: readonly string[]
  readonly intermediates?: readonly string[]
  /** The server's certificate chain and key (PEM), when they rotate too. */
  readonly serverCert?: string
  readonly serverKey?: string
}

const MESSAGE = 'clientcert:trust'
const MIN_SECRET = 32

/**
 * 48 bytes of TLS ticket keys, the same in every process that holds `secret`, for `context`.
 * HKDF-SHA-256 (RFC 5869) with a fixed salt; the context names the trust epoch and the time
 * window, so keys change with both and a ticket from another epoch cannot be decrypted.
 */
export function deriveTicketKeys(secret: string | Uint8Array, context: string): Buffer {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret
  if (!(bytes instanceof Uint8Array) || bytes.length < MIN_SECRET)
    throw new ClientCertConfigError('secret', `must be at least ${MIN_SECRET} bytes of secret material`)
  return Buffer.from(hkdfSync('sha256', bytes, 'clientcert/tls-ticket-keys/v1', context, 48))
}

let epoch = 0
let last: { epoch: number; trust: ClusterTrust } | undefined

/**
 * In the cluster primary: sends a new trust epoch to every worker, and to workers forked later.
 * Each worker applies it with {@link followClusterTrust}; returns the epoch number.
 */
export function broadcastTrust(trust: ClusterTrust): number {
  if (!cluster.isPrimary) throw new ClientCertConfigError('broadcastTrust', 'runs in the cluster primary')
  checkTrust(trust)
  if (last === undefined)
    cluster.on('online', (worker) => last && worker.send(message(last.epoch, last.trust)))
  last = { epoch: ++epoch, trust }
  for (const worker of Object.values(cluster.workers ?? {})) worker?.send(message(last.epoch, trust))
  return last.epoch
}

export interface FollowClusterTrustOptions {
  readonly authenticator: Pick<ClientCertAuthenticator, 'updateTrust'>
  /** The worker's TLS server: client CAs, certificate and shared ticket keys. */
  readonly server: RotatableTlsServer
  /** The secret every process of the service shares (≥ 32 bytes); ticket keys derive from it. */
  readonly secret: string | Uint8Array
  /** Ticket keys rotate at this interval, in step across workers (default 12 h). */
  readonly rotateMs?: number
  /** Other trust settings kept with every epoch (e.g. `pins`, `spiffe`). */
  readonly trust?: Omit<TrustOptions, 'anchors' | 'intermediates'>
  readonly onError?: (error: TrustSourceError) => void
  readonly onUpdate?: (info: { readonly epoch: number }) => void
  /** Clock for the rotation windows (tests). */
  readonly now?: () => number
}

/**
 * In a worker: applies the trust epochs the primary broadcasts, in order (an older or repeated
 * epoch is ignored), validated whole before anything changes, and keeps the TLS ticket keys
 * equal across workers — so a session resumes on any worker — while tying them to the epoch,
 * so no session made under older trust resumes anywhere.
 */
export function followClusterTrust(options: FollowClusterTrustOptions): {
  readonly epoch: () => number
  close(): void
} {
  const { authenticator: auth, server, secret } = options
  if (typeof auth?.updateTrust !== 'function')
    throw new ClientCertConfigError('authenticator', 'must be a clientcert authenticator')
  if (typeof server?.setTicketKeys !== 'function')
    throw new ClientCertConfigError('server', 'must be a tls/https server')
  deriveTicketKeys(secret, 'check')
  const rotateMs = options.rotateMs ?? 12 * 3_600_000
  if (!Number.isInteger(rotateMs) || rotateMs < 1000)
    throw new ClientCertConfigError('rotateMs', 'must be an integer number of milliseconds ≥ 1000')
  const now = options.now ?? Date.now
  let current = 0
  let closed = false
  let timer: NodeJS.Timeout | undefined

  const keys = () => {
    const window = Math.floor(now() / rotateMs)
    server.setTicketKeys(deriveTicketKeys(secret, `epoch:${current};window:${window}`))
    if (timer !== undefined) clearTimeout(timer)
    if (closed) return
    timer = setTimeout(keys, (window + 1) * rotateMs - now())
    timer.unref?.()
  }

  const onMessage = (msg: unknown): void => {
    if (typeof msg !== 'object' || msg === null || (msg as { type?: unknown }).type !== MESSAGE) return
    const { epoch: next, trust } = msg as { epoch?: unknown; trust?: unknown }
    try {
      if (!Number.isInteger(next) || (next as number) <= current) return
      const t = checkTrust(trust)
      if (t.serverCert !== undefined)
        createSecureContext({ cert: t.serverCert, key: t.serverKey, ca: [...t.anchors] })
      auth.updateTrust({
        trust: {
          ...options.trust,
          anchors: [...t.anchors],
          ...(t.intermediates?.length ? { intermediates: [...t.intermediates] } : {}),
        },
      })
      if (t.serverCert !== undefined && t.serverKey !== undefined)
        applyServerTrust(server, { cert: t.serverCert, key: t.serverKey, clientCa: [...t.anchors] })
      current = next as number
      keys()
      options.onUpdate?.({ epoch: current })
    } catch (err) {
      options.onError?.(
        new TrustSourceError('cluster', `epoch ${String(next)} refused: ${(err as Error).message}`, {
          cause: err,
        }),
      )
    }
  }

  keys()
  process.on('message', onMessage)
  return {
    epoch: () => current,
    close() {
      closed = true
      if (timer !== undefined) clearTimeout(timer)
      process.off('message', onMessage)
    },
  }
}

function message(n: number, trust: ClusterTrust) {
  return { type: MESSAGE, epoch: n, trust }
}

function checkTrust(v: unknown): ClusterTrust {
  const t = v as ClusterTrust
  const strings = (x: unknown) => Array.isArray(x) && x.every((s) => typeof s === 'string')
  if (typeof v !== 'object' || v === null || !strings(t.anchors) || t.anchors.length === 0)
    throw new ClientCertConfigError('trust.anchors', 'must be a non-empty array of PEM strings')
  if (t.intermediates !== undefined && !strings(t.intermediates))
    throw new ClientCertConfigError('trust.intermediates', 'must be an array of PEM strings')
  if ((t.serverCert === undefined) !== (t.serverKey === undefined))
    throw new ClientCertConfigError('trust.serverKey', 'serverCert and serverKey go together')
  if (t.serverCert !== undefined && (typeof t.serverCert !== 'string' || typeof t.serverKey !== 'string'))
    throw new ClientCertConfigError('trust.serverCert', 'must be PEM strings')
  return t
}
