import {
  type ClientCertAuthenticator,
  ClientCertError,
  type CompiledPolicy,
  compilePolicy,
  markAuthenticated,
  problemResponse,
  toProblemDetails,
} from '@clientcert/core'
import {
  type AdapterLogger,
  admitView,
  checkRoute,
  grpcCallView,
  logRejection,
  type RouteRule,
  writeProblem,
} from '@clientcert/core/adapter'
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
import { nestLogger } from './logger.js'
import { grpcCallOf, markOf, rawRequest } from './request.js'
import { CLIENT_CERT_AUTHENTICATOR, CLIENT_CERT_RESOLVED, type ResolvedModule } from './tokens.js'

/** Trailing-metadata key of the stable code on a rejected gRPC call (as `@clientcert/grpc`). */
const ERROR_CODE_METADATA_KEY = 'clientcert-error-code'

/**
 * Reads what the pre-parse stage stored and applies the route's rule (`@AllowClients`,
 * `@OptionalClientCert`) with the adapter kit's `checkRoute`, the rule every adapter applies.
 * Without that stored result — the stage was not installed, or ran for another request — it
 * refuses (500), never lets the request through.
 */
@Injectable()
export class ClientCertGuard implements CanActivate {
  /** Each handler's rule, per controller (a handler inherited by two controllers has two). */
  readonly #rules = new WeakMap<object, WeakMap<object, RouteRule>>()

  constructor(
    @Inject(CLIENT_CERT_RESOLVED) private readonly module: { readonly optional?: boolean | undefined },
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
    if (markOf(request) === undefined && type === 'ws') {
      throw httpError(
        new ClientCertError(
          'ERR_CLIENT_CERT_MISCONFIGURED',
          'ClientCertGuard on a WebSocket gateway: this client carries no authenticated upgrade; authenticate upgrades with clientCertUpgrade() and mark the client with markAuthenticated(client, authenticationOf(req))',
        ),
      )
    }
    if (markOf(request) === undefined) {
      throw httpError(
        new ClientCertError(
          'ERR_CLIENT_CERT_MISCONFIGURED',
          'the pre-parse stage did not run for this request: call installClientCert(app) before app.listen()',
        ),
      )
    }
    const admission = await checkRoute(
      rawRequest(request) as object,
      this.ruleFor(context.getHandler(), context.getClass()),
    )
    if (!admission.ok) throw httpError(admission.error)
    return true
  }

  /**
   * A gRPC microservice handler (`@GrpcMethod`): the certificate is read from the grpc-js call
   * (the handler's third argument) and judged here, with the handler's rule, before it runs.
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
    const admission = await admitView(
      authenticator,
      grpcCallView(call),
      this.ruleFor(context.getHandler(), context.getClass()),
    )
    if (!admission.ok) throw httpError(admission.error)
    markAuthenticated(call, { principal: admission.principal, authenticator })
    return true
  }

  private ruleFor(handler: object, controller: object): RouteRule {
    let byHandler = this.#rules.get(controller)
    if (byHandler === undefined) {
      byHandler = new WeakMap()
      this.#rules.set(controller, byHandler)
    }
    let rule = byHandler.get(handler)
    if (rule === undefined) {
      const { policies, optional } = ruleOf(handler, controller)
      // As in the other adapters: a route with its own policy needs a client unless it is
      // marked optional itself; other routes follow the module's `optional`.
      rule = {
        policy: combine(policies),
        optional: optional || (policies.length === 0 && this.module.optional === true),
      }
      byHandler.set(handler, rule)
    }
    return rule
  }
}

function combine(policies: readonly CompiledPolicy[]): CompiledPolicy | undefined {
  if (policies.length <= 1) return policies[0]
  return compilePolicy({ all: [...policies] }, '@AllowClients(policy)')
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

interface FastifyReplyLike {
  readonly raw: object
  code(status: number): FastifyReplyLike
  headers(headers: Readonly<Record<string, string>>): FastifyReplyLike
  send(body: Buffer): unknown
}

/**
 * Renders ClientCertExceptions with the kit's problem response, as the other adapters do, and
 * logs each once. Not through Nest's `httpAdapter.reply`: on Express it goes through `res.send`,
 * which adds an `ETag` to a `no-store` answer, and on Fastify a string body gets a charset
 * appended to the problem media type.
 */
@Catch(ClientCertException)
export class ClientCertExceptionFilter implements ExceptionFilter {
  private readonly logger: AdapterLogger

  /**
   * `new ClientCertExceptionFilter(adapterHost)` (a catch-all filter delegating to it) logs
   * through Nest's `Logger`; the instance the module registers uses the module's `logger`.
   */
  constructor(
    @Inject(HttpAdapterHost) _adapterHost?: unknown,
    @Optional() @Inject(CLIENT_CERT_RESOLVED) module?: Pick<ResolvedModule, 'logger'>,
  ) {
    this.logger = module?.logger ?? nestLogger
  }

  catch(exception: ClientCertException, host: ArgumentsHost): Observable<never> | undefined {
    if (host.getType() === 'rpc') {
      logRejection(this.logger, exception.error, {})
      return throwError(() => grpcErrorOf(exception.error, host))
    }
    const http = host.switchToHttp()
    const request = rawRequest(http.getRequest<unknown>()) as object
    const response = http.getResponse<object>()
    const error = exception.error
    logRejection(this.logger, error, request)
    if ('raw' in response && typeof (response as Partial<FastifyReplyLike>).code === 'function') {
      const answer = problemResponse(error, request)
      const reply = response as FastifyReplyLike
      reply.code(answer.status).headers(answer.headers).send(Buffer.from(answer.body))
      return undefined
    }
    writeProblem(response as Parameters<typeof writeProblem>[0], error, request)
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
