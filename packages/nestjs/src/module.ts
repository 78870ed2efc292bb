import { type ClientCertAuthenticator, ClientCertConfigError, resolveAuthenticator } from '@clientcert/core'
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
import {
  CLIENT_CERT_AUTHENTICATOR,
  CLIENT_CERT_MODULE_OPTIONS,
  type ClientCertModuleOptions,
} from './tokens.js'

/** For `forRootAsync({ useClass | useExisting })`. */
export interface ClientCertOptionsFactory {
  createClientCertOptions(): ClientCertModuleOptions | Promise<ClientCertModuleOptions>
}

export interface ClientCertModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  readonly useFactory?: (...args: never[]) => ClientCertModuleOptions | Promise<ClientCertModuleOptions>
  readonly inject?: ReadonlyArray<InjectionToken | OptionalFactoryDependency>
  readonly useClass?: Type<ClientCertOptionsFactory>
  readonly useExisting?: Type<ClientCertOptionsFactory>
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

function authenticatorFrom(options: ClientCertModuleOptions): ClientCertAuthenticator {
  if (typeof options !== 'object' || options === null)
    throw new ClientCertConfigError('ClientCertModule options', 'must be an object')
  const { optional, globalGuard, ...core } = options as ClientCertModuleOptions & Record<string, unknown>
  if (optional !== undefined && typeof optional !== 'boolean')
    throw new ClientCertConfigError('optional', 'must be a boolean')
  if (globalGuard !== undefined && typeof globalGuard !== 'boolean')
    throw new ClientCertConfigError('globalGuard', 'must be a boolean')
  return resolveAuthenticator(core)
}

const sharedProviders: Provider[] = [
  { provide: CLIENT_CERT_AUTHENTICATOR, useFactory: authenticatorFrom, inject: [CLIENT_CERT_MODULE_OPTIONS] },
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
  static forRoot(options: ClientCertModuleOptions): DynamicModule {
    return {
      module: ClientCertModule,
      providers: [
        { provide: CLIENT_CERT_MODULE_OPTIONS, useValue: options },
        ...sharedProviders,
        ...guardProvider(options.globalGuard !== false),
      ],
      exports: [CLIENT_CERT_AUTHENTICATOR, CLIENT_CERT_MODULE_OPTIONS, ClientCertInstallation],
    }
  }

  static forRootAsync(options: ClientCertModuleAsyncOptions): DynamicModule {
    return {
      module: ClientCertModule,
      imports: [...(options.imports ?? [])],
      providers: [
        ...asyncOptionsProviders(options),
        ...sharedProviders,
        ...guardProvider(options.globalGuard !== false),
      ],
      exports: [CLIENT_CERT_AUTHENTICATOR, CLIENT_CERT_MODULE_OPTIONS, ClientCertInstallation],
    }
  }
}

function asyncOptionsProviders(options: ClientCertModuleAsyncOptions): Provider[] {
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
    useFactory: (f: ClientCertOptionsFactory) => f.createClientCertOptions(),
    inject: [factory],
  }
  return options.useClass ? [{ provide: factory, useClass: factory }, fromFactory] : [fromFactory]
}
