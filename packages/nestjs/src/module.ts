import type { IncomingMessage } from 'node:http'
import { ClientCertConfigError } from '@clientcert/core'
import { adapterCheck, loggerOption, splitAdapterOptions } from '@clientcert/core/adapter'
import {
  type DynamicModule,
  Global,
  Inject,
  Injectable,
  type InjectionToken,
  Module,
  type ModuleMetadata,
  type OnApplicationBootstrap,
  Optional,
  type OptionalFactoryDependency,
  type Provider,
  type Type,
} from '@nestjs/common'
import { APP_FILTER, APP_GUARD, HttpAdapterHost } from '@nestjs/core'
import { ClientCertExceptionFilter, ClientCertGuard } from './guard.js'
import { nestLogger } from './logger.js'
import {
  CLIENT_CERT_AUTHENTICATOR,
  CLIENT_CERT_MODULE_OPTIONS,
  CLIENT_CERT_RESOLVED,
  type ClientCertModuleOptions,
  type ResolvedModule,
} from './tokens.js'

/** For `forRootAsync({ useClass | useExisting })`. */
export interface ClientCertOptionsFactory<R extends object = IncomingMessage> {
  createClientCertOptions(): ClientCertModuleOptions<R> | Promise<ClientCertModuleOptions<R>>
}

export interface ClientCertModuleAsyncOptions<R extends object = IncomingMessage>
  extends Pick<ModuleMetadata, 'imports'> {
  readonly useFactory?: (...args: never[]) => ClientCertModuleOptions<R> | Promise<ClientCertModuleOptions<R>>
  readonly inject?: ReadonlyArray<InjectionToken | OptionalFactoryDependency>
  readonly useClass?: Type<ClientCertOptionsFactory<R>>
  readonly useExisting?: Type<ClientCertOptionsFactory<R>>
  /** Register `ClientCertGuard` for every route. Default true. */
  readonly globalGuard?: boolean
}

/**
 * Tracks whether `installClientCert(app)` ran; refuses to finish bootstrapping otherwise,
 * because without the pre-parse stage Nest's body parser would read bodies before any
 * certificate check.
 */
@Injectable()
export class ClientCertInstallation implements OnApplicationBootstrap {
  installed = false
  /** @internal Work the pre-parse stage needs done once the routes are known. */
  onBootstrap: (() => void) | undefined = undefined

  constructor(@Optional() @Inject(HttpAdapterHost) private readonly adapterHost?: HttpAdapterHost) {}

  onApplicationBootstrap(): void {
    // A microservice-only application (NestFactory.createMicroservice) has no HTTP server and no
    // body parser to get ahead of: its gRPC handlers are judged by ClientCertGuard alone.
    const http: unknown = this.adapterHost?.httpAdapter
    if (!this.installed && http !== undefined && http !== null) {
      throw new ClientCertConfigError(
        'installClientCert',
        'ClientCertModule is imported but its pre-parse stage is not installed: call `await installClientCert(app)` after NestFactory.create() and before app.init()/app.listen()',
      )
    }
    this.onBootstrap?.()
  }
}

/** The options checked by the adapter kit: an unknown key is named with every option the module takes. */
function resolveModule(options: ClientCertModuleOptions): ResolvedModule {
  if (typeof options !== 'object' || options === null)
    throw new ClientCertConfigError('ClientCertModule options', 'must be an object')
  const { settings, authenticator } = splitAdapterOptions(options, {
    optional: { check: adapterCheck.boolean, default: false },
    globalGuard: { check: adapterCheck.boolean, default: true },
    logger: { check: loggerOption, default: nestLogger },
  })
  return { authenticator, ...settings }
}

const sharedProviders: Provider[] = [
  { provide: CLIENT_CERT_RESOLVED, useFactory: resolveModule, inject: [CLIENT_CERT_MODULE_OPTIONS] },
  {
    provide: CLIENT_CERT_AUTHENTICATOR,
    useFactory: (r: ResolvedModule) => r.authenticator,
    inject: [CLIENT_CERT_RESOLVED],
  },
  ClientCertInstallation,
]

const guardProvider = (on: boolean): Provider[] => [
  { provide: APP_FILTER, useClass: ClientCertExceptionFilter },
  ...(on ? [{ provide: APP_GUARD, useClass: ClientCertGuard }] : []),
]

/**
 * Client-certificate authentication for a Nest application. Options are validated while the
 * module initialises (a mistake is a startup error with a code).
 */
@Global()
@Module({})
export class ClientCertModule {
  static forRoot<R extends object = IncomingMessage>(options: ClientCertModuleOptions<R>): DynamicModule {
    return {
      module: ClientCertModule,
      providers: [
        { provide: CLIENT_CERT_MODULE_OPTIONS, useValue: options },
        ...sharedProviders,
        ...guardProvider(options.globalGuard !== false),
      ],
      exports: [
        CLIENT_CERT_AUTHENTICATOR,
        CLIENT_CERT_MODULE_OPTIONS,
        CLIENT_CERT_RESOLVED,
        ClientCertInstallation,
      ],
    }
  }

  static forRootAsync<R extends object = IncomingMessage>(
    options: ClientCertModuleAsyncOptions<R>,
  ): DynamicModule {
    return {
      module: ClientCertModule,
      imports: [...(options.imports ?? [])],
      providers: [
        ...asyncOptionsProviders(options),
        ...sharedProviders,
        ...guardProvider(options.globalGuard !== false),
      ],
      exports: [
        CLIENT_CERT_AUTHENTICATOR,
        CLIENT_CERT_MODULE_OPTIONS,
        CLIENT_CERT_RESOLVED,
        ClientCertInstallation,
      ],
    }
  }
}

function asyncOptionsProviders<R extends object>(options: ClientCertModuleAsyncOptions<R>): Provider[] {
  const ways = [options.useFactory, options.useClass, options.useExisting].filter(
    (x) => x !== undefined,
  ).length
  if (ways !== 1)
    throw new ClientCertConfigError(
      'ClientCertModule.forRootAsync',
      'needs exactly one of useFactory, useClass, useExisting',
    )
  if (options.useFactory) {
    return [
      {
        provide: CLIENT_CERT_MODULE_OPTIONS,
        useFactory: options.useFactory,
        inject: [...(options.inject ?? [])],
      },
    ]
  }
  const factory = (options.useClass ?? options.useExisting)!
  const fromFactory: Provider = {
    provide: CLIENT_CERT_MODULE_OPTIONS,
    useFactory: (f: ClientCertOptionsFactory<R>) => f.createClientCertOptions(),
    inject: [factory],
  }
  return options.useClass ? [{ provide: factory, useClass: factory }, fromFactory] : [fromFactory]
}
