import { type ParseArgsConfig, parseArgs } from 'node:util'
import { CliError } from './output.js'

export type Options = NonNullable<ParseArgsConfig['options']>

/** node:util parseArgs in strict mode, with `--help` always known and errors as a CliError. */
export function parse<O extends Options>(
  args: readonly string[],
  options: O,
  command: string,
): { values: Record<string, string | boolean | string[] | boolean[] | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: { help: { type: 'boolean', short: 'h' }, ...options },
      strict: true,
      allowPositionals: true,
    })
    return { values: values as Record<string, string | boolean | string[] | undefined>, positionals }
  } catch (err) {
    const msg = (err instanceof Error ? err.message : String(err)).split(/\n|\. To specify/)[0]
    throw new CliError(`${command}: ${msg} (see 'clientcert ${command} --help')`)
  }
}

export function str(values: Record<string, unknown>, name: string): string | undefined {
  const v = values[name]
  return typeof v === 'string' ? v : undefined
}

export function list(values: Record<string, unknown>, name: string): string[] {
  const v = values[name]
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []
}

export function flag(values: Record<string, unknown>, name: string): boolean {
  return values[name] === true
}

/** A positive integer flag value. */
export function intFlag(
  values: Record<string, unknown>,
  name: string,
  command: string,
  dflt: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const v = str(values, name)
  if (v === undefined) return dflt
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max)
    throw new CliError(`${command}: --${name} must be an integer from 1 to ${max}, got '${v}'`)
  return Number(v)
}

/** Exactly `n` positionals, or a usage error naming them. */
export function positionals(got: string[], names: readonly string[], command: string): string[] {
  if (got.length !== names.length) {
    const want = names.map((n) => `<${n}>`).join(' ')
    throw new CliError(
      got.length < names.length
        ? `${command}: missing ${want} (see 'clientcert ${command} --help')`
        : `${command}: unexpected argument '${got[names.length]}' (see 'clientcert ${command} --help')`,
    )
  }
  return got
}
