import { ClientCertConfigError } from './errors.js'

/**
 * The option checks, one of each, with one message style ("must be …", naming the option by its
 * dotted path). Used by the core options, the forwarded presets, revocation and the adapter kit,
 * so every configuration mistake reads alike and throws `ClientCertConfigError` at construction.
 */

/** A plain object (not an array, not bytes). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
}

export function plainObject(v: unknown, name: string): Record<string, unknown> {
  if (!isPlainObject(v)) throw new ClientCertConfigError(name, 'must be an object')
  return v
}

/** Only `known` keys; an unknown one is named `${prefix}${key}` with the list. */
export function onlyKeys(o: Record<string, unknown>, known: readonly string[], prefix: string): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k))
      throw new ClientCertConfigError(`${prefix}${k}`, `unknown option; expected one of ${known.join(', ')}`)
  }
}

/** An integer in [min, max]; `dflt` when undefined. */
export function intIn(v: unknown, name: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new ClientCertConfigError(name, `must be an integer from ${min} to ${max}`)
  return v
}

/** A boolean; `dflt` when undefined. */
export function bool(v: unknown, name: string, dflt = false): boolean {
  if (v === undefined) return dflt
  if (typeof v !== 'boolean') throw new ClientCertConfigError(name, 'must be a boolean')
  return v
}

/** A function, or undefined. */
export function optionalFn(v: unknown, name: string): unknown {
  if (v !== undefined && typeof v !== 'function') throw new ClientCertConfigError(name, 'must be a function')
  return v
}

/** One of `values`; `dflt` when undefined. */
export function oneOf<T extends string>(v: unknown, name: string, values: readonly T[], dflt: T): T {
  if (v === undefined) return dflt
  if (typeof v !== 'string' || !values.includes(v as T))
    throw new ClientCertConfigError(name, `must be one of ${values.map((x) => JSON.stringify(x)).join(', ')}`)
  return v as T
}
