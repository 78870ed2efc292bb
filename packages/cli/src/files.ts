import { X509Certificate } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { CliError, errorMessage } from './output.js'

export interface OutputFile {
  readonly path: string
  readonly data: string
  /** Private keys: mode 0600. */
  readonly secret?: boolean
}

/**
 * Writes every file, or none: without `force`, an existing file is an error before anything is
 * written. Keys are created 0600 (and chmod-ed to 0600 when overwritten).
 */
export function writeAll(files: readonly OutputFile[], force: boolean, command: string): void {
  if (!force) {
    const existing = files.filter((f) => existsSync(f.path))
    if (existing.length > 0)
      throw new CliError(
        `${command}: refusing to overwrite ${existing.map((f) => f.path).join(', ')} (use --force)`,
      )
  }
  for (const f of files) {
    try {
      mkdirSync(dirname(f.path), { recursive: true })
      const mode = f.secret ? 0o600 : 0o644
      writeFileSync(f.path, f.data, { mode, flag: force ? 'w' : 'wx' })
      chmodSync(f.path, mode)
    } catch (err) {
      throw new CliError(`${command}: cannot write ${f.path}: ${errorMessage(err)}`)
    }
  }
}

export function readText(path: string, what: string, command: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    const code = (err as { code?: string }).code
    throw new CliError(
      `${command}: cannot read ${what} ${path}: ${code === 'ENOENT' ? 'no such file' : errorMessage(err)}`,
    )
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/** Every certificate in a PEM file (or one DER certificate), as node:crypto X509Certificates. */
export function readCertificates(path: string, what: string, command: string): X509Certificate[] {
  let buf: Buffer
  try {
    buf = readFileSync(path)
  } catch (err) {
    const code = (err as { code?: string }).code
    throw new CliError(
      `${command}: cannot read ${what} ${path}: ${code === 'ENOENT' ? 'no such file' : errorMessage(err)}`,
    )
  }
  const text = buf.toString('latin1')
  const blocks = text.match(PEM_CERT)
  try {
    if (blocks) return blocks.map((b) => new X509Certificate(b))
    if (buf[0] === 0x30) return [new X509Certificate(buf)]
  } catch (err) {
    throw new CliError(`${command}: ${what} ${path} is not a valid certificate: ${errorMessage(err)}`)
  }
  throw new CliError(`${command}: ${what} ${path} contains no certificate (expected PEM or DER)`)
}

export function resolvePath(cwd: string, p: string): string {
  return resolve(cwd, p)
}
