import { ClientCertError, PROBLEM_CONTENT_TYPE, toProblemDetails } from '@clientcert/core'
import {
  type ArgumentsHost,
  type CanActivate,
  Catch,
  type ExceptionFilter,
  type ExecutionContext,
  HttpException,
  Inject,
  Injectable,
} from '@nestjs/common'
import { HttpAdapterHost } from '@nestjs/core'
import { ruleOf } from './decorators.js'
import { markOf, rawRequest } from './request.js'
import { CLIENT_CERT_MODULE_OPTIONS, type ClientCertModuleOptions } from './tokens.js'

/**
 * Reads what the pre-parse stage stored and applies the route's rule (`@AllowClients`,
 * `@OptionalClientCert`). Without that stored result — the stage was not installed, or ran
 * for another request — it refuses (500), never lets the request through.
 */
@Injectable()
export class ClientCertGuard implements CanActivate {
  constructor(@Inject(CLIENT_CERT_MODULE_OPTIONS) private readonly options: ClientCertModuleOptions) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const type = context.getType()
    if (type !== 'http' && type !== 'ws') {
      throw httpError(
        new ClientCertError(
          'ERR_CLIENT_CERT_MISCONFIGURED',
          `ClientCertGuard protects HTTP handlers and WebSocket gateways only, not "${type}"`,
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

  catch(exception: ClientCertException, host: ArgumentsHost): void {
    const adapter = this.adapterHost.httpAdapter
    const response = host.switchToHttp().getResponse<unknown>()
    adapter.setHeader(response, 'content-type', PROBLEM_CONTENT_TYPE)
    adapter.setHeader(response, 'cache-control', 'no-store')
    adapter.reply(response, JSON.stringify(exception.getResponse()), exception.getStatus())
  }
}
