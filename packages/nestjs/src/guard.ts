import {
  ClientCertError,
  type CompiledPolicy,
  compilePolicy,
  problemResponse,
  toProblemDetails,
} from '@clientcert/core'
import {
  type AdapterLogger,
  checkRoute,
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
import { ruleOf } from './decorators.js'
import { nestLogger } from './logger.js'
import { markOf, rawRequest } from './request.js'
import { CLIENT_CERT_RESOLVED, type ResolvedModule } from './tokens.js'

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
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') {
      throw httpError(
        new ClientCertError(
          'ERR_CLIENT_CERT_MISCONFIGURED',
          `ClientCertGuard protects HTTP handlers only, not "${context.getType()}"`,
        ),
      )
    }
    const request = context.switchToHttp().getRequest<unknown>()
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

  catch(exception: ClientCertException, host: ArgumentsHost): void {
    const http = host.switchToHttp()
    const request = rawRequest(http.getRequest<unknown>()) as object
    const response = http.getResponse<object>()
    const error = exception.error
    logRejection(this.logger, error, request)
    if ('raw' in response && typeof (response as Partial<FastifyReplyLike>).code === 'function') {
      const answer = problemResponse(error, request)
      const reply = response as FastifyReplyLike
      reply.code(answer.status).headers(answer.headers).send(Buffer.from(answer.body))
      return
    }
    writeProblem(response as Parameters<typeof writeProblem>[0], error, request)
  }
}
