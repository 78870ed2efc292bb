import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  type AllowPolicy,
  authenticationOf,
  type ClientCertAuthenticator,
  ClientCertConfigError,
  ClientCertError,
  type ClientCertOptions,
  type ClientPrincipal,
  type CompiledPolicy,
  compilePolicy,
} from '@clientcert/core'
import {
  type AdapterLogger,
  type Admission,
  adapterCheck,
  admitRequest,
  checkRoute,
  consoleLogger,
  loggerOption,
  logRejection,
  mountedAfterBody,
  type RouteRule,
  splitAdapterOptions,
  whenSettled,
  writeProblem,
} from '@clientcert/core/adapter'
import type { NextFunction, Request, RequestHandler, Response } from 'express'

declare global {
  namespace Express {
    interface Request {
      /** The authenticated client, set by `clientCert()`; undefined in optional mode without a certificate. */
      clientCert?: ClientPrincipal | undefined
    }
  }
}

/** Options of `clientCert()`: the core options, or an existing authenticator, plus adapter settings. */
export type ClientCertMiddlewareOptions = (
  | ClientCertOptions<Request>
  | { readonly authenticator: ClientCertAuthenticator }
) & {
  /**
   * Let requests without a certificate through with `req.clientCert` undefined, for routes
   * that decide with `requireClientCert()`. A certificate that is presented but invalid is
   * still rejected.
   */
  readonly optional?: boolean
  /**
   * Where rejections (one line each at `info`: method, path, status, code and reason, never the
   * certificate) and deployment mistakes (`warn`/`error`) are written: a logger with `info`,
   * `warn` and `error` (the console, pino, winston), a function for every line, or `false`.
   * Default: the console.
   */
  readonly logger?: AdapterLogger | ((message: string) => void) | false
}

/**
 * Authenticates every request by its TLS client certificate before anything else reads it.
 * Mount it before any body parser: mounted after one, it fails closed with
 * `ERR_CLIENT_CERT_BODY_ALREADY_READ` and logs the misconfiguration.
 */
export function clientCert(options: ClientCertMiddlewareOptions): RequestHandler {
  const stage = authenticationStage(options, 'clientCert()', letThrough)
  return function clientCertMiddleware(req: Request, res: Response, next: NextFunction): void {
    stage(req, res, next)
  }
}

function letThrough(
  req: IncomingMessage,
  _res: ServerResponse,
  principal: Principal,
  next: NextFunction,
): void {
  setClientCert(req as Request, principal)
  next()
}

/**
 * Authenticates every request before the app sees it: wraps an Express app (or any Node request
 * listener) into the listener to give `https.createServer(tlsOptions, withClientCert(app, options))`
 * — the same options and the same judgement as `clientCert()`, with `req.clientCert` set and the
 * mark `requireClientCert()` reads. Nothing of the app runs for a rejected request: no router, no
 * middleware, no body parser. And it is cheaper than the middleware: it runs before Express
 * swaps the request's prototype, while every request object still shares one hidden class, so
 * the properties it reads and writes hit V8's inline caches, and it is not a router layer
 * (docs/benchmarks.md, "Where the Express cost went").
 */
export function withClientCert(
  app: (req: IncomingMessage, res: ServerResponse) => unknown,
  options: ClientCertMiddlewareOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  if (typeof app !== 'function')
    throw new ClientCertConfigError('app', 'must be an Express app or a Node request listener')
  const stage = authenticationStage(options, 'withClientCert()', (req, res, principal) => {
    // An own property on a request that is still Node's: a transition V8 has cached.
    ;(req as { clientCert?: Principal }).clientCert = principal
    app(req, res)
  })
  return function clientCertListener(req: IncomingMessage, res: ServerResponse): void {
    stage(req, res, undefined)
  }
}

type Principal = ClientPrincipal | undefined
type Admitted<N> = (req: IncomingMessage, res: ServerResponse, principal: Principal, next: N) => void

/**
 * What `clientCert()` and `withClientCert()` do for each request, up to letting it on with
 * `admitted`: the body-read check, the judgement, the rejection (logged and answered with the
 * problem). No closure per request on the synchronous (keep-alive) path.
 */
function authenticationStage<N>(
  options: ClientCertMiddlewareOptions,
  name: string,
  admitted: Admitted<N>,
): (req: IncomingMessage, res: ServerResponse, next: N) => void {
  const { settings, authenticator } = splitAdapterOptions(options, {
    optional: { check: adapterCheck.boolean, default: false },
    logger: { check: loggerOption, default: consoleLogger },
  })
  const rule: RouteRule = { policy: undefined, optional: settings.optional }
  const logger = settings.logger
  loggers.set(authenticator, logger)
  const misordered = `clientcert: ${name} ran after the request body was read. Mount it before express.json(), express.urlencoded() and any other body parser.`
  const settle = (admission: Admission, req: IncomingMessage, res: ServerResponse, next: N): void => {
    if (admission.ok) admitted(req, res, admission.principal, next)
    else reject(logger, res, admission.error, req)
  }

  return (req, res, next) => {
    if (mountedAfterBody(req)) {
      logger.error(misordered)
      reject(logger, res, authenticator.reject('ERR_CLIENT_CERT_BODY_ALREADY_READ', misordered, req), req)
      return
    }
    // A connection already judged answers synchronously: no promise hop on keep-alive requests.
    const admission = admitRequest(authenticator, req, rule)
    if (!(admission instanceof Promise)) settle(admission, req, res, next)
    else
      admission.then(
        (a) => settle(a, req, res, next),
        (err: unknown) =>
          reject(logger, res, authenticator.reject('ERR_CLIENT_CERT_INTERNAL', String(err), req), req),
      )
  }
}

/**
 * `req.clientCert` without adding a property to `req`. Express swaps each request's prototype
 * (`setPrototypeOf(req, app.request)`), after which V8 gives every property added to that
 * request a fresh hidden class: one `req.clientCert = …` cost ~3 µs, about 2 % of a keep-alive
 * request, and slowed every later property access on `req` (docs/benchmarks.md, "Where the
 * Express cost went"). So `clientCert` is an accessor on the request prototypes Express
 * installed (its own request prototype and each app's, found by walking up from `req` to Node's
 * `IncomingMessage.prototype`) that reads the principal of the request's authentication mark,
 * which the authentication stage has just written (`authenticationOf`): one entry per request,
 * not a second map beside the mark's. Reading works as before;
 * assigning `req.clientCert` in application code makes an own property, as before. What
 * changes: `clientCert` is not an own property, so `Object.keys(req)` and `{ ...req }` do not
 * list it. A request whose prototype Express did not swap gets an own property.
 */
/** For each prototype seen: whether `clientCert` is our accessor on it (decided once). */
const hosts = new WeakMap<object, boolean>()

function setClientCert(req: Request, principal: ClientPrincipal | undefined): void {
  const proto: unknown = Object.getPrototypeOf(req)
  if (typeof proto === 'object' && proto !== null) {
    let hosted = hosts.get(proto)
    if (hosted === undefined) {
      hosted = installAccessor(proto)
      hosts.set(proto, hosted)
    }
    // The accessor reads the mark, which names this principal: nothing to write.
    if (hosted) return
  }
  req.clientCert = principal
}

/**
 * Installs the accessor on each of Express's request prototypes from `from` up to Node's
 * `IncomingMessage.prototype` (the first with its own `constructor`); false when there are none,
 * or when something else already defines `clientCert` there.
 */
function installAccessor(from: object): boolean {
  const chain: object[] = []
  for (
    let p: object | null = from;
    p !== null && !Object.hasOwn(p, 'constructor');
    p = Object.getPrototypeOf(p)
  ) {
    const own = Object.getOwnPropertyDescriptor(p, 'clientCert')
    if (own !== undefined && own.get !== readClientCert) return false
    chain.push(p)
  }
  for (const p of chain)
    Object.defineProperty(p, 'clientCert', {
      configurable: true,
      enumerable: false,
      get: readClientCert,
      set: writeClientCert,
    })
  return chain.length > 0
}

function readClientCert(this: object): ClientPrincipal | undefined {
  return authenticationOf(this)?.principal
}

function writeClientCert(this: object, value: unknown): void {
  Object.defineProperty(this, 'clientCert', { value, writable: true, enumerable: true, configurable: true })
}

/**
 * Route guard: requires an authenticated client (also in optional mode) and, when given,
 * a policy for this route. The policy is validated now, so a mistake fails at startup.
 */
export function requireClientCert(policy?: AllowPolicy | CompiledPolicy): RequestHandler {
  const rule: RouteRule = {
    policy: policy === undefined ? undefined : compilePolicy(policy, 'requireClientCert(policy)'),
    optional: false,
  }
  return function requireClientCertMiddleware(req: Request, res: Response, next: NextFunction): void {
    whenSettled(
      checkRoute(req, rule),
      (admission) => {
        if (admission.ok) {
          next()
          return
        }
        const mark = authenticationOf(req)
        const logger = (mark && loggers.get(mark.authenticator)) ?? consoleLogger
        if (admission.error.code === 'ERR_CLIENT_CERT_MISCONFIGURED')
          logger.error('clientcert: requireClientCert() ran without clientCert() mounted before it.')
        reject(logger, res, admission.error, req)
      },
      (err) => writeProblem(res, new ClientCertError('ERR_CLIENT_CERT_INTERNAL', String(err)), req),
    )
  }
}

/** Each clientCert() instance's logger, so requireClientCert() logs where its stage does. */
const loggers = new WeakMap<ClientCertAuthenticator, AdapterLogger>()

function reject(
  logger: AdapterLogger,
  res: ServerResponse,
  error: ClientCertError,
  req: IncomingMessage,
): void {
  logRejection(logger, error, req)
  writeProblem(res, error, req)
}

export type { AllowPolicy, ClientCertError, ClientPrincipal, CompiledPolicy }
