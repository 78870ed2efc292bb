import { type ClientCertAuthenticator, DECIDE, JUDGE } from '../api.js'
import { createClientCertAuthenticator } from '../authenticator.js'
import { bool, optionalFn, plainObject } from '../config-check.js'
import { ClientCertConfigError } from '../errors.js'
import type { ClientCertOptions } from '../options.js'
import { CORE_OPTION_NAMES } from '../options.js'

/** An adapter's own settings: each key with its check (which throws `ClientCertConfigError`) and default. */
export type AdapterOptions<T> = {
  readonly [K in keyof T]: { readonly check: (value: unknown, name: string) => T[K]; readonly default: T[K] }
}

/**
 * Splits what a user passed an adapter into the adapter's own settings (checked, with
 * defaults) and the authenticator: built from the rest as core options, or the one given as
 * `{ authenticator }`. Every mistake throws at construction with the option's name.
 */
export function splitAdapterOptions<T>(
  options: unknown,
  own: AdapterOptions<T>,
): { readonly settings: T; readonly authenticator: ClientCertAuthenticator } {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new ClientCertConfigError('options', 'must be an object')
  const rest: Record<string, unknown> = { ...(options as Record<string, unknown>) }
  // An unknown key is named with every option this adapter takes, not only the core's.
  const known = [...Object.keys(own), ...('authenticator' in rest ? ['authenticator'] : CORE_OPTION_NAMES)]
  for (const key of Object.keys(rest)) {
    if (!known.includes(key) && !('authenticator' in rest && CORE_OPTION_NAMES.includes(key as never)))
      throw new ClientCertConfigError(
        key,
        `unknown option; expected one of ${known.join(', ')}${'authenticator' in rest ? '' : ' (or authenticator, in place of the core options)'}`,
      )
  }
  const settings = {} as { -readonly [K in keyof T]: T[K] }
  for (const key of Object.keys(own) as (keyof T & string)[]) {
    const spec = own[key]
    const value = rest[key]
    delete rest[key]
    settings[key] = value === undefined ? spec.default : spec.check(value, key)
  }
  return { settings, authenticator: resolveAuthenticator(rest) }
}

/** Checks for `AdapterOptions` (the core's own option checks: one message style everywhere). */
export const adapterCheck = {
  boolean: (value: unknown, name: string): boolean => bool(value, name),
  function<F>(value: unknown, name: string): F {
    if (typeof optionalFn(value, name) !== 'function')
      throw new ClientCertConfigError(name, 'must be a function')
    return value as F
  },
  object: (value: unknown, name: string): Readonly<Record<string, unknown>> => plainObject(value, name),
  nonEmptyString(value: unknown, name: string): string {
    if (typeof value !== 'string' || value === '')
      throw new ClientCertConfigError(name, 'must be a non-empty string')
    return value
  },
}

/**
 * For adapters: an authenticator from options that are either core options or
 * `{ authenticator }` (one authenticator shared by several adapters or the CLI).
 */
export function resolveAuthenticator(options: Record<string, unknown>): ClientCertAuthenticator {
  if (!('authenticator' in options))
    return createClientCertAuthenticator(options as unknown as ClientCertOptions)
  const { authenticator, ...others } = options
  const extra = Object.keys(others)[0]
  if (extra !== undefined)
    throw new ClientCertConfigError(
      extra,
      'cannot be combined with "authenticator"; configure the authenticator instead',
    )
  const a = authenticator as Partial<ClientCertAuthenticator> | null
  if (
    typeof a !== 'object' ||
    a === null ||
    typeof a.authenticate !== 'function' ||
    typeof a[JUDGE] !== 'function' ||
    typeof a[DECIDE] !== 'function' ||
    typeof a.reject !== 'function'
  )
    throw new ClientCertConfigError('authenticator', 'must come from createClientCertAuthenticator()')
  return a as ClientCertAuthenticator
}
