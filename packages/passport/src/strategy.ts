import {
  authenticationOf,
  bodyAlreadyRead,
  type ClientCertAuthenticator,
  ClientCertConfigError,
  type ClientCertError,
  type ClientCertErrorCode,
  type ClientCertOptions,
  type ClientPrincipal,
  markAuthenticated,
  type OptionalAuthResult,
} from '@clientcert/core'
import {
  type AdapterLogger,
  adapterCheck,
  consoleLogger,
  judgeRequest,
  loggerOption,
  logRejection,
  splitAdapterOptions,
  whenSettled,
} from '@clientcert/core/adapter'
import type { Request } from 'express'
import { Strategy } from 'passport-strategy'
import { nodeRequest, recordFailure } from './request.js'

/**
 * Passport's `done`: `done(err)` for an error (the request fails with 500 through Passport's
 * `error`), `done(null, false, info?)` to refuse the client (401 through Passport's `fail`),
 * `done(null, user, info?)` to log the user in (`req.user`).
 */
export type VerifiedCallback = (err: unknown, user?: Express.User | false | null, info?: object) => void

/** Maps an authenticated client to the application's user. */
export type VerifyFunction = (principal: ClientPrincipal, done: VerifiedCallback) => void | Promise<void>

/** The same, with the request first (`passReqToCallback: true`). */
export type VerifyFunctionWithRequest = (
  req: Request,
  principal: ClientPrincipal,
  done: VerifiedCallback,
) => void | Promise<void>

/** What a certificate failure hands Passport as its challenge: the code and its public message. */
export interface ClientCertFailureInfo {
  readonly code: ClientCertErrorCode
  /** The fixed public sentence for `code`; never the detailed `reason`. */
  readonly message: string
}

interface StrategySettings {
  /** Name to register and authenticate with. Default `'client-cert'`. */
  readonly name?: string
  /**
   * For a strategy chain (`['client-cert', 'bearer']`, `['client-cert', 'anonymous']`): a request
   * without a certificate fails (401) so the next strategy decides; a certificate that is
   * presented but fails is final (Passport's `error()`, rendered with its 401/403 by
   * `clientCertErrorHandler()`). Never `pass()`: alone, a request without a certificate gets 401.
   */
  readonly optional?: boolean
  /** Call `verify(req, principal, done)` instead of `verify(principal, done)`. Default false. */
  readonly passReqToCallback?: boolean
  /**
   * Where the strategy's rejections go (one line each at `info`: method, path, status, code and
   * reason, never the certificate): a logger with `info`, `warn` and `error` (the console, pino,
   * winston), a function for every line, or `false`. A request without a certificate in
   * `optional` mode is not logged: the next strategy of the chain decides. Default: the console.
   */
  readonly logger?: AdapterLogger | ((message: string) => void) | false
}

/**
 * The core options, or an authenticator from `createClientCertAuthenticator()` to share. Hook
 * contexts (`onRejected(error, { request })`) carry the Express request.
 */
export type AuthenticatorOptions =
  | ClientCertOptions<Request>
  | { readonly authenticator: ClientCertAuthenticator }

/** Options of `new ClientCertStrategy(options, verify)`. */
export type ClientCertStrategyOptions = AuthenticatorOptions &
  StrategySettings & { readonly passReqToCallback?: false }

/** Options of `new ClientCertStrategy(options, verify)` whose `verify` takes the request first. */
export type ClientCertStrategyOptionsWithRequest = AuthenticatorOptions &
  StrategySettings & { readonly passReqToCallback: true }

/** What Passport attaches to each per-request copy of the strategy. */
interface Actions {
  success(user: unknown, info?: unknown): void
  fail(challenge: unknown, status: number): void
  pass(): void
  error(err: unknown): void
}

/**
 * Passport strategy that authenticates a request by its TLS client certificate (or a
 * certificate forwarded by an allowlisted proxy), with the `@clientcert/core` authenticator.
 *
 * A Passport strategy runs where `passport.authenticate()` is mounted. Mount
 * `passport.authenticate('client-cert', { session: false })` before `express.json()` and any
 * other body parser, so an unauthenticated request is refused before its body is read. Run
 * after a parser, the strategy fails closed with `ERR_CLIENT_CERT_BODY_ALREADY_READ` (500),
 * unless this request was already authenticated before parsing by the same authenticator
 * (an earlier `passport.authenticate`, `clientCert()` of `@clientcert/express`, or the
 * pre-parse stage of `@clientcert/nestjs`): then its outcome is reused.
 *
 * Outcomes: a missing or invalid certificate, or a policy denial, is a Passport `fail` with
 * the error's status (401/403) and a {@link ClientCertFailureInfo} challenge, so the next
 * strategy of a chain is tried (with `optional: true`, a presented certificate that fails is
 * an `error` instead, final for the chain; the strategy never calls `pass()`); a server-side
 * fault (`ERR_CLIENT_CERT_INTERNAL`, a misconfiguration) is a Passport `error`. A valid client
 * goes to `verify`, whose `done` decides.
 *
 * Customise by overriding {@link ClientCertStrategy.bodyAlreadyRead} and
 * {@link ClientCertStrategy.failureInfo}.
 */
export class ClientCertStrategy extends Strategy {
  /** The name Passport knows the strategy by. */
  readonly name: string
  /** The authenticator every request goes through; use it for per-route `authorize()` checks. */
  readonly authenticator: ClientCertAuthenticator
  /** Whether a presented certificate that fails is final for the chain (see the `optional` option). */
  readonly optional: boolean
  /** @internal */
  readonly _verify: VerifyFunction | VerifyFunctionWithRequest
  /** @internal */
  readonly _passReqToCallback: boolean
  /** @internal */
  readonly _logger: AdapterLogger

  constructor(options: ClientCertStrategyOptions, verify: VerifyFunction)
  constructor(options: ClientCertStrategyOptionsWithRequest, verify: VerifyFunctionWithRequest)
  constructor(
    options: ClientCertStrategyOptions | ClientCertStrategyOptionsWithRequest,
    verify: VerifyFunction | VerifyFunctionWithRequest,
  ) {
    super()
    // The kit checks every option, so an unknown key is named with all the strategy takes.
    const { settings, authenticator } = splitAdapterOptions(options, {
      name: { check: adapterCheck.nonEmptyString, default: 'client-cert' },
      optional: { check: adapterCheck.boolean, default: false },
      passReqToCallback: { check: adapterCheck.boolean, default: false },
      logger: { check: loggerOption, default: consoleLogger },
    })
    if (typeof verify !== 'function')
      throw new ClientCertConfigError(
        'verify',
        `must be a function ${settings.passReqToCallback ? '(req, principal, done)' : '(principal, done)'}`,
      )
    this.name = settings.name
    this.optional = settings.optional
    this._passReqToCallback = settings.passReqToCallback
    this._logger = settings.logger
    this._verify = verify
    this.authenticator = authenticator
  }

  /** Called by Passport for each request; do not call it yourself. */
  override authenticate(req: Request, _options?: unknown): void {
    // Passport may hand this very instance to concurrent requests (passport.authenticate(strategy)
    // assigns success/fail/... on it), so take this request's actions now, before any await.
    const actions: Actions = {
      success: this.success.bind(this),
      fail: this.fail.bind(this),
      pass: this.pass.bind(this),
      error: this.error.bind(this),
    }
    const raw = nodeRequest(req)
    const mark = authenticationOf(raw)
    if (mark !== undefined && mark.authenticator === this.authenticator) {
      // This authenticator already judged this request (normally before the body parser): its
      // hooks have fired, so reuse the outcome rather than judge twice or refuse a parsed body.
      settle(this, req, { ok: true, principal: mark.principal }, actions)
      return
    }
    if (this.bodyAlreadyRead(req)) {
      const reason = `${this.name}: ClientCertStrategy ran after the request body was read. Mount passport.authenticate('${this.name}') before express.json(), express.urlencoded() and any other body parser.`
      const error = this.authenticator.reject('ERR_CLIENT_CERT_BODY_ALREADY_READ', reason, req)
      logRejection(this._logger, error, req)
      actions.error(error)
      return
    }
    whenSettled(
      judgeRequest(this.authenticator, raw, { optional: this.optional }),
      (result) => settle(this, req, result, actions),
      (err: unknown) => {
        const error = this.authenticator.reject(
          'ERR_CLIENT_CERT_INTERNAL',
          `authenticate threw: ${String(err)}`,
          req,
        )
        logRejection(this._logger, error, req)
        actions.error(error)
      },
    )
  }

  /**
   * True when something already read the request body, so the strategy is mounted too late.
   * Default: `req._body === true` (body-parser), `req.body !== undefined` (any parser) or
   * `readableDidRead` (any stream consumer). Override to recognise another parser.
   */
  bodyAlreadyRead(req: Request): boolean {
    return bodyAlreadyRead(req)
  }

  /**
   * The challenge handed to Passport's `fail()` for a certificate failure: what a custom
   * `passport.authenticate` callback (and `@nestjs/passport`'s `handleRequest`) receives as
   * `info`. Default `{ code, message }` with the public message. Never include `error.reason`.
   */
  failureInfo(error: ClientCertError, _req: Request): object | string {
    const info: ClientCertFailureInfo = { code: error.code, message: error.message }
    return Object.freeze(info)
  }
}

/**
 * From the core's answer to Passport's. A request without a certificate is always a `fail()`,
 * never a `pass()`: Passport's `pass()` ends a strategy chain and runs the route, so a later
 * strategy (a bearer token) would never be asked and every caller without a certificate would
 * get in. Optional use is a chain ending in an anonymous strategy.
 */
function settle(
  strategy: ClientCertStrategy,
  req: Request,
  result: OptionalAuthResult,
  actions: Actions,
): void {
  if (!result.ok) {
    const { error } = result
    logRejection(strategy._logger, error, req)
    // A misdirected request (421) is no failed credential a later strategy could make up for.
    if (error.category === 'server' || error.category === 'misdirected') {
      actions.error(error)
      return
    }
    if (strategy.optional) {
      // A presented certificate that fails is final in optional mode: a later strategy of the
      // chain (an anonymous one, or a token) must not downgrade a bad certificate.
      recordFailure(req, error)
      actions.error(error)
      return
    }
    refuse(strategy, req, error, actions)
    return
  }
  const { principal } = result
  if (principal !== undefined) {
    callVerify(strategy, req, principal, actions)
    return
  }
  if (strategy.optional)
    markAuthenticated(nodeRequest(req), { principal: undefined, authenticator: strategy.authenticator })
  const missing = strategy.authenticator.reject(
    'ERR_CLIENT_CERT_MISSING',
    strategy.optional
      ? `${strategy.name}: no client certificate on this request (optional: the next strategy of the chain decides)`
      : `${strategy.name}: no client certificate on this request (an optional stage let it through)`,
    req,
  )
  // Optional: not a rejection yet, the next strategy of the chain decides.
  if (!strategy.optional) logRejection(strategy._logger, missing, req)
  refuse(strategy, req, missing, actions)
}

function refuse(strategy: ClientCertStrategy, req: Request, error: ClientCertError, actions: Actions): void {
  recordFailure(req, error)
  actions.fail(strategy.failureInfo(error, req), error.status)
}

/** Runs `verify`; the first `done` decides and later calls are ignored. */
function callVerify(
  strategy: ClientCertStrategy,
  req: Request,
  principal: ClientPrincipal,
  actions: Actions,
): void {
  let settled = false
  const done: VerifiedCallback = (err, user, info) => {
    if (settled) return
    settled = true
    if (err) {
      actions.error(err)
      return
    }
    if (!user) {
      actions.fail(info, 401)
      return
    }
    markAuthenticated(nodeRequest(req), { principal, authenticator: strategy.authenticator })
    req.clientCert = principal
    actions.success(user, info)
  }
  // A verify that throws (or whose promise rejects) before calling done is an error, never a pass.
  const fault = (err: unknown) => {
    if (!settled) done(err || new Error('verify failed without an error value'))
  }
  try {
    const returned = strategy._passReqToCallback
      ? (strategy._verify as VerifyFunctionWithRequest)(req, principal, done)
      : (strategy._verify as VerifyFunction)(principal, done)
    if (typeof (returned as Promise<void> | undefined)?.then === 'function')
      (returned as Promise<void>).then(undefined, fault)
  } catch (err) {
    fault(err)
  }
}
