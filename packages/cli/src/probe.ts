import { FORWARDED_FORMATS } from '@clientcert/core'
import {
  createRootCA,
  type ForwardedHeaderFormat,
  forwardedHeaders,
  type IssuedCertificate,
} from '@clientcert/testing'
import { Agent, request } from 'undici'
import { flag, intFlag, parse, positionals, str } from './args.js'
import { readText, resolvePath } from './files.js'
import { CliError, errorMessage, type Io, paint } from './output.js'
import { loadX509 } from './x509.js'

export const PROBE_HELP = `Usage: clientcert probe <url> [--cert <file> --key <file>] [--ca <file>] [--timeout <ms>] [--json]

Checks a live HTTPS endpoint protected by client certificates, sending requests only to <url>
(its origin and path). Each check prints PASS or FAIL:

  no-certificate        a request without a client certificate is not answered 2xx
  unknown-ca            a certificate from an unknown CA is not answered 2xx
  forwarded:<format>    forwarded-certificate headers (every format clientcert knows, plus the
                        nginx/haproxy verify headers) sent directly, without a client
                        certificate, are not answered 2xx (carrying a throwaway certificate,
                        and with --cert also carrying that certificate)
  body-before-auth      a malformed JSON POST without a certificate is not answered 400
                        (a 400 means the body was parsed before authentication)
  client-certificate    with --cert/--key: a GET with that certificate is answered 2xx

A refused TLS handshake counts as PASS for the checks that expect a refusal.

Options:
  --cert <file>      client certificate (PEM, may include the chain); needs --key
  --key <file>       client private key (PEM)
  --ca <file>        CA certificate(s) to verify the server with (default: system trust);
                     server verification is never disabled
  --timeout <ms>     per-request timeout (default 10000)
  --json             print one JSON object
  -h, --help         show this help

Exit codes: 0 every check passed; 1 a check failed; 2 usage error, or a check could not run
(server unreachable or its certificate not trusted).
`

export type CheckStatus = 'PASS' | 'FAIL' | 'ERROR'

export interface CheckResult {
  readonly name: string
  readonly status: CheckStatus
  readonly detail: string
}

type Outcome =
  | { readonly kind: 'response'; readonly status: number }
  | { readonly kind: 'refused'; readonly detail: string }
  | { readonly kind: 'error'; readonly detail: string }

interface ProbeTarget {
  readonly url: URL
  readonly ca: string | undefined
  readonly timeoutMs: number
}

/** Errors that mean the server refused or dropped the connection (e.g. a TLS alert for a missing certificate). */
function isRefusal(err: unknown): boolean {
  const seen = new Set<unknown>()
  let e: unknown = err
  while (typeof e === 'object' && e !== null && !seen.has(e)) {
    seen.add(e)
    const { code = '', message = '' } = e as { code?: unknown; message?: unknown }
    const c = String(code)
    const m = String(message)
    if (/^ERR_SSL_.*ALERT/.test(c) || /alert/i.test(m)) return true
    if (c === 'ECONNRESET' || c === 'EPIPE' || c === 'UND_ERR_SOCKET' || c === 'UND_ERR_CLOSED') return true
    if (/other side closed|socket hang up|certificate required/i.test(m)) return true
    e = (e as { cause?: unknown }).cause
  }
  return false
}

function describeError(err: unknown): string {
  const parts: string[] = []
  const seen = new Set<unknown>()
  let e: unknown = err
  while (typeof e === 'object' && e !== null && !seen.has(e)) {
    seen.add(e)
    const { code, message } = e as { code?: unknown; message?: unknown }
    parts.push(code ? `${String(message)} (${String(code)})` : String(message))
    e = (e as { cause?: unknown }).cause
  }
  return parts.length ? parts.join(': ') : String(err)
}

async function send(
  target: ProbeTarget,
  opts: {
    client?: { cert: string; key: string }
    method?: string
    headers?: Record<string, string>
    body?: string
  },
): Promise<Outcome> {
  const agent = new Agent({
    connect: {
      ...(target.ca === undefined ? {} : { ca: target.ca }),
      ...(opts.client ?? {}),
      rejectUnauthorized: true,
      timeout: target.timeoutMs,
    },
    connections: 1,
  })
  try {
    const res = await request(target.url, {
      dispatcher: agent,
      method: (opts.method ?? 'GET') as 'GET',
      headers: opts.headers ?? {},
      body: opts.body ?? null,
      signal: AbortSignal.timeout(target.timeoutMs),
    })
    await res.body.dump()
    return { kind: 'response', status: res.statusCode }
  } catch (err) {
    if (isRefusal(err)) return { kind: 'refused', detail: describeError(err) }
    return { kind: 'error', detail: describeError(err) }
  } finally {
    await agent.destroy().catch(() => {})
  }
}

/** The fields `forwardedHeaders` reads, from a PEM certificate file (leaf first, then its chain). */
async function asIssued(pem: string): Promise<IssuedCertificate> {
  const x509 = await loadX509()
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  if (blocks.length === 0) throw new CliError('probe: --cert contains no PEM certificate')
  const certs = blocks.map((b) => {
    const certificate = new x509.X509Certificate(b)
    const der = new Uint8Array(certificate.rawData)
    return { certificate, der, pem: `${certificate.toString('pem')}\n` }
  })
  const [leaf, ...chain] = certs
  return { ...leaf, chain } as unknown as IssuedCertificate
}

const is2xx = (s: number) => s >= 200 && s < 300

/** PASS unless the server answered 2xx. */
function mustNotSucceed(
  name: string,
  o: Outcome,
  why = 'accepted without a valid client certificate',
): CheckResult {
  if (o.kind === 'refused') return { name, status: 'PASS', detail: 'connection refused during TLS' }
  if (o.kind === 'error') return { name, status: 'ERROR', detail: o.detail }
  return is2xx(o.status)
    ? { name, status: 'FAIL', detail: `answered ${o.status}: ${why}` }
    : { name, status: 'PASS', detail: `answered ${o.status}` }
}

export interface ProbeOptions {
  readonly url: string
  readonly ca?: string | undefined
  readonly client?: { cert: string; key: string } | undefined
  readonly timeoutMs?: number
}

/** Runs every check against `url`. */
export async function probe(options: ProbeOptions): Promise<CheckResult[]> {
  const url = new URL(options.url)
  const target: ProbeTarget = { url, ca: options.ca, timeoutMs: options.timeoutMs ?? 10_000 }
  const results: CheckResult[] = []

  results.push(mustNotSucceed('no-certificate', await send(target, {})))

  const rogueRoot = await createRootCA({ subject: 'CN=clientcert probe unknown CA' })
  const rogue = await rogueRoot.issueClient({
    subject: 'CN=clientcert-probe',
    san: { uri: ['spiffe://clientcert.invalid/probe'] },
  })
  results.push(mustNotSucceed('unknown-ca', await send(target, { client: rogue.tlsOptions() })))

  // With --cert, the headers are also sent carrying that (trusted) certificate: a server that
  // validates forwarded certificates but takes them from any peer would accept it.
  const own = options.client ? await asIssued(options.client.cert) : undefined
  for (const format of FORWARDED_FORMATS) {
    const name = `forwarded:${format}`
    let result: CheckResult | undefined
    for (const [cert, which] of [[rogue, 'a throwaway'], ...(own ? [[own, 'your'] as const] : [])] as const) {
      const headers = forwardedHeaders(format as ForwardedHeaderFormat, cert)
      const why = `a forwarded-certificate header (${which} certificate) sent directly by the client was believed`
      result = mustNotSucceed(name, await send(target, { headers }), why)
      if (result.status !== 'PASS') break
    }
    results.push(result as CheckResult)
  }

  const body = await send(target, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"clientcert-probe": ',
  })
  if (body.kind === 'response' && body.status === 400)
    results.push({
      name: 'body-before-auth',
      status: 'FAIL',
      detail: 'answered 400: the body was parsed before the client was authenticated',
    })
  else results.push(mustNotSucceed('body-before-auth', body))

  if (options.client) {
    const o = await send(target, { client: options.client })
    const name = 'client-certificate'
    results.push(
      o.kind === 'response'
        ? is2xx(o.status)
          ? { name, status: 'PASS', detail: `answered ${o.status}` }
          : { name, status: 'FAIL', detail: `answered ${o.status}: the given certificate was not accepted` }
        : { name, status: o.kind === 'refused' ? 'FAIL' : 'ERROR', detail: o.detail },
    )
  }
  return results
}

export async function probeCommand(args: readonly string[], io: Io): Promise<number> {
  const cmd = 'probe'
  const { values, positionals: pos } = parse(
    args,
    {
      cert: { type: 'string' },
      key: { type: 'string' },
      ca: { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
    },
    cmd,
  )
  if (flag(values, 'help')) {
    io.stdout(PROBE_HELP)
    return 0
  }
  const [rawUrl] = positionals(pos, ['url'], cmd)
  let url: URL
  try {
    url = new URL(rawUrl as string)
  } catch {
    throw new CliError(`probe: '${rawUrl}' is not a URL`)
  }
  if (url.protocol !== 'https:') throw new CliError(`probe: the URL must be https://, got '${url.protocol}'`)
  const certFile = str(values, 'cert')
  const keyFile = str(values, 'key')
  if ((certFile === undefined) !== (keyFile === undefined))
    throw new CliError('probe: --cert and --key go together')
  const client =
    certFile && keyFile
      ? {
          cert: readText(resolvePath(io.cwd, certFile), 'certificate', cmd),
          key: readText(resolvePath(io.cwd, keyFile), 'key', cmd),
        }
      : undefined
  const caFile = str(values, 'ca')
  const ca = caFile ? readText(resolvePath(io.cwd, caFile), 'CA file', cmd) : undefined
  const timeoutMs = intFlag(values, 'timeout', cmd, 10_000, 600_000)
  let results: CheckResult[]
  try {
    results = await probe({ url: url.href, ca, client, timeoutMs })
  } catch (err) {
    throw new CliError(`probe: ${errorMessage(err)}`)
  }
  const failed = results.filter((r) => r.status === 'FAIL').length
  const errors = results.filter((r) => r.status === 'ERROR').length
  const exitCode = failed > 0 ? 1 : errors > 0 ? 2 : 0
  if (flag(values, 'json')) {
    io.stdout(`${JSON.stringify({ url: url.href, ok: exitCode === 0, checks: results })}\n`)
  } else {
    io.stdout(`Probing ${url.href}\n`)
    const width = Math.max(...results.map((r) => r.name.length))
    for (const r of results) {
      const label = paint(
        io,
        r.status === 'PASS' ? 'green' : r.status === 'FAIL' ? 'red' : 'yellow',
        r.status.padEnd(5),
      )
      io.stdout(`${label} ${r.name.padEnd(width)}  ${r.detail}\n`)
    }
    const passed = results.length - failed - errors
    io.stdout(`${passed} passed, ${failed} failed${errors ? `, ${errors} could not run` : ''}\n`)
  }
  return exitCode
}
