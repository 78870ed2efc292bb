import {
  type AuthResult,
  authenticationOf,
  type ClientCertAuthenticator,
  type ClientCertError,
  type CompiledPolicy,
} from '@clientcert/core'
import { type AdapterLogger, authorizePrincipal, logRejection, writeProblem } from '@clientcert/core/adapter'
import { type INestApplication, RequestMethod, VERSION_NEUTRAL, VersioningType } from '@nestjs/common'
import { MetadataScanner, ModulesContainer } from '@nestjs/core'
import { ruleOf } from './decorators.js'

// Nest's metadata keys (@nestjs/common/constants), unchanged since Nest 5. Imported by value they
// would need a deep import that Nest 11's CommonJS package cannot serve to an ES module.
const PATH_METADATA = 'path'
const METHOD_METADATA = 'method'
const VERSION_METADATA = '__version__'
const MODULE_PATH = '__module_path__'

/** One Nest route as the pre-parse stage sees it. */
interface RouteEntry {
  /** Upper-case HTTP method; undefined for `@All()`. */
  readonly method: string | undefined
  /** Its first (up to two) literal segments, lower-cased: the bucket it lives in. */
  readonly key: string
  readonly pattern: RegExp
  readonly policies: readonly CompiledPolicy[]
  /** A request without a certificate may reach it (route rule or module default). */
  readonly optional: boolean
}

interface VersioningLike {
  readonly type?: unknown
  readonly prefix?: unknown
  readonly defaultVersion?: unknown
}

interface ConfigLike {
  getGlobalPrefix(): string
  getGlobalPrefixOptions(): { exclude?: unknown }
  getVersioning(): VersioningLike | undefined
}

interface ModuleLike {
  readonly metatype?: unknown
  readonly controllers: Map<unknown, { readonly metatype?: unknown }>
}

/**
 * The route → rule table of a Nest application on the Express platform, so that
 * `@AllowClients` / `@OptionalClientCert` can refuse before Nest's body parser, module
 * middleware, pipes and handler run. It only ever rejects earlier: a request is refused here
 * only when every route it could be dispatched to would refuse it; anything unsure (no route
 * matched, an asynchronous or throwing policy, a path syntax the table does not model) goes on
 * to the guard, which stays the authoritative check.
 */
export class RouteRules {
  /** Entries by their first literal path segments ('' = none, 'a', 'a/b'), so a request tests only its candidates. */
  #buckets = new Map<string, RouteEntry[]>()

  constructor(
    private readonly authenticator: ClientCertAuthenticator,
    private readonly moduleOptional: boolean,
    private readonly logger: AdapterLogger,
  ) {}

  /** Reads the routes from Nest's metadata; call once routes, prefix and versioning are final (at bootstrap). */
  build(app: INestApplication): void {
    const entries: RouteEntry[] = []
    const config = configOf(app)
    const modules = app.get(ModulesContainer, { strict: false }) as unknown as Map<string, ModuleLike> & {
      applicationId?: string
    }
    const scanner = new MetadataScanner()
    const prefix = config?.getGlobalPrefix() ?? ''
    const excludes = config?.getGlobalPrefixOptions().exclude
    const versioning = config?.getVersioning()
    for (const module of modules.values()) {
      const modulePath = modulePathOf(module.metatype, modules.applicationId)
      for (const wrapper of module.controllers.values()) {
        const controller = wrapper.metatype
        if (typeof controller !== 'function' || controller.prototype === undefined) continue
        const controllerPaths = pathsOf(Reflect.getMetadata(PATH_METADATA, controller))
        const controllerVersion =
          Reflect.getMetadata(VERSION_METADATA, controller) ??
          (versioning ? versioning.defaultVersion : undefined)
        for (const name of scanner.getAllMethodNames(controller.prototype)) {
          const handler = (controller.prototype as Record<string, unknown>)[name]
          if (typeof handler !== 'function') continue
          const methodPath = Reflect.getMetadata(PATH_METADATA, handler)
          if (methodPath === undefined) continue
          const methodCode = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined
          const method = methodCode === undefined ? 'GET' : RequestMethod[methodCode]
          if (method === undefined) continue
          const rule = ruleOf(handler, controller)
          const optional = rule.optional || (rule.policies.length === 0 && this.moduleOptional)
          const version = Reflect.getMetadata(VERSION_METADATA, handler) || controllerVersion
          for (const versionPrefix of versionPrefixes(version, versioning)) {
            for (const ctrlPath of controllerPaths) {
              for (const mPath of pathsOf(methodPath)) {
                const bare = join(versionPrefix, modulePath, ctrlPath, mPath)
                const paths = prefix === '' ? [bare] : [join(prefix, bare)]
                // Exclusions are matched by Nest with its own rules; both spellings keep the table a superset.
                if (prefix !== '' && Array.isArray(excludes) && excludes.length > 0) paths.push(bare)
                for (const path of paths) {
                  entries.push({
                    method: method === 'ALL' ? undefined : method,
                    key: literalKey(path),
                    pattern: patternOf(path),
                    policies: rule.policies,
                    optional,
                  })
                }
              }
            }
          }
        }
      }
    }
    const buckets = new Map<string, RouteEntry[]>()
    // A table whose routes all admit anyone the module admits has nothing to decide.
    if (entries.some((e) => e.policies.length > 0 || !e.optional)) {
      for (const entry of entries) {
        const bucket = buckets.get(entry.key)
        if (bucket === undefined) buckets.set(entry.key, [entry])
        else bucket.push(entry)
      }
    }
    this.#buckets = buckets
  }

  /** Express middleware, mounted right after the pre-parse authentication. */
  readonly middleware = (
    req: { method?: string; url?: string },
    res: { headersSent?: boolean; writeHead(s: number, h: object): unknown; end(b: string): unknown },
    next: () => void,
  ): void => {
    const buckets = this.#buckets
    const mark = buckets.size === 0 ? undefined : authenticationOf(req)
    const matches =
      mark === undefined || mark.authenticator !== this.authenticator
        ? []
        : matching(buckets, req.method ?? 'GET', req.url ?? '/')
    const principal = mark?.principal
    const someRouteAdmits = matches.some((entry) =>
      principal === undefined ? entry.optional : !deniesSync(entry.policies, principal),
    )
    if (matches.length === 0 || someRouteAdmits) {
      next()
      return
    }
    // Every route this request could reach refuses it: answer now, with the hooks fired once.
    const first = matches[0]!
    if (principal === undefined) {
      send(
        this.logger,
        res,
        req,
        this.authenticator.reject('ERR_CLIENT_CERT_MISSING', 'this route requires a client certificate', req),
      )
      return
    }
    for (const policy of first.policies) {
      const result: AuthResult | Promise<AuthResult> = authorizePrincipal(
        this.authenticator,
        principal,
        policy,
        req,
      )
      if (result instanceof Promise) break
      if (!result.ok) {
        send(this.logger, res, req, result.error)
        return
      }
    }
    next()
  }
}

function configOf(app: INestApplication): ConfigLike | undefined {
  // NestApplication keeps its ApplicationConfig (global prefix, versioning) in `config`; there
  // is no public getter. Without it the table is built without prefix and versioning, and the
  // routes it then misses are left to the guard.
  const config = (app as unknown as { config?: Partial<ConfigLike> }).config
  if (
    typeof config?.getGlobalPrefix === 'function' &&
    typeof config.getGlobalPrefixOptions === 'function' &&
    typeof config.getVersioning === 'function'
  )
    return config as ConfigLike
  return undefined
}

function modulePathOf(metatype: unknown, applicationId: string | undefined): string {
  if (typeof metatype !== 'function') return ''
  const path =
    (applicationId === undefined ? undefined : Reflect.getMetadata(MODULE_PATH + applicationId, metatype)) ??
    Reflect.getMetadata(MODULE_PATH, metatype)
  return typeof path === 'string' ? path : ''
}

function pathsOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((p): p is string => typeof p === 'string')
  return typeof value === 'string' ? [value] : ['/']
}

function versionPrefixes(version: unknown, versioning: VersioningLike | undefined): string[] {
  if (!version || versioning?.type !== VersioningType.URI) return ['']
  const prefix =
    versioning.prefix === false ? '' : typeof versioning.prefix === 'string' ? versioning.prefix : 'v'
  const versions = Array.isArray(version) ? version : [version]
  return versions.map((v) => (v === VERSION_NEUTRAL ? '' : `/${prefix}${String(v)}`))
}

function join(...parts: string[]): string {
  const joined = parts
    .map((p) => p.replace(/^\/+|\/+$/g, ''))
    .filter((p) => p !== '')
    .join('/')
  return `/${joined}`
}

/**
 * A regular expression that matches at least every path Express would route to `path`: `:name`
 * parameters as one segment, case-insensitive, with or without a trailing slash. Syntax beyond
 * plain parameters (wildcards, optional groups, escapes) matches everything below its literal
 * prefix, so the table never misses a request such a route would receive.
 */
function patternOf(path: string): RegExp {
  const special = path.search(/[*?+(){}[\]\\]/)
  const literal = special === -1 ? path : path.slice(0, special)
  const body = literal
    .split(/(:[A-Za-z_$][\w$]*)/)
    .map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.^$|]/g, '\\$&')))
    .join('')
  return new RegExp(special === -1 ? `^${body.replace(/\/$/, '')}/?$` : `^${body}`, 'i')
}

function literalKey(path: string): string {
  const literal: string[] = []
  for (const segment of path.split('/').slice(1, 3)) {
    if (segment === '' || /[:*?+(){}[\]\\]/.test(segment)) break
    literal.push(segment.toLowerCase())
  }
  return literal.join('/')
}

function matching(buckets: ReadonlyMap<string, RouteEntry[]>, method: string, url: string): RouteEntry[] {
  const query = url.indexOf('?')
  const raw = query === -1 ? url : url.slice(0, query)
  let decoded = raw
  if (raw.includes('%')) {
    try {
      decoded = decodeURIComponent(raw)
    } catch {
      // Not decodable: Express matches the raw path anyway.
    }
  }
  const keys = new Set([''])
  for (const path of decoded === raw ? [raw] : [raw, decoded]) {
    const [, first = '', second = ''] = path.toLowerCase().split('/', 3)
    keys.add(first)
    keys.add(`${first}/${second}`)
  }
  const found: RouteEntry[] = []
  for (const key of keys) {
    for (const e of buckets.get(key) ?? []) {
      if (
        (e.method === undefined || e.method === method || (method === 'HEAD' && e.method === 'GET')) &&
        (e.pattern.test(raw) || (decoded !== raw && e.pattern.test(decoded)))
      )
        found.push(e)
    }
  }
  return found
}

/** True only when a policy synchronously says no. A throw or a promise is left to the guard. */
function deniesSync(
  policies: readonly CompiledPolicy[],
  principal: Parameters<CompiledPolicy['evaluate']>[0],
): boolean {
  for (const policy of policies) {
    try {
      const verdict = policy.evaluate(principal)
      if (verdict === false) return true
      // The guard evaluates it again and reports its outcome; this copy must not crash the process.
      if (verdict instanceof Promise) verdict.catch(() => {})
    } catch {
      return false
    }
  }
  return false
}

function send(
  logger: AdapterLogger,
  res: { headersSent?: boolean; writeHead(s: number, h: object): unknown; end(b: string): unknown },
  req: unknown,
  error: ClientCertError,
): void {
  logRejection(logger, error, req as object)
  writeProblem(res as unknown as Parameters<typeof writeProblem>[0], error, req as object)
}
