import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import type { ClientCertAuthenticator, ClientCertOptions, ClientPrincipal } from '@clientcert/core'
import {
  adapterCheck,
  admitRequest,
  compileRouteRule,
  mountedAfterBody,
  type RouteRule,
  splitAdapterOptions,
  whenSettled,
  writeProblem,
} from '@clientcert/core/adapter'

/** A handler that runs only for an admitted request, with its client (undefined when optional). */
export type CertHandler = (req: IncomingMessage, res: ServerResponse, client?: ClientPrincipal) => void

/** Options: the core's (or `{ authenticator }`), `optional`, and per-path rules `{ allow?, optional? }`. */
export type NodeClientCertOptions = (
  | ClientCertOptions
  | { readonly authenticator: ClientCertAuthenticator }
) & {
  readonly optional?: boolean
  readonly routes?: Readonly<Record<string, unknown>>
}

/** Wraps a plain `node:http`/`node:https` handler: every request is judged before it runs. */
export function withClientCert(options: NodeClientCertOptions, handler: CertHandler): RequestListener {
  const { settings, authenticator } = splitAdapterOptions(options, {
    optional: { check: adapterCheck.boolean, default: false },
    routes: { check: adapterCheck.object, default: {} },
  })
  const fallback: RouteRule = { policy: undefined, optional: settings.optional }
  const rules = new Map<string, RouteRule>()
  for (const [path, rule] of Object.entries(settings.routes))
    rules.set(path, compileRouteRule(rule, `routes["${path}"]`, settings.optional))

  return (req, res) => {
    if (mountedAfterBody(req)) {
      const error = authenticator.reject('ERR_CLIENT_CERT_BODY_ALREADY_READ', 'body read first', req)
      return writeProblem(res, error, req)
    }
    const rule = rules.get(new URL(req.url ?? '/', 'http://x').pathname) ?? fallback
    whenSettled(
      admitRequest(authenticator, req, rule),
      (a) => (a.ok ? handler(req, res, a.principal) : writeProblem(res, a.error, req)),
      (err) => writeProblem(res, authenticator.reject('ERR_CLIENT_CERT_INTERNAL', String(err), req), req),
    )
  }
}
