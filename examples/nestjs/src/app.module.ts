import type { ClientCertOptions, ClientPrincipal } from '@clientcert/core'
import { AllowClients, ClientCert, ClientCertModule } from '@clientcert/nestjs'
import { Body, Controller, Get, HttpCode, Module, Post, type Type } from '@nestjs/common'

/**
 * The example's root module. ADMIN_IDS comes from the environment, so the controller (whose
 * `@AllowClients` policy is fixed when the class is defined) is built by a function.
 *
 * `ClientCertModule.forRoot()` registers `ClientCertGuard` and the problem-details filter for
 * every route; `installClientCert(app)` (see app.ts) adds the pre-parse stage, so a request
 * without a valid client certificate is rejected before Nest parses a single body byte.
 */
export function createAppModule(
  adminIds: readonly string[],
  auth: Partial<ClientCertOptions> = {},
): Type<unknown> {
  @Controller()
  class ExampleController {
    @Get('whoami')
    whoami(@ClientCert() p: ClientPrincipal) {
      return {
        principal: {
          id: p.id,
          kind: p.kind,
          subject: p.subject.dn,
          spiffeId: p.spiffeId ?? null,
          fingerprint256: p.fingerprint256,
        },
      }
    }

    @Post('echo')
    @HttpCode(200)
    echo(@ClientCert() p: ClientPrincipal, @Body() body: unknown) {
      return { principal: { id: p.id }, body }
    }

    @Get('admin')
    @AllowClients({ ids: [...adminIds] })
    admin(@ClientCert() p: ClientPrincipal) {
      return { principal: { id: p.id }, admin: true }
    }
  }

  @Module({
    imports: [ClientCertModule.forRoot({ identity: 'cn', allow: { authenticated: true }, ...auth })],
    controllers: [ExampleController],
  })
  class AppModule {}
  return AppModule
}
