import { createHash } from 'node:crypto'
import { type FSWatcher, readFileSync, realpathSync, watch } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { createSecureContext, type SecureContextOptions } from 'node:tls'
import { type ClientCertAuthenticator, DESCRIBE_TRUST, type TrustUpdate } from '../api.js'
import { onlyKeys, plainObject } from '../config-check.js'
import { ClientCertConfigError, TrustSourceError } from '../errors.js'
import {
  describeTrust,
  type ExpiringItem,
  expiringWithin,
  horizonOf,
  type ServerItem,
  serverItems as serverItemsOf,
} from '../expiry.js'
import type { TrustOptions } from '../options.js'
import type { RevocationOptions } from '../revocation/index.js'
import { applyServerTrust } from '../server-options.js'
import type { ProxyCertificateOptions } from '../sources/proxy-identity.js'

/** A TLS server whose certificate and client CAs can be replaced (`https.Server`, `tls.Server`). */
export interface RotatableTlsServer {
  setSecureContext(options: SecureContextOptions): void
  setTicketKeys(keys: Buffer): void
}

/** Options of {@link watchTrust}. Every path is a file; its directory is what is watched. */
export interface WatchTrustOptions {
  /** The authenticator whose trust follows the files (through `updateTrust`). */
  readonly authenticator: Pick<ClientCertAuthenticator, 'updateTrust'>
  /** PEM bundles of client CAs (`trust.anchors`). */
  readonly anchors: string | readonly string[]
  /** PEM bundles of intermediates (`trust.intermediates`). */
  readonly intermediates?: string | readonly string[]
  /** CRL files (`revocation.crls.sources`). */
  readonly crls?: string | readonly string[]
  /** Other trust settings kept with every update (e.g. `pins`, `spiffe`). */
  readonly trust?: Omit<TrustOptions, 'anchors' | 'intermediates'>
  /**
   * PEM bundles of the front-proxy CA (`source.forwarded.proxyCertificate.anchors`, see
   * docs/guide/front-proxy.md); the authenticator must have been built with a proxyCertificate.
   */
  readonly proxyAnchors?: string | readonly string[]
  /** PEM bundles of front-proxy intermediates (`source.forwarded.proxyCertificate.intermediates`). */
  readonly proxyIntermediates?: string | readonly string[]
  /** Other proxy-certificate settings kept with every update when `proxyAnchors` is set (`allowedNames`). */
  readonly proxyCertificate?: Omit<ProxyCertificateOptions, 'anchors' | 'intermediates'>
  /** Other revocation settings kept with every update when `crls` is set. */
  readonly revocation?: Omit<RevocationOptions, 'crls'>
  /** The server's own certificate chain (PEM); needs `serverKey` and `server`. */
  readonly serverCert?: string
  /** The server's private key (PEM); needs `serverCert` and `server`. */
  readonly serverKey?: string
  /**
   * The TLS server to apply `serverCert`/`serverKey`, the anchors (as the client CAs the
   * handshake asks for and, in `'require'` mode, verifies) and the CRLs to, via
   * `applyServerTrust`: new handshakes use them and no older session resumes.
   */
  readonly server?: RotatableTlsServer
  /** Quiet time after the last change before the files are read (default 200 ms). */
  readonly debounceMs?: number
  /** Re-read at this interval even without a change event (default 60 000 ms; 0 turns it off). */
  readonly intervalMs?: number
  /**
   * Expiry signals for what is loaded: after every applied set (and once a day from the
   * interval re-read), everything in force that expires within `horizonDays` — client CAs,
   * intermediates, CRLs (nextUpdate), the front-proxy CA and `serverCert` — goes to
   * `onExpiringSoon`, as `createExpiryMonitor` reports it. Needs an authenticator from
   * `createClientCertAuthenticator`.
   */
  readonly expiry?: {
    readonly horizonDays: number
    readonly onExpiringSoon: (items: readonly ExpiringItem[]) => void
  }
  /** A change that could not be applied; the last good trust stays in force. */
  readonly onError?: (error: TrustSourceError) => void
  /** A change was applied. `files` are the paths given, `digest` identifies their contents. */
  readonly onUpdate?: (info: { readonly files: readonly string[]; readonly digest: string }) => void
}

/** A running file watch. */
export interface TrustWatcher {
  /** Reads the files now; `true` when something new was applied (failures go to `onError`). */
  reload(): boolean
  /** Stops watching. Trust stays as it was last applied. */
  close(): void
}

interface Files {
  readonly anchors: readonly string[]
  readonly intermediates: readonly string[]
  readonly proxyAnchors: readonly string[]
  readonly proxyIntermediates: readonly string[]
  readonly crls: readonly string[]
  readonly serverCert: string | undefined
  readonly serverKey: string | undefined
}

interface Read {
  readonly anchors: string[]
  readonly intermediates: string[]
  readonly proxyAnchors: string[]
  readonly proxyIntermediates: string[]
  readonly crls: string[]
  readonly serverCert: string | undefined
  readonly serverKey: string | undefined
  readonly digest: string
}

/**
 * Keeps an authenticator's trust (and optionally a server's certificate and client CAs) in step
 * with files on disk, as written by cert-manager, spiffe-helper or a Kubernetes Secret volume.
 *
 * Writers replace files by atomic rename, and kubelet swaps a `..data` symlink to a new
 * directory: a watch on the file itself would keep following the old inode. So the
 * directories are watched (the file's own, and the directory its real path resolves to, which
 * is re-resolved after every change), and every change reads all files again as one set.
 * The set is applied only when it is valid as a whole (`updateTrust` validates it; the server
 * identity is loaded into a throw-away context first), so a half-written or broken file keeps
 * the last good state and is reported to `onError`.
 *
 * The first read happens now and throws `ClientCertConfigError` when the files are unusable.
 */
export function watchTrust(options: WatchTrustOptions): TrustWatcher {
  if (typeof options !== 'object' || options === null)
    throw new ClientCertConfigError('watchTrust', 'expects an options object')
  const auth = options.authenticator
  if (typeof auth?.updateTrust !== 'function')
    throw new ClientCertConfigError('watchTrust.authenticator', 'must be a clientcert authenticator')
  const files: Files = {
    anchors: pathList(options.anchors, 'watchTrust.anchors', true),
    intermediates: pathList(options.intermediates, 'watchTrust.intermediates', false),
    proxyAnchors: pathList(options.proxyAnchors, 'watchTrust.proxyAnchors', false),
    proxyIntermediates: pathList(options.proxyIntermediates, 'watchTrust.proxyIntermediates', false),
    crls: pathList(options.crls, 'watchTrust.crls', false),
    serverCert: optionalPath(options.serverCert, 'watchTrust.serverCert'),
    serverKey: optionalPath(options.serverKey, 'watchTrust.serverKey'),
  }
  if ((files.serverCert === undefined) !== (files.serverKey === undefined))
    throw new ClientCertConfigError('watchTrust.serverKey', 'serverCert and serverKey go together')
  if (files.proxyAnchors.length === 0 && files.proxyIntermediates.length > 0)
    throw new ClientCertConfigError('watchTrust.proxyIntermediates', 'needs watchTrust.proxyAnchors')
  if (files.proxyAnchors.length === 0 && options.proxyCertificate !== undefined)
    throw new ClientCertConfigError('watchTrust.proxyCertificate', 'needs watchTrust.proxyAnchors')
  const server = options.server
  if (files.serverCert !== undefined && server === undefined)
    throw new ClientCertConfigError('watchTrust.server', 'is required with serverCert/serverKey')
  if (server !== undefined && typeof server.setSecureContext !== 'function')
    throw new ClientCertConfigError('watchTrust.server', 'must be a tls/https server')
  const debounceMs = ms(options.debounceMs, 'watchTrust.debounceMs', 200)
  const intervalMs = ms(options.intervalMs, 'watchTrust.intervalMs', 60_000)
  for (const fn of ['onError', 'onUpdate'] as const) {
    if (options[fn] !== undefined && typeof options[fn] !== 'function')
      throw new ClientCertConfigError(`watchTrust.${fn}`, 'must be a function')
  }
  const expiry = resolveExpiry(options.expiry, auth)
  const all = [
    ...files.anchors,
    ...files.intermediates,
    ...files.proxyAnchors,
    ...files.proxyIntermediates,
    ...files.crls,
  ]
  if (files.serverCert !== undefined) all.push(files.serverCert, files.serverKey as string)

  let applied = ''
  let closed = false
  let serverItems: ServerItem[] = []
  let expiryCheckedAt = Number.NEGATIVE_INFINITY
  let timer: NodeJS.Timeout | undefined
  const watchers = new Map<string, FSWatcher>()

  const report = (error: TrustSourceError): void => {
    try {
      options.onError?.(error)
    } catch {
      // A failing report hook must not stop the watch.
    }
  }

  /** Reports what expires soon among what is in force; never throws. */
  const checkExpiry = (): void => {
    if (expiry === undefined) return
    try {
      const now = Date.now()
      expiryCheckedAt = now
      const items = expiringWithin(
        [describeTrust(auth as ClientCertAuthenticator)],
        serverItems,
        now,
        expiry.horizonMs,
      )
      if (items.length > 0) expiry.onExpiringSoon(items)
    } catch {
      // A failing warning hook must not stop the watch.
    }
  }

  /** Reads and applies; throws what went wrong. */
  const apply = (attempt = 0): boolean => {
    const before = realpaths(all)
    const read = readAll(files)
    // A swap between two reads would mix old and new files: read the set again.
    if (realpaths(all) !== before) {
      if (attempt < 3) return apply(attempt + 1)
      throw new Error('the files kept changing while they were read')
    }
    if (read.digest === applied) {
      if (Date.now() - expiryCheckedAt >= DAY_MS) checkExpiry()
      return false
    }
    const update = buildUpdate(read, options)
    const server_ =
      read.serverCert === undefined ? [] : serverItemsOf({ cert: read.serverCert }, 'watchTrust.serverCert')
    if (read.serverCert !== undefined) {
      // Load the identity first so a wrong key or cert fails before anything is swapped.
      createSecureContext({ cert: read.serverCert, key: read.serverKey, ca: clientCas(read) })
    }
    auth.updateTrust(update)
    if (server !== undefined && read.serverCert !== undefined && read.serverKey !== undefined) {
      applyServerTrust(server, {
        cert: read.serverCert,
        key: read.serverKey,
        clientCa: clientCas(read),
        ...(read.crls.length === 0 ? {} : { crl: read.crls }),
      })
    }
    applied = read.digest
    serverItems = server_
    try {
      options.onUpdate?.({ files: all, digest: read.digest })
    } catch {
      // The update is in force; a failing hook changes nothing.
    }
    checkExpiry()
    return true
  }

  const reload = (): boolean => {
    if (closed) return false
    try {
      return apply()
    } catch (err) {
      report(new TrustSourceError(sourceName(err, all), describe(err), { cause: err }))
      return false
    } finally {
      rewatch()
    }
  }

  const schedule = (): void => {
    if (closed) return
    if (timer !== undefined) clearTimeout(timer)
    timer = setTimeout(() => {
      timer = undefined
      reload()
    }, debounceMs)
    timer.unref?.()
  }

  /** Watches the directory of every path and of its current real path. */
  const rewatch = (): void => {
    if (closed) return
    const dirs = new Set<string>()
    for (const p of all) {
      dirs.add(dirname(p))
      try {
        dirs.add(dirname(realpathSync(p)))
      } catch {
        // The file is gone for now; its own directory is watched for it to come back.
      }
    }
    for (const [dir, w] of watchers) {
      if (!dirs.has(dir)) {
        w.close()
        watchers.delete(dir)
      }
    }
    for (const dir of dirs) {
      if (watchers.has(dir)) continue
      try {
        const w = watch(dir, { persistent: false }, schedule)
        w.on('error', () => {
          w.close()
          watchers.delete(dir)
          schedule()
        })
        watchers.set(dir, w)
      } catch (err) {
        report(
          new TrustSourceError(`file:${dir}`, `cannot watch the directory (${describe(err)})`, {
            cause: err,
          }),
        )
      }
    }
  }

  try {
    apply()
  } catch (err) {
    if (err instanceof ClientCertConfigError) throw err
    throw new ClientCertConfigError(`watchTrust (${sourceName(err, all)})`, describe(err), { cause: err })
  }
  rewatch()
  const interval = intervalMs > 0 ? setInterval(reload, intervalMs) : undefined
  interval?.unref?.()

  return {
    reload,
    close() {
      closed = true
      if (timer !== undefined) clearTimeout(timer)
      if (interval !== undefined) clearInterval(interval)
      for (const w of watchers.values()) w.close()
      watchers.clear()
    },
  }
}

function readAll(files: Files): Read {
  const hash = createHash('sha256')
  const read = (p: string): string => {
    let text: string
    try {
      text = readFileSync(p, 'utf8')
    } catch (err) {
      throw new FileError(p, `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, err)
    }
    hash.update(`${p}\0${text.length}\0${text}`)
    return text
  }
  const anchors = files.anchors.map(read)
  const intermediates = files.intermediates.map(read)
  const proxyAnchors = files.proxyAnchors.map(read)
  const proxyIntermediates = files.proxyIntermediates.map(read)
  const crls = files.crls.map(read)
  const serverCert = files.serverCert === undefined ? undefined : read(files.serverCert)
  const serverKey = files.serverKey === undefined ? undefined : read(files.serverKey)
  return {
    anchors,
    intermediates,
    proxyAnchors,
    proxyIntermediates,
    crls,
    serverCert,
    serverKey,
    digest: hash.digest('hex'),
  }
}

/**
 * The CAs the handshake asks client certificates of: a front proxy presents its own, so its CA
 * is asked for too (which certificate counts as whose is the authenticator's to judge).
 */
function clientCas(read: Read): string[] {
  return [...read.anchors, ...read.proxyAnchors]
}

function buildUpdate(read: Read, options: WatchTrustOptions): TrustUpdate {
  const trust: TrustOptions = {
    ...options.trust,
    anchors: read.anchors,
    ...(read.intermediates.length === 0 ? {} : { intermediates: read.intermediates }),
  }
  // Client and proxy trust in one update, so the two slots are checked apart as one set.
  const proxyCertificate: ProxyCertificateOptions | undefined =
    read.proxyAnchors.length === 0
      ? undefined
      : {
          ...options.proxyCertificate,
          anchors: read.proxyAnchors,
          ...(read.proxyIntermediates.length === 0 ? {} : { intermediates: read.proxyIntermediates }),
        }
  return {
    trust,
    ...(proxyCertificate === undefined ? {} : { proxyCertificate }),
    ...(read.crls.length === 0
      ? {}
      : { revocation: { ...options.revocation, crls: { sources: read.crls.map((c) => Buffer.from(c)) } } }),
  }
}

class FileError extends Error {
  constructor(
    readonly path: string,
    message: string,
    cause: unknown,
  ) {
    super(`${path} ${message}`, { cause })
  }
}

function realpaths(paths: readonly string[]): string {
  return paths
    .map((p) => {
      try {
        return realpathSync(p)
      } catch {
        return ''
      }
    })
    .join('\0')
}

function sourceName(err: unknown, all: readonly string[]): string {
  if (err instanceof FileError) return `file:${err.path}`
  return `files:${all.join(',')}`
}

function describe(err: unknown): string {
  if (err instanceof FileError) return err.message
  if (err instanceof ClientCertConfigError) return err.message
  // OpenSSL's text names the failing part (e.g. "key values mismatch") without key material.
  if (err instanceof Error) return err.message
  return 'unknown failure'
}

function pathList(v: unknown, option: string, required: boolean): string[] {
  if (v === undefined) {
    if (required) throw new ClientCertConfigError(option, 'is required')
    return []
  }
  const list = Array.isArray(v) ? v : [v]
  if (list.length === 0) throw new ClientCertConfigError(option, 'is empty')
  return list.map((p, i) => {
    if (typeof p !== 'string' || p === '')
      throw new ClientCertConfigError(Array.isArray(v) ? `${option}[${i}]` : option, 'must be a file path')
    return resolve(p)
  })
}

function optionalPath(v: unknown, option: string): string | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'string' || v === '') throw new ClientCertConfigError(option, 'must be a file path')
  return resolve(v)
}

const DAY_MS = 86_400_000

function resolveExpiry(
  v: unknown,
  auth: unknown,
):
  | { readonly horizonMs: number; readonly onExpiringSoon: (items: readonly ExpiringItem[]) => void }
  | undefined {
  if (v === undefined) return undefined
  const e = plainObject(v, 'watchTrust.expiry')
  onlyKeys(e, ['horizonDays', 'onExpiringSoon'], 'watchTrust.expiry.')
  const horizonMs = horizonOf(e.horizonDays, 'watchTrust.expiry.horizonDays')
  if (typeof e.onExpiringSoon !== 'function')
    throw new ClientCertConfigError('watchTrust.expiry.onExpiringSoon', 'must be a function')
  if (typeof (auth as Partial<ClientCertAuthenticator>)[DESCRIBE_TRUST] !== 'function')
    throw new ClientCertConfigError(
      'watchTrust.expiry',
      'needs an authenticator from createClientCertAuthenticator() (its trust is what is described)',
    )
  return { horizonMs, onExpiringSoon: e.onExpiringSoon as (items: readonly ExpiringItem[]) => void }
}

function ms(v: unknown, option: string, fallback: number): number {
  if (v === undefined) return fallback
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 86_400_000)
    throw new ClientCertConfigError(option, 'must be an integer number of milliseconds (0–86400000)')
  return v
}
