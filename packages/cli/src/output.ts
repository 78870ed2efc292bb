/** Terminal output helpers: one-line errors, optional colour, aligned key/value lines. */

/** A failure the CLI reports as one line on stderr with `exitCode`. */
export class CliError extends Error {
  override readonly name = 'CliError'
  readonly exitCode: number
  constructor(message: string, exitCode = 2) {
    super(message)
    this.exitCode = exitCode
  }
}

/** Where a command writes; tests and embedders can pass their own. */
export interface Io {
  readonly stdout: (text: string) => void
  readonly stderr: (text: string) => void
  /** Colour output: only when stdout is a TTY and NO_COLOR is unset. */
  readonly color: boolean
  /** Working directory relative paths are resolved against. */
  readonly cwd: string
}

export function defaultIo(): Io {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    color: process.stdout.isTTY === true && process.env.NO_COLOR === undefined,
    cwd: process.cwd(),
  }
}

const CODES = { red: 31, green: 32, yellow: 33, bold: 1, dim: 2 } as const

export type Style = keyof typeof CODES

export function paint(io: Io, style: Style, text: string): string {
  return io.color ? `\u001b[${CODES[style]}m${text}\u001b[0m` : text
}

/** `key: value` lines with the keys padded to one width. */
export function table(rows: ReadonlyArray<readonly [string, string]>, indent = ''): string {
  const width = Math.max(0, ...rows.map(([k]) => k.length)) + 1
  return rows.map(([k, v]) => `${indent}${`${k}:`.padEnd(width + 1)}${v}\n`).join('')
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
