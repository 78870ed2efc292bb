import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import * as http from 'node:http'
import { type AddressInfo, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import type { ClientCertError, ClientPrincipal, ForwardedFormat, ForwardedOptions } from '@clientcert/core'
import { clientCert } from '@clientcert/express'
import {
  type ClientResponse,
  createRootCA,
  createTestPki,
  type IssuedCertificate,
  type TestPki,
} from '@clientcert/testing'
import express, { type RequestHandler } from 'express'

export { freePort } from '../support/ports.js'

/**
 * Harness of the real-proxy suites: finds and starts nginx, HAProxy and Caddy (Debian packages)
 * in the foreground on ephemeral loopback ports, with configuration and certificates generated
 * into a temporary directory at test time, in front of an Express app using `clientCert()`.
 */

/** Where the proxy connects from (nginx `proxy_bind`, HAProxy `source`). */
export const PROXY_SOURCE = '127.0.0.2'
/** A peer that is not an allowlisted proxy. */
export const STRANGER = '127.0.0.3'

const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin']

/**
 * Absolute path of a proxy binary. A missing binary fails the suite (never a skip): CI installs
 * the Debian packages in .ci/run. nginx and haproxy live in /usr/sbin, often not on a user's PATH.
 */
export function findBinary(name: string, debPackage: string): string {
  const dirs = [...new Set([...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SBIN])]
  for (const dir of dirs) {
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // keep looking
    }
  }
  throw new Error(
    `${name} is not installed: the real-proxy tests need the Debian package "${debPackage}" ` +
      `(apt-get install -y ${debPackage}; .ci/run installs it). Searched: ${dirs.join(', ')}`,
  )
}

/** First line of the proxy's version output (nginx prints it on stderr). */
export function versionOf(binary: string, args: string[]): string {
  const r = spawnSync(binary, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 })
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim()
  return text.split('\n')[0] ?? (r.error ? String(r.error) : '')
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/** A proxy process started by a test. */
export interface RunningProxy {
  readonly name: string
  /** Everything it wrote to stdout/stderr (for failure messages). */
  output(): string
  stop(): Promise<void>
}

/**
 * Starts `binary args` in the foreground and waits until every port accepts TCP connections.
 * Fails with the proxy's own output when it exits early or does not listen within `timeoutMs`.
 */
export async function startProxy(
  name: string,
  binary: string,
  args: string[],
  ports: number[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<RunningProxy> {
  const child: ChildProcess = spawn(binary, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let log = ''
  child.stdout?.on('data', (b: Buffer) => {
    log += b.toString('utf8')
  })
  child.stderr?.on('data', (b: Buffer) => {
    log += b.toString('utf8')
  })
  let exited: string | undefined
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = `exited with ${signal ?? code}`
      resolve()
    })
    child.once('error', (err) => {
      exited = `failed to start: ${err.message}`
      resolve()
    })
  })
  const proxy: RunningProxy = {
    name,
    output: () => log,
    async stop() {
      if (exited !== undefined) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
      await exit
      clearTimeout(timer)
    },
  }
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000)
  const pending = new Set(ports)
  while (pending.size > 0) {
    if (exited !== undefined) throw new Error(`${name} ${exited} before listening:\n${log}`)
    if (Date.now() > deadline) {
      await proxy.stop()
      throw new Error(`${name} did not listen on ${[...pending].join(', ')} in time:\n${log}`)
    }
    for (const port of [...pending]) if (await canConnect(port)) pending.delete(port)
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 50))
  }
  return proxy
}

/** Certificates of one suite, generated at test time and written into its temporary directory. */
export interface Material {
  readonly pki: TestPki
  /** Valid clients issued by the intermediate. */
  readonly alice: IssuedCertificate
  readonly bob: IssuedCertificate
  /** Issued by an intermediate under a root nobody trusts. */
  readonly unknownCa: IssuedCertificate
  /** Issued by the trusted intermediate, validity ended an hour ago. */
  readonly expired: IssuedCertificate
  readonly dir: string
  readonly files: {
    /** Server certificate chain (pki.server). */
    readonly serverCert: string
    readonly serverKey: string
    /** Certificate chain + key in one file (HAProxy `crt`). */
    readonly serverBundle: string
    /** Client root + intermediate: what the proxy verifies client certificates against. */
    readonly clientCas: string
    readonly clientRoot: string
    readonly clientIntermediate: string
  }
  /** Removes the temporary directory. */
  cleanup(): void
}

export async function createMaterial(prefix: string): Promise<Material> {
  const pki = await createTestPki()
  const now = Date.now()
  const unknownRoot = await createRootCA({ subject: 'CN=Unknown Root CA' })
  const unknownIntermediate = await unknownRoot.issueIntermediate({ subject: 'CN=Unknown Intermediate CA' })
  const [alice, bob, unknownCa, expired] = await Promise.all([
    pki.issueClient({ subject: 'CN=alice, O=acme' }),
    pki.issueClient({ subject: 'CN=bob' }),
    unknownIntermediate.issueClient({ subject: 'CN=alice' }),
    pki.issueClient({
      subject: 'CN=alice',
      notBefore: new Date(now - 2 * 86_400_000),
      notAfter: new Date(now - 3_600_000),
    }),
  ])
  const dir = mkdtempSync(join(tmpdir(), `cc-${prefix}-`))
  const write = (name: string, text: string) => {
    const path = join(dir, name)
    writeFileSync(path, text, { mode: 0o600 })
    return path
  }
  const files = {
    serverCert: write('server.crt', pki.server.chainPem),
    serverKey: write('server.key', pki.server.keyPem),
    serverBundle: write('server-bundle.pem', `${pki.server.chainPem}${pki.server.keyPem}`),
    clientCas: write('client-cas.pem', `${pki.root.pem}${pki.intermediate.pem}`),
    clientRoot: write('client-root.pem', pki.root.pem),
    clientIntermediate: write('client-intermediate.pem', pki.intermediate.pem),
  }
  return {
    pki,
    alice,
    bob,
    unknownCa,
    expired,
    dir,
    files,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  }
}

/** What the app saw: proves that nothing after `clientCert()` ran for a rejected request. */
export interface Probes {
  handled: number
  parsed: number
  rejected: ClientCertError[]
  authenticated: ClientPrincipal[]
}

export interface RunningApp {
  readonly url: string
  readonly port: number
  readonly probes: Probes
  close(): Promise<void>
}

/**
 * The Express app behind the proxy: `clientCert()` in forwarded mode, then `GET /whoami` and
 * `POST /echo` with `express.json()` mounted after authentication (instrumented).
 */
export async function startApp(
  format: ForwardedFormat,
  trustedProxy: string,
  m: Material,
  forwarded: Partial<ForwardedOptions> = {},
): Promise<RunningApp> {
  const probes: Probes = { handled: 0, parsed: 0, rejected: [], authenticated: [] }
  const app = express()
  app.use(
    clientCert({
      source: { forwarded: { format, trustedProxies: [trustedProxy], ...forwarded } },
      trust: { anchors: m.pki.root.pem, intermediates: m.pki.intermediate.pem },
      identity: 'cn',
      allow: { authenticated: true },
      onRejected: (e) => probes.rejected.push(e),
      onAuthenticated: (p) => probes.authenticated.push(p),
      logger: () => {},
    }),
  )
  const json = express.json()
  const parser: RequestHandler = (req, res, next) => {
    probes.parsed++
    json(req, res, next)
  }
  app.get('/whoami', (req, res) => {
    probes.handled++
    const p = req.clientCert
    res.json({ id: p?.id ?? null, fingerprint256: p?.fingerprint256 ?? null, source: p?.source ?? null })
  })
  app.post('/echo', parser, (req, res) => {
    probes.handled++
    res.json({ id: req.clientCert?.id ?? null, body: req.body as unknown })
  })
  const server = http.createServer(app)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    probes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** A request's result: a response, or the connection/handshake error the client saw. */
export type Outcome =
  | { readonly kind: 'response'; readonly status: number; readonly body: string }
  | { readonly kind: 'error'; readonly error: string }

export async function attempt(request: Promise<ClientResponse>): Promise<Outcome> {
  try {
    const res = await request
    return { kind: 'response', status: res.status, body: res.body }
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    return { kind: 'error', error: `${e.code ?? ''} ${e.message}`.trim() }
  }
}

export function describeOutcome(o: Outcome): string {
  return o.kind === 'error' ? `connection error: ${o.error}` : `HTTP ${o.status}: ${o.body.slice(0, 200)}`
}

/** The status and body code of a problem response from clientcert. */
export function problemCode(o: Outcome): string | undefined {
  if (o.kind !== 'response') return undefined
  try {
    return (JSON.parse(o.body) as { code?: string }).code
  } catch {
    return undefined
  }
}
