import { type AuthResult, type ClientCertAuthenticator, DECIDE, JUDGE, SETTLED } from '../api.js'
import { ClientCertConfigError, ClientCertError } from '../errors.js'
import type { ClientPrincipal } from '../identity/principal.js'
import { authenticationOf, markRequest, putMark } from '../mark.js'
import type { MaybePromise } from '../maybe-promise.js'
import { type AllowPolicy, type CompiledPolicy, compilePolicy } from '../policy/match.js'
import type { NodeRequestView } from './view.js'

/** The answer of the authentication stage for one request. */
export type Admission =
  | { readonly ok: true; readonly principal: ClientPrincipal | undefined }
  | { readonly ok: false; readonly error: ClientCertError }

/** What one route asks of its client. */
export interface RouteRule {
  /** A policy the route applies on top of the authenticator's `allow`. */
  readonly policy: CompiledPolicy | undefined
  /** Whether a request without a certificate may reach the route (with no principal). */
  readonly optional: boolean
}

const OPTIONAL = Object.freeze({ optional: true as const })
const REQUIRED = Object.freeze({ optional: false as const })

/**
 * The judgement alone, without a route rule or a mark (for stages that decide later, such as a
 * Passport strategy whose `verify` may still refuse): a value when nothing asynchronous is left,
 * a promise otherwise. Never throws and never rejects.
 */
export function judgeRequest(
  authenticator: ClientCertAuthenticator,
  request: NodeRequestView & object,
  options: { readonly optional: boolean },
): MaybePromise<Admission> {
  try {
    const result = authenticator[JUDGE](request, options.optional ? OPTIONAL : REQUIRED)
    return result instanceof Promise
      ? result.then(undefined, (err: unknown) => internal(authenticator, request, err))
      : result
  } catch (err) {
    return internal(authenticator, request, err)
  }
}

/**
 * A principal against a policy (a per-route rule), with the authenticator's hooks: a value for
 * a synchronous policy, a promise otherwise. Never throws and never rejects.
 */
export function authorizePrincipal(
  authenticator: ClientCertAuthenticator,
  principal: ClientPrincipal,
  policy: CompiledPolicy,
  request?: object,
): MaybePromise<AuthResult> {
  try {
    const decision = authenticator[DECIDE](principal, policy, request)
    return decision instanceof Promise
      ? decision.then(undefined, (err: unknown) => internal(authenticator, request ?? {}, err) as AuthResult)
      : decision
  } catch (err) {
    return internal(authenticator, request ?? {}, err) as AuthResult
  }
}

/**
 * The authentication stage: judges the request, applies the route's rule and, on success,
 * marks the Node request (see `authenticationOf`) so later guards find the outcome. A value
 * when the connection was already judged and the policies are synchronous (keep-alive requests
 * cost no promise), a promise otherwise. Never throws and never rejects: any fault is an
 * `ERR_CLIENT_CERT_INTERNAL` rejection.
 *
 * A keep-alive request on a connection whose admission is settled (`SETTLED`: the clock and the
 * request's headers re-checked, nothing else able to change the answer) takes a short path
 * touching a handful of objects; anything else, and any fault on that path, takes the full one.
 */
export function admitRequest(
  authenticator: ClientCertAuthenticator,
  request: NodeRequestView & object,
  rule: RouteRule,
): MaybePromise<Admission> {
  if (rule.policy === undefined) {
    const settled = settledAdmission(authenticator, request)
    if (settled !== undefined) {
      putMark(request, settled.mark)
      return settled.answer
    }
  }
  const admission = admitView(authenticator, request, rule)
  return admission instanceof Promise
    ? admission.then((a) => marked(authenticator, request, a))
    : marked(authenticator, request, admission)
}

/**
 * The authentication stage for a view built for this one judgement (`grpcCallView(call)`, a
 * Web `Request`'s view): `admitRequest` without the mark, since nothing reads the view after.
 * The adapter marks what its own guards read (the gRPC call's metadata, the Web `Request`);
 * marking the view too would cost a `WeakMap` entry per call for nothing. Never throws or rejects.
 */
export function admitView(
  authenticator: ClientCertAuthenticator,
  view: NodeRequestView & object,
  rule: RouteRule,
): MaybePromise<Admission> {
  const judged = judgeRequest(authenticator, view, rule)
  return judged instanceof Promise
    ? judged.then((r) => applyRule(authenticator, view, rule, r))
    : applyRule(authenticator, view, rule, judged)
}

function settledAdmission(
  authenticator: ClientCertAuthenticator,
  request: NodeRequestView & object,
): ReturnType<NonNullable<ClientCertAuthenticator[typeof SETTLED]>> {
  try {
    return authenticator[SETTLED]?.(request)
  } catch {
    return undefined // the full judgement answers, and reports the fault if it recurs
  }
}

function applyRule(
  authenticator: ClientCertAuthenticator,
  request: object,
  rule: RouteRule,
  result: Admission,
): MaybePromise<Admission> {
  if (!result.ok) return result
  const principal = result.principal
  if (principal === undefined || rule.policy === undefined) return result
  // No closure on the synchronous path: keep-alive requests allocate nothing here.
  const decision = authorizePrincipal(authenticator, principal, rule.policy, request)
  return decision instanceof Promise
    ? decision.then((d) => (d.ok ? result : d))
    : decision.ok
      ? result
      : decision
}

function marked(authenticator: ClientCertAuthenticator, request: object, admission: Admission): Admission {
  if (admission.ok) markRequest(request, admission.principal, authenticator)
  return admission
}

/**
 * A route guard after the authentication stage (Express's `requireClientCert()`, the NestJS
 * guard): reads the stage's mark and applies the route's rule. Without a mark — the stage was
 * not mounted, or ran for another request — it refuses with `ERR_CLIENT_CERT_MISCONFIGURED`:
 * there is nothing to trust. Never throws.
 */
export function checkRoute(request: object, rule: RouteRule): MaybePromise<Admission> {
  const mark = authenticationOf(request)
  if (mark === undefined) {
    return {
      ok: false,
      error: new ClientCertError(
        'ERR_CLIENT_CERT_MISCONFIGURED',
        'a route guard ran but the authentication stage did not run for this request',
      ),
    }
  }
  const { principal, authenticator } = mark
  if (principal === undefined) {
    if (rule.optional) return { ok: true, principal }
    return {
      ok: false,
      error: authenticator.reject(
        'ERR_CLIENT_CERT_MISSING',
        'this route requires a client certificate',
        request,
      ),
    }
  }
  if (rule.policy === undefined) return { ok: true, principal }
  return authorizePrincipal(authenticator, principal, rule.policy, request)
}

/**
 * The "route needs a client" rule, the same in every adapter: a route with its own policy
 * needs a client unless it says `optional: true` itself; other routes follow the adapter's
 * default. `settings` is `{ allow?, optional? }`, checked strictly (`at` names it in errors).
 */
export function compileRouteRule(settings: unknown, at: string, defaultOptional: boolean): RouteRule {
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings))
    throw new ClientCertConfigError(at, 'must be an object { allow?, optional? }')
  const { allow, optional, ...extra } = settings as Record<string, unknown>
  const unknown = Object.keys(extra)[0]
  if (unknown !== undefined)
    throw new ClientCertConfigError(`${at}.${unknown}`, 'unknown key; expected allow, optional')
  if (optional !== undefined && typeof optional !== 'boolean')
    throw new ClientCertConfigError(`${at}.optional`, 'must be a boolean')
  return {
    policy: allow === undefined ? undefined : compilePolicy(allow as AllowPolicy, `${at}.allow`),
    optional: (optional as boolean | undefined) ?? (allow === undefined ? defaultOptional : false),
  }
}

/**
 * Runs `then` with the value now when it is one, or when the promise settles; a rejected
 * promise (which the kit's own functions never return) goes to `fault`. Lets an adapter keep
 * keep-alive requests free of promise hops without writing the dispatch twice.
 */
export function whenSettled<T>(
  value: MaybePromise<T>,
  then: (value: T) => void,
  fault: (err: unknown) => void,
): void {
  if (value instanceof Promise) value.then(then, fault)
  else then(value)
}

function internal(authenticator: ClientCertAuthenticator, request: object, err: unknown): Admission {
  const reason = `authentication threw: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`
  return { ok: false, error: authenticator.reject('ERR_CLIENT_CERT_INTERNAL', reason, request) }
}
