import type { AuthResult, RequestLike } from './api.js'
import type { TrustEpoch } from './epoch.js'
import type { AuthenticationMark } from './mark.js'
import type { MaybePromise } from './maybe-promise.js'
import type { ServernameRule } from './servername.js'
import type { ForwardedConnection, ForwardedRead } from './sources/forwarded/index.js'
import type { Outcome, Verified } from './validate/verify.js'

/**
 * What one connection remembers, under one key for HTTP/1.1 sockets and HTTP/2 sessions
 * (connectionKey). Nothing else is remembered per connection, and a remembered outcome is the
 * judgement's own result: every request re-checks it for time, revocation, policy and hooks.
 * The one exception is `settled`, the admission itself, kept only where nothing but the clock
 * and the request's headers can change it; those two are still checked on every request.
 *
 * Key: connectionKey(request). Lifetime: the connection's (a WeakMap). Invalidated: by a new
 * trust epoch (the state is built anew for the first request judged under it).
 */
export interface ConnectionState {
  /** The epoch this state was built under. */
  readonly epoch: TrustEpoch
  /** Whether trust differs by server name on this connection (null: it does not); undefined: not yet asked. */
  servername?: ServernameRule | null
  /** Whether the socket carries its own client certificate; undefined: not yet asked. */
  ownCertificate?: boolean
  /** The TLS source's outcome once known (successes and stable failures), or the pending promise. */
  tls?: MaybePromise<Outcome>
  /** The forwarded source's allowlist decision and last read. */
  readonly forwarded: ForwardedConnection
  /**
   * The outcome of the forwarded read `read` (the connection's last), taken from the
   * validation cache, until that cache entry's expiry: a proxy's keep-alive connection usually
   * carries one client, and this spares the cache lookup on each of its requests.
   */
  forwardedOutcome?: { readonly read: ForwardedRead; readonly outcome: Outcome; readonly expires: number }
  /**
   * The connection's admission, kept only where nothing but the clock and the request's own
   * headers can change it (authenticator.ts, `#settle`): the keep-alive fast path.
   */
  settled?: Settled
}

/** What a settled connection answers, and the validity window it is re-checked against. */
export interface Settled {
  readonly answer: AuthResult & { readonly ok: true }
  readonly mark: AuthenticationMark
  readonly verified: Verified
  /**
   * For a proxy's connection: the forwarded read admitted (a later request must repeat its
   * headers exactly) and the expiry of the validation cache entry its outcome came from.
   * Undefined for the socket's own certificate.
   */
  readonly forwarded: { readonly read: ForwardedRead; readonly expires: number } | undefined
}

/** Per-connection states, by connection. */
export class Connections {
  readonly #states = new WeakMap<object, ConnectionState>()

  /**
   * The request's connection state under `epoch`. A request without a connection object gets
   * a state of its own that nothing keeps.
   */
  of(request: unknown, epoch: TrustEpoch): ConnectionState {
    // A known HTTP/1.1 socket answers first: under Express every distinct property read on the
    // request costs an inline-cache miss (see mark.ts), and `stream` is absent there.
    const byKnownSocket = this.#bySocket(request, epoch)
    if (byKnownSocket !== undefined) return byKnownSocket
    const key = connectionKey(request)
    const known = key === undefined ? undefined : this.#states.get(key)
    if (known !== undefined && known.epoch === epoch) return known
    const state: ConnectionState = { epoch, forwarded: {} }
    if (key !== undefined) this.#states.set(key, state)
    return state
  }

  /**
   * The state of a request's HTTP/1.1 socket under `epoch`, if one is known, for the settled
   * path (one `WeakMap` lookup; anything else — HTTP/2, no socket, another epoch — is undefined
   * and takes the full judgement).
   */
  knownState(request: RequestLike, epoch: TrustEpoch): ConnectionState | undefined {
    return this.#bySocket(request, epoch)
  }

  /** The state of the request's HTTP/1.1 socket under `epoch`, if one is known. */
  #bySocket(request: unknown, epoch: TrustEpoch): ConnectionState | undefined {
    const socket = isObject(request) ? request.socket : undefined
    const state = isObject(socket) ? this.#states.get(socket) : undefined
    return state !== undefined && state.epoch === epoch ? state : undefined
  }
}

/**
 * What identifies a request's connection: for an HTTP/2 stream its session (the compatibility
 * API hands each stream a different socket proxy), otherwise its socket.
 */
export function connectionKey(request: unknown): object | undefined {
  if (!isObject(request)) return undefined
  const stream = request.stream
  if (isObject(stream) && isObject(stream.session)) return stream.session
  return isObject(request.socket) ? request.socket : undefined
}

function isObject(v: unknown): v is Record<PropertyKey, unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null
}
