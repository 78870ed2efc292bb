import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { CliError, type Io } from './output.js'

export const DEMO_HELP = `Usage: clientcert demo [--repo <dir>]

Runs the clientcert demo from a clone of the repository: a throwaway PKI, every example
(Express, Fastify, NestJS on both platforms, Passport, Koa, Hono) on loopback in TLS mode and
behind a TLS-terminating proxy, and real TLS clients driven through a table of scenarios
(valid client, no certificate, unknown CA, wrong EKU, expired, not-allowed identity, forged
forwarded header from a stranger, forwarded through the proxy); the gRPC example gets its own
table (gRPC status, and the stable code from the trailing metadata). Prints outcome, status
and code per adapter; exits 1 if any outcome is not the expected one.

Options:
  --repo <dir>   the repository clone (default: found from the current directory upwards)
`

const DEMO = join('examples', 'demo', 'src', 'demo.ts')

/** `clientcert demo`: runs examples/demo of the repository clone with its own tsx. */
export async function demoCommand(args: readonly string[], io: Io): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout(DEMO_HELP)
    return 0
  }
  let repo: string | undefined
  if (args[0] === '--repo' && args[1] !== undefined && args.length === 2) repo = resolve(args[1])
  else if (args.length > 0)
    throw new CliError(`unexpected arguments: ${args.join(' ')} (see 'clientcert demo --help')`)
  repo ??= findRepo(process.cwd())
  if (repo === undefined || !existsSync(join(repo, DEMO))) {
    throw new CliError(
      'the demo runs from a clone of the clientcert repository (examples/demo not found); pass --repo <dir>',
    )
  }
  const tsx = join(repo, 'examples', 'demo', 'node_modules', '.bin', 'tsx')
  if (!existsSync(tsx))
    throw new CliError('the repository is not installed: run `npx -y pnpm@10.34.8 install` in it first')
  return new Promise<number>((done) => {
    const child = spawn(tsx, [DEMO], { cwd: repo, stdio: 'inherit' })
    child.on('exit', (code) => done(code ?? 1))
    child.on('error', () => done(2))
  })
}

function findRepo(from: string): string | undefined {
  let dir = resolve(from)
  for (;;) {
    if (existsSync(join(dir, DEMO))) return dir
    const up = dirname(dir)
    if (up === dir) return undefined
    dir = up
  }
}
