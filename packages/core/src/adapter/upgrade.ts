import type { IncomingMessage } from 'node:http'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { ClientCertAuthenticator } from '../api.js'
import { ClientCertConfigError, type ClientCertError } from '../errors.js'
import type { ClientPrincipal } from '../identity/principal.js'
import type { ClientCertOptions } from '../options.js'
import type { AllowPolicy } from '../policy/match.js'
import { problemResponse } from '../problem.js'
import { type Admission, admitRequest, compileRouteRule, type RouteRule } from './admit.js'
import { adapterCheck, splitAdapterOptions } from './options.js'

/** What one upgrade asks of its client, on top of the authenticator's own `allow`. */
export interface UpgradeRule {
  /** A policy this upgrade applies on top of the authenticator's `allow` (then a client is required unless `optional: true`). */
  readonly policy?: AllowPolicy
  /** Let an upgrade without a certificate through, with no principal. Default false. */
  readonly optional?: boolean
}

/** The socket of an `upgrade` event: what is written to it and how it is closed. */
export type UpgradeSocket = Pick<Duplex, 'write' | 'end' | 'destroy' | 'on' | 'writable' | 'destroyed'>

const DEFAULT_RULE: RouteRule = Object.freeze({ policy: undefined, optional: false })
/** Compiled rules per options object: a listener passes the same literal on every upgrade. */
const compiled = new WeakMap<object, RouteRule>()

function ruleOf(options: UpgradeRule | undefined): RouteRule {
  if (options === undefined) return DEFAULT_RULE
  let rule = compiled.get(options)
  if (rule === undefined) {
    if (typeof options !== 'object' || options === null || Array.isArray(options))
      throw new ClientCertConfigError('options', 'must be an object { policy?, optional? }')
    const { policy, ...rest } = options as UpgradeRule & Record<string, unknown>
    // The kit's route rule, so "a policy needs a client unless optional" is the same as for requests.
    rule = compileRouteRule({ ...rest, ...(policy === undefined ? {} : { allow: policy }) }, 'options', false)
    compiled.set(options, rule)
  }
  return rule
}

/**
 * Authenticates a Node `upgrade` event (a WebSocket handshake) with the same judgement as a
 * request: the upgrade request is an `IncomingMessage` on the TLS socket. On success the
 * request is marked (`authenticationOf(req)`) and the admission, with its principal, is
 * returned: complete the handshake (`wss.handleUpgrade`). On rejection the socket has been
 * answered with the problem response (`401`/`403`/`421`/`500`, `connection: close`) and closed:
 * do nothing more with it. A fault while judging is an `ERR_CLIENT_CERT_INTERNAL` rejection.
 * Rejects only for a mistake in `options` (`ClientCertConfigError`), after destroying the
 * socket: a programming error, which must not leave an unauthenticated socket open.
 */
export async function authenticateUpgrade(
  authenticator: ClientCertAuthenticator,
  req: IncomingMessage,
  socket: UpgradeSocket,
  options?: UpgradeRule,
): Promise<Admission> {
  let rule: RouteRule
  try {
    rule = ruleOf(options)
  } catch (err) {
    socket.on('error', ignore)
    socket.destroy()
    throw err
  }
  const admission = await admitRequest(authenticator, req, rule)
  if (!admission.ok) refuseUpgrade(socket, admission.error)
  return admission
}

/**
 * Writes a rejection on the raw socket of an upgrade (no `ServerResponse` exists there) and
 * closes it. The body is the shared problem body, built from the code alone.
 */
export function refuseUpgrade(socket: UpgradeSocket, error: ClientCertError): void {
  // Node removes its own error listener from an upgraded socket: a reset by the peer while we
  // answer must not become an uncaught exception.
  socket.on('error', ignore)
  if (socket.destroyed || !socket.writable) {
    socket.destroy()
    return
  }
  const answer = problemResponse(error)
  const head = [`HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'Error'}`]
  for (const [name, value] of Object.entries(answer.headers)) head.push(`${name}: ${value}`)
  head.push('connection: close', `content-length: ${Buffer.byteLength(answer.body)}`, '', answer.body)
  try {
    socket.end(head.join('\r\n'), () => socket.destroy())
  } catch {
    socket.destroy()
  }
}

function ignore(): void {}

/**
 * The key a per-path rule is found by. Lenient on purpose: routers differ on case, percent-
 * decoding and slashes, and a rule must hold for every spelling the app's router may map to
 * its path; applying a policy to one spelling too many never opens anything.
 */
function pathKey(path: string): string {
  let key = path
  try {
    key = decodeURIComponent(key)
  } catch {
    // Malformed escapes stay as they are: no router maps them to a clean path.
  }
  key = key.toLowerCase().replace(/\/{2,}/g, '/')
  return key.length > 1 && key.endsWith('/') ? key.slice(0, -1) : key
}

/** Called for an admitted upgrade: complete the handshake here. `client` is undefined only for optional upgrades. */
export type UpgradeHandler = (
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  client: ClientPrincipal | undefined,
) => void

/** Options of {@link clientCertUpgrade}: the core's (or `{ authenticator }`), `optional`, and per-path rules. */
export type ClientCertUpgradeOptions = (
  | ClientCertOptions
  | { readonly authenticator: ClientCertAuthenticator }
) & {
  /** Let upgrades without a certificate through (no principal). Default false. */
  readonly optional?: boolean
  /**
   * Per-path rules `{ allow?, optional? }`, by the request's pathname. A rule also covers the
   * spellings routers may treat as its path: any case, percent-decoded, repeated or trailing slashes.
   */
  readonly routes?: Readonly<Record<string, unknown>>
}

/**
 * An `upgrade` listener that authenticates every upgrade before `onUpgrade` runs:
 * `server.on('upgrade', clientCertUpgrade({ authenticator }, (req, socket, head, client) =>
 * wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))))`. Options
 * are checked here, at startup.
 */
export function clientCertUpgrade(
  options: ClientCertUpgradeOptions,
  onUpgrade: UpgradeHandler,
): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const { settings, authenticator } = splitAdapterOptions(options, {
    optional: { check: adapterCheck.boolean, default: false },
    routes: { check: adapterCheck.object, default: {} },
  })
  adapterCheck.function(onUpgrade, 'onUpgrade')
  const fallback: RouteRule = { policy: undefined, optional: settings.optional }
  const rules = new Map<string, RouteRule>()
  for (const [path, rule] of Object.entries(settings.routes)) {
    const key = pathKey(path)
    if (rules.has(key))
      throw new ClientCertConfigError(
        `routes["${path}"]`,
        'names the same path as another rule (paths match case-insensitively, decoded, without repeated or trailing slashes)',
      )
    rules.set(key, compileRouteRule(rule, `routes["${path}"]`, settings.optional))
  }
  return (req, socket, head) => {
    let rule = fallback
    try {
      const target = req.url ?? '/'
      // An origin-form target is all path: resolved against a base, '//a/b' would be host 'a'.
      const url = target.startsWith('/') ? new URL(`http://x${target}`) : new URL(target, 'http://x')
      rule = rules.get(pathKey(url.pathname)) ?? fallback
    } catch {
      // An unparseable target matches no path rule: it gets the default rule, never none.
    }
    Promise.resolve(admitRequest(authenticator, req, rule))
      .then((admission) => {
        if (!admission.ok) return refuseUpgrade(socket, admission.error)
        onUpgrade(req, socket, head, admission.principal)
      })
      .catch(() => {
        // onUpgrade threw: the handshake state is unknown, so the connection goes.
        socket.on('error', ignore)
        socket.destroy()
      })
  }
}
