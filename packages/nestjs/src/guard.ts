import {
  type ClientCertAuthenticator,
  ClientCertError,
  markAuthenticated,
  PROBLEM_CONTENT_TYPE,
  toProblemDetails,
} from '@clientcert/core'
import { admitRequest, grpcCallView } from '@clientcert/core/adapter'
import {
  type ArgumentsHost,
  type CanActivate,
  Catch,
  type ExceptionFilter,
  type ExecutionContext,
  HttpException,
  Inject,
  Injectable,
  Optional,
} from '@nestjs/common'
import { HttpAdapterHost } from '@nestjs/core'
import { type Observable, throwError } from 'rxjs'
import { ruleOf } from './decorators.js'
import { grpcCallOf, markOf, rawRequest } from './request.js'
import {
  CLIENT_CERT_AUTHENTICATOR,
  CLIENT_CERT_MODULE_OPTIONS,
  type ClientCertModuleOptions,
} from './tokens.js'

/** Trailing-metadata key of the stable code on a rejected gRPC call (as `@clientcert/grpc`). */
const ERROR_CODE_METADATA_KEY = 'clientcert-error-code'

/**
 * Reads what the pre-parse stage stored and applies the route's rule (`@AllowClients`,
 * `@OptionalClientCert`). Without that stored result — the stage was not installed, or ran
 * for another request — it refuses (500), never lets the request through.
 */
@Injectable()
export class ClientCertGuard implements CanActivate {
  constructor(
    @Inject(CLIENT_CERT_MODULE_OPTIONS) private readonly options: ClientCertModuleOptions,
    @Optional() @Inject(CLIENT_CERT_AUTHENTICATOR) private readonly authenticator?: ClientCertAuthenticator,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const type = context.getType()
    if (type === 'rpc') return this.canActivateRpc(context)
    if (type !== 'http' && type !== 'ws') {
      throw httpError(
        new ClientCertError(
          'ERR_CLIENT_CERT_MISCONFIGURED',
          `ClientCertGuard protects HTTP and gRPC handlers and WebSocket gateways only, not "${type}": this context exposes no client certificate`,
        ),
      )
    }
    // A gateway's messages carry no request: the upgrade's outcome is on the client, carried
    // there by the app's upgrade listener (docs/guide/websockets.md). Nothing there, nothing passes.
    const request =
      type === 'ws' ? context.switchToWs().getClient<unknown>() : context.switchToHttp().getRequest<unknown>()
    const mark = markOf(request)
    if (mark === undefined && type === 'ws') {
      throw httpError(
        new ClientCertError(
          'ERR_CLIENT_CERT_MISCONFIGURED',
          'ClientCertGuard on a WebSocket gateway: this client carries no authenticated upgrade; authenticate upgrades with clientCertUpgrade() and mark the client with markAuthenticated(client, authenticationOf(req))',
        ),
      )
    }
    if (mark === undefined) {
      throw httpError(
        new ClientCertError(
          'ERR_CLIENT_CERT_MISCONFIGURED',
          'the pre-parse stage did not run for this request: call installClientCert(app) before app.listen()',
        ),
      )
    }
    const raw = rawRequest(request)
    const rule = ruleOf(context.getHandler(), context.getClass())
    const policies = rule.policies
    // As in the other adapters: a route with its own policy needs a client unless it is
    // marked optional itself; other routes follow the module's `optional`.
    const optional = rule.optional || (policies.length === 0 && this.options.optional === true)
    const principal = mark.principal
    if (principal === undefined) {
      if (optional) return true
      throw httpError(
        mark.authenticator.reject('ERR_CLIENT_CERT_MISSING', 'this route requires a client certificate', raw),
      )
    }
    for (const policy of policies) {
      const result = await mark.authenticator.authorize(principal, policy, raw)
      if (!result.ok) throw httpError(result.error)
    }
    return true
  }

  /**
   * A gRPC microservice handler (`@GrpcMethod`): the certificate is read from the grpc-js call
   * (the handler's third argument) and judged here, with the handler's rules, before it runs.
   * Other RPC transports (TCP, Redis, NATS, ...) carry no client certificate: refused.
   */
  private async canActivateRpc(context: ExecutionContext): Promise<boolean> {
    const call = grpcCallOf(context)
    const authenticator = this.authenticator
    if (call === undefined || authenticator === undefined) {
      throw httpError(
        new ClientCertError(
          'ERR_CLIENT_CERT_MISCONFIGURED',
          call === undefined
            ? 'ClientCertGuard protects gRPC microservice handlers only among RPC transports: this transport exposes no client certificate'
            : 'ClientCertGuard has no authenticator: import ClientCertModule',
        ),
      )
    }
    const rule = ruleOf(context.getHandler(), context.getClass())
    const optional = rule.optional || (rule.policies.length === 0 && this.options.optional === true)
    const admission = await admitRequest(authenticator, grpcCallView(call), { policy: undefined, optional })
    if (!admission.ok) throw httpError(admission.error)
    const principal = admission.principal
    if (principal !== undefined) {
      for (const policy of rule.policies) {
        const result = await authenticator.authorize(principal, policy, call)
        if (!result.ok) throw httpError(result.error)
      }
    }
    markAuthenticated(call, { principal, authenticator })
    return true
  }
}

/** A Nest HttpException carrying a ClientCertError; its body is the problem document. */
export class ClientCertException extends HttpException {
  constructor(readonly error: ClientCertError) {
    super(toProblemDetails(error), error.status, { cause: error })
  }
}

export function httpError(error: ClientCertError): ClientCertException {
  return new ClientCertException(error)
}

/** Renders ClientCertExceptions as `application/problem+json`, as the other adapters do. */
@Catch(ClientCertException)
export class ClientCertExceptionFilter implements ExceptionFilter {
  constructor(@Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: ClientCertException, host: ArgumentsHost): Observable<never> | undefined {
    if (host.getType() === 'rpc') return throwError(() => grpcErrorOf(exception.error, host))
    const adapter = this.adapterHost.httpAdapter
    const response = host.switchToHttp().getResponse<unknown>()
    adapter.setHeader(response, 'content-type', PROBLEM_CONTENT_TYPE)
    adapter.setHeader(response, 'cache-control', 'no-store')
    adapter.reply(response, JSON.stringify(exception.getResponse()), exception.getStatus())
    return undefined
  }
}

/** gRPC status codes (grpc/grpc doc/statuscodes.md), without importing grpc-js. */
const GRPC_STATUS = { INTERNAL: 13, PERMISSION_DENIED: 7, UNAUTHENTICATED: 16 } as const

/**
 * The error grpc-js turns into the call's status: `UNAUTHENTICATED`, `PERMISSION_DENIED` or
 * `INTERNAL`, the code's public sentence, and the stable code in the trailing metadata — built
 * with the call's own `Metadata` class, so this package needs no grpc-js of its own.
 */
function grpcErrorOf(error: ClientCertError, host: ArgumentsHost): object {
  const code =
    error.category === 'unauthenticated'
      ? GRPC_STATUS.UNAUTHENTICATED
      : error.category === 'forbidden'
        ? GRPC_STATUS.PERMISSION_DENIED
        : GRPC_STATUS.INTERNAL
  const out: { code: number; details: string; message: string; metadata?: unknown } = {
    code,
    details: error.message,
    message: error.message,
  }
  const metadata = (grpcCallOf(host) as { metadata?: unknown } | undefined)?.metadata
  const Metadata = typeof metadata === 'object' && metadata !== null ? metadata.constructor : undefined
  if (typeof Metadata === 'function') {
    const trailers = new (Metadata as new () => { set(key: string, value: string): void })()
    trailers.set(ERROR_CODE_METADATA_KEY, error.code)
    out.metadata = trailers
  }
  return out
}
