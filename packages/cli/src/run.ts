import { CliError, defaultIo, errorMessage, type Io } from './output.js'

export const HELP = `Usage: clientcert <command> [options]

TLS client-certificate (mTLS) tooling for @clientcert.

Commands:
  pki init <dir>                 create a development root CA + intermediate CA
  issue client|server            issue a certificate from a development PKI
  inspect <cert.pem>             show a certificate, and the verdict of a clientcert config
  probe <url>                    check a live mTLS endpoint for common mistakes
  demo                           run the demo from a clone of the repository

Run 'clientcert <command> --help' for a command's options.

Exit codes: 0 success; 1 a check or verdict failed; 2 usage, file or configuration error.
`

type Command = (args: readonly string[], io: Io) => Promise<number>

/** Commands load on demand, so `--help` and quick commands start fast. */
const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  pki: () => import('./pki.js').then((m) => m.pkiCommand),
  issue: () => import('./pki.js').then((m) => m.issueCommand),
  inspect: () => import('./inspect.js').then((m) => m.inspectCommand),
  probe: () => import('./probe.js').then((m) => m.probeCommand),
  demo: () => import('./demo.js').then((m) => m.demoCommand),
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function run(argv: readonly string[], io: Io = defaultIo()): Promise<number> {
  const [command, ...rest] = argv
  try {
    if (command === undefined) {
      io.stderr(HELP)
      return 2
    }
    if (command === '--help' || command === '-h' || command === 'help') {
      io.stdout(HELP)
      return 0
    }
    if (command === '--version' || command === '-v') {
      io.stdout('0.1.0\n')
      return 0
    }
    const load = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined
    if (!load) throw new CliError(`unknown command '${command}' (see 'clientcert --help')`)
    return await (await load())(rest, io)
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr(`clientcert: ${err.message}\n`)
      return err.exitCode
    }
    io.stderr(`clientcert: ${errorMessage(err)}\n`)
    return 2
  }
}
