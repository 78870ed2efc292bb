import { isIP } from 'node:net'
import { FORWARDED_FORMATS, type ForwardedFormat } from '@clientcert/core'
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
import { probeGrpc } from './probe-grpc.js'
import { loadX509 } from './x509.js'

export const PROBE_HELP = `Usage: clientcert probe <url> [--cert <file> --key <file>] [--ca <file>] [options]

Checks a live endpoint protected by client certificates, sending requests only to <url> (its
origin and path). Each check prints PASS or FAIL, the HTTP status and the problem code.

https:// (the app, or the TLS-terminating proxy in front of it):
  no-certificate        a request without a client certificate is not answered 2xx
  unknown-ca            a certificate from an unknown CA is not answered 2xx
  forwarded:<format>    forwarded-certificate headers (every format clientcert knows, plus the
                        nginx/haproxy verify headers) sent without a client certificate are not
                        answered 2xx (carrying a throwaway certificate, and with --cert also
                        carrying that certificate)
  overwrite:<format>    with --cert: the same headers carrying a throwaway certificate, sent
                        with your certificate, do not change the answer (a proxy route that
                        forgets to overwrite them lets any client choose its identity)
  body-before-auth      a malformed JSON POST without a certificate is not answered 400 by the
                        app (a 400 means the body was parsed before authentication; a proxy's
                        own page, the same as it answers without a body, is not counted)
  client-certificate    with --cert/--key: a request with that certificate is answered 2xx

http:// (an app in forwarded mode, probed directly; needs --forwarded-format,
--proxy-address and --stranger-address, two local addresses, e.g. 127.0.0.2 and 127.0.0.3 on
loopback, the first one allowlisted in the app's trustedProxies):
  no-certificate        a request from the stranger without headers is not answered 2xx
  stranger:<format>     forwarded-certificate headers of every format from the stranger are
                        not answered 2xx (throwaway certificate; with --cert also yours)
  proxy-no-certificate  a request from the proxy without headers is not answered 2xx
  proxy-unknown-ca      the proxy forwarding a certificate from an unknown CA is not answered 2xx
  body-before-auth      as above, from the proxy without a certificate
  client-certificate    with --cert: the proxy forwarding your certificate is answered 2xx

--grpc, with https://host:port/package.Service/Method (a gRPC server over TLS, e.g. with
@clientcert/grpc; one unary call per check, the answer's gRPC status and the stable code from
the trailing metadata):
  no-certificate        a call without a client certificate is not answered OK
  unknown-ca            a call with a certificate from an unknown CA is not answered OK
  metadata:<format>     forwarded-certificate headers sent as call metadata (throwaway
                        certificate, no client certificate) are not answered OK
  client-certificate    with --cert/--key: a call with that certificate is answered OK (or
                        with a status that is not an authentication failure)
  --body is the request message as bytes (default: empty, a valid protobuf of every type).

A refused TLS handshake counts as PASS for the checks that expect a refusal.

Options:
  --cert <file>                client certificate (PEM, may include the chain); needs --key
  --key <file>                 client private key (PEM)
  --ca <file>                  CA certificate(s) to verify the server with (default: system
                               trust); server verification is never disabled
  --method <method>            method of the client-certificate request (default GET)
  --path <path>                path (and query) to probe instead of the URL's
  --body <text>                body of the client-certificate request (JSON gets a JSON type)
  --forwarded-format <format>  http:// only: the app's forwarded format (${FORWARDED_FORMATS.join(', ')})
  --proxy-address <ip>         http:// only: local address the app trusts as its proxy
  --stranger-address <ip>      http:// only: local address the app does not trust
  --grpc                       probe a gRPC method (see above)
  --timeout <ms>               per-request timeout (default 10000)
  --json                       print one JSON object
  -h, --help                   show this help

Exit codes: 0 every check passed; 1 a check failed; 2 usage error, or a check could not run
(server unreachable or its certificate not trusted).
`

export type CheckStatus = 'PASS' | 'FAIL' | 'ERROR'

export interface CheckResult {
  readonly name: string
  readonly status: CheckStatus
  readonly detail: string
  /** HTTP status of the answer, when there was one. */
  readonly httpStatus?: number
  /** `code` of the answer's problem body (with `--grpc`: the `clientcert-error-code` trailer), when it had one. */
  readonly code?: string
}

type Outcome =
  | {
      readonly kind: 'response'
      readonly status: number
      readonly code: string | undefined
      readonly contentType: string
      readonly body: string
    }
  | { readonly kind: 'refused'; readonly detail: string }
  | { readonly kind: 'error'; readonly detail: string }

interface ProbeTarget {
  readonly url: URL
  readonly ca: string | undefined
  readonly timeoutMs: number
}

/** Node's codes for a server certificate the client does not trust: no check can run without --ca. */
const SERVER_TRUST_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])

/** The first server-trust code in an error's cause chain. */
function serverTrustCode(err: unknown): string | undefined {
  const seen = new Set<unknown>()
  let e: unknown = err
  while (typeof e === 'object' && e !== null && !seen.has(e)) {
    seen.add(e)
    const code = String((e as { code?: unknown }).code ?? '')
    if (SERVER_TRUST_CODES.has(code)) return code
    e = (e as { cause?: unknown }).cause
  }
  return undefined
}

/** Thrown when the server's certificate is not trusted: one hint instead of every check failing alike. */
export class UntrustedServerError extends Error {
  override readonly name = 'UntrustedServerError'
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
    client?: { cert: string; key: string } | undefined
    method?: string
    headers?: Record<string, string>
    body?: string | undefined
    localAddress?: string | undefined
  },
): Promise<Outcome> {
  const agent = new Agent({
    connect: {
      ...(target.ca === undefined ? {} : { ca: target.ca }),
      ...(opts.client ?? {}),
      rejectUnauthorized: true,
      timeout: target.timeoutMs,
    },
    // undici takes the source address at the client level (its connector overrides connect's).
    ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }),
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
    const contentType = String(res.headers['content-type'] ?? '')
    const text = (await res.body.text()).slice(0, 65_536)
    return {
      kind: 'response',
      status: res.statusCode,
      code: problemCode(contentType, text),
      contentType,
      body: text,
    }
  } catch (err) {
    const untrusted = serverTrustCode(err)
    if (untrusted !== undefined)
      throw new UntrustedServerError(
        `the server's certificate is not trusted (${untrusted}): pass --ca <file> with the CA that issued it (server verification is never disabled)`,
      )
    if (isRefusal(err)) return { kind: 'refused', detail: describeError(err) }
    return { kind: 'error', detail: describeError(err) }
  } finally {
    await agent.destroy().catch(() => {})
  }
}

/** `code` of an RFC 9457 problem body (or any JSON body with a string `code`). */
function problemCode(contentType: string, body: string): string | undefined {
  if (!/json/i.test(contentType)) return undefined
  try {
    const code = (JSON.parse(body) as { code?: unknown } | null)?.code
    return typeof code === 'string' ? code.slice(0, 80) : undefined
  } catch {
    return undefined
  }
}

const answered = (o: Extract<Outcome, { kind: 'response' }>) =>
  `answered ${o.status}${o.code !== undefined ? ` ${o.code}` : is2xx(o.status) ? '' : ' (no problem code)'}`

const withHttp = (r: CheckResult, o: Outcome): CheckResult =>
  o.kind === 'response'
    ? { ...r, httpStatus: o.status, ...(o.code === undefined ? {} : { code: o.code }) }
    : r

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
  return withHttp(
    is2xx(o.status)
      ? { name, status: 'FAIL', detail: `${answered(o)}: ${why}` }
      : { name, status: 'PASS', detail: answered(o) },
    o,
  )
}

/** PASS when `o` is 2xx; a non-clientcert 4xx (a route that wants another method) is not blamed on the certificate. */
function mustSucceed(name: string, o: Outcome, what: string): CheckResult {
  if (o.kind !== 'response')
    return { name, status: o.kind === 'refused' ? 'FAIL' : 'ERROR', detail: o.detail }
  if (is2xx(o.status)) return withHttp({ name, status: 'PASS', detail: answered(o) }, o)
  if (o.code?.startsWith('ERR_CLIENT_CERT_') || o.status === 401 || o.status === 403 || o.status >= 500)
    return withHttp({ name, status: 'FAIL', detail: `${answered(o)}: ${what} was not accepted` }, o)
  return withHttp(
    {
      name,
      status: 'PASS',
      detail: `${answered(o)}: not a clientcert rejection, so ${what} got past authentication; the route wants another request (--method, --path, --body)`,
    },
    o,
  )
}

/**
 * A 400 to a malformed body without a certificate means the body was parsed before anyone was
 * authenticated, unless it is the same answer as to a bodiless request (a proxy's own page for
 * a missing certificate, e.g. nginx's "No required SSL certificate was sent").
 */
function bodyBeforeAuth(o: Outcome, bodiless: Outcome): CheckResult {
  const name = 'body-before-auth'
  if (o.kind === 'response' && o.status === 400) {
    if (o.code?.startsWith('ERR_CLIENT_CERT_'))
      return withHttp({ name, status: 'PASS', detail: answered(o) }, o)
    if (bodiless.kind === 'response' && bodiless.status === 400 && bodiless.body === o.body)
      return withHttp(
        {
          name,
          status: 'PASS',
          detail: `${answered(o)}, the same page as without a body: refused in front of the app (a proxy's own page), not a parse error`,
        },
        o,
      )
    return withHttp(
      {
        name,
        status: 'FAIL',
        detail: `${answered(o)}: the body was parsed before the client was authenticated`,
      },
      o,
    )
  }
  return mustNotSucceed(name, o)
}

/** The app's forwarded-mode setup, for http:// targets. */
export interface ForwardedProbe {
  readonly format: ForwardedFormat
  /** Local address the app allowlists as its proxy. */
  readonly proxyAddress: string
  /** Local address the app does not trust. */
  readonly strangerAddress: string
}

export interface ProbeOptions {
  readonly url: string
  readonly ca?: string | undefined
  readonly client?: { cert: string; key: string } | undefined
  readonly timeoutMs?: number
  /** Method and body of the client-certificate request. */
  readonly method?: string | undefined
  readonly body?: string | undefined
  /** Required for http:// URLs: the app behind a TLS-terminating proxy, probed directly. */
  readonly forwarded?: ForwardedProbe | undefined
}

const MALFORMED_JSON = '{"clientcert-probe": '

function bodyHeaders(body: string | undefined): Record<string, string> {
  if (body === undefined) return {}
  try {
    JSON.parse(body)
    return { 'content-type': 'application/json' }
  } catch {
    return { 'content-type': 'text/plain' }
  }
}

/** Runs every check against `url`. Throws `UntrustedServerError` when the server is not trusted. */
export async function probe(options: ProbeOptions): Promise<CheckResult[]> {
  const url = new URL(options.url)
  const target: ProbeTarget = { url, ca: options.ca, timeoutMs: options.timeoutMs ?? 10_000 }
  const rogueRoot = await createRootCA({ subject: 'CN=clientcert probe unknown CA' })
  const rogue = await rogueRoot.issueClient({
    subject: 'CN=clientcert-probe',
    san: { uri: ['spiffe://clientcert.invalid/probe'] },
  })
  const own = options.client ? await asIssued(options.client.cert) : undefined
  const mine = { method: options.method ?? 'GET', body: options.body, headers: bodyHeaders(options.body) }
  if (url.protocol === 'http:') {
    if (!options.forwarded)
      throw new Error('an http:// URL needs the forwarded setup (format, proxy and stranger addresses)')
    return probeForwarded(target, options.forwarded, rogue, own, mine)
  }
  const results: CheckResult[] = []

  const bodiless = await send(target, {})
  results.push(mustNotSucceed('no-certificate', bodiless))
  results.push(mustNotSucceed('unknown-ca', await send(target, { client: rogue.tlsOptions() })))

  // With --cert, the headers are also sent carrying that (trusted) certificate: a server that
  // validates forwarded certificates but takes them from any peer would accept it.
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

  results.push(
    bodyBeforeAuth(
      await send(target, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: MALFORMED_JSON,
      }),
      bodiless,
    ),
  )

  if (options.client) {
    const baseline = await send(target, { client: options.client, ...mine })
    results.push(mustSucceed('client-certificate', baseline, 'the given certificate'))
    // A proxy route that sets the forwarded header only where it remembers to (nginx: a
    // location with its own proxy_set_header loses the server's) passes the client's own copy on,
    // and the app then judges the throwaway certificate instead of the one in the handshake.
    // Run even when the baseline failed: a route that forwards no certificate at all may still
    // pass the client's own header on, which is the worse half of the mistake.
    for (const format of FORWARDED_FORMATS) {
      const name = `overwrite:${format}`
      const headers = { ...mine.headers, ...forwardedHeaders(format as ForwardedHeaderFormat, rogue) }
      const o = await send(target, { client: options.client, ...mine, headers })
      results.push(
        o.kind === 'response' &&
          !is2xx(o.status) &&
          CERTIFICATE_CODES.has(o.code ?? '') &&
          !(baseline.kind === 'response' && baseline.code === o.code)
          ? withHttp(
              {
                name,
                status: 'FAIL',
                detail: `${answered(o)}: the forwarded-certificate header sent with your certificate reached the app and was judged instead of it (the proxy does not overwrite it on this route)`,
              },
              o,
            )
          : o.kind === 'response'
            ? withHttp({ name, status: 'PASS', detail: answered(o) }, o)
            : { name, status: o.kind === 'refused' ? 'PASS' : 'ERROR', detail: o.detail },
      )
    }
  }
  return results
}

/** Codes of a certificate the app judged: for the throwaway one, proof that its header got through. */
const CERTIFICATE_CODES = new Set([
  'ERR_CLIENT_CERT_UNTRUSTED',
  'ERR_CLIENT_CERT_MALFORMED',
  'ERR_CLIENT_CERT_IDENTITY',
  'ERR_CLIENT_CERT_NOT_ALLOWED',
])

async function probeForwarded(
  target: ProbeTarget,
  fw: ForwardedProbe,
  rogue: IssuedCertificate,
  own: IssuedCertificate | undefined,
  mine: { method: string; body: string | undefined; headers: Record<string, string> },
): Promise<CheckResult[]> {
  const stranger = fw.strangerAddress
  const proxy = fw.proxyAddress
  const results: CheckResult[] = []
  results.push(mustNotSucceed('no-certificate', await send(target, { localAddress: stranger })))
  for (const format of FORWARDED_FORMATS) {
    const name = `stranger:${format}`
    let result: CheckResult | undefined
    for (const [cert, which] of [[rogue, 'a throwaway'], ...(own ? [[own, 'your'] as const] : [])] as const) {
      const headers = forwardedHeaders(format as ForwardedHeaderFormat, cert)
      const why = `a forwarded-certificate header (${which} certificate) from ${stranger}, not an allowlisted proxy, was believed`
      result = mustNotSucceed(name, await send(target, { headers, localAddress: stranger }), why)
      if (result.status !== 'PASS') break
    }
    results.push(result as CheckResult)
  }
  const bodiless = await send(target, { localAddress: proxy })
  results.push(
    mustNotSucceed('proxy-no-certificate', bodiless, `the proxy (${proxy}) forwarded no certificate`),
  )
  results.push(
    mustNotSucceed(
      'proxy-unknown-ca',
      await send(target, {
        headers: forwardedHeaders(fw.format as ForwardedHeaderFormat, rogue),
        localAddress: proxy,
      }),
      'a certificate from an unknown CA, forwarded by the proxy, was accepted',
    ),
  )
  results.push(
    bodyBeforeAuth(
      await send(target, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: MALFORMED_JSON,
        localAddress: proxy,
      }),
      bodiless,
    ),
  )
  if (own) {
    const headers = { ...mine.headers, ...forwardedHeaders(fw.format as ForwardedHeaderFormat, own) }
    const o = await send(target, { ...mine, headers, localAddress: proxy })
    results.push(mustSucceed('client-certificate', o, `your certificate forwarded by the proxy (${proxy})`))
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
      method: { type: 'string' },
      path: { type: 'string' },
      body: { type: 'string' },
      'forwarded-format': { type: 'string' },
      'proxy-address': { type: 'string' },
      'stranger-address': { type: 'string' },
      grpc: { type: 'boolean' },
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
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new CliError(`probe: the URL must be https:// or http://, got '${url.protocol}'`)
  const path = str(values, 'path')
  if (path !== undefined) {
    if (!path.startsWith('/')) throw new CliError(`probe: --path must start with '/', got '${path}'`)
    url = new URL(path, url.origin)
  }
  const method = str(values, 'method')?.toUpperCase()
  if (method !== undefined && !/^[A-Z]{1,16}$/.test(method))
    throw new CliError(`probe: --method must be an HTTP method, got '${method}'`)
  const grpc = flag(values, 'grpc')
  if (grpc && (url.protocol !== 'https:' || method !== undefined))
    throw new CliError(
      'probe: --grpc needs an https://host:port/package.Service/Method URL (gRPC over TLS) and takes no --method',
    )
  const forwarded = forwardedSetup(values, url)
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
    results = grpc
      ? await probeGrpc(
          { url, ca, client, body: str(values, 'body'), timeoutMs },
          (message) => new UntrustedServerError(message),
        )
      : await probe({
          url: url.href,
          ca,
          client,
          timeoutMs,
          method,
          body: str(values, 'body'),
          forwarded,
        })
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

/** --forwarded-format, --proxy-address, --stranger-address: all three for http://, none for https://. */
function forwardedSetup(values: Record<string, unknown>, url: URL): ForwardedProbe | undefined {
  const format = str(values, 'forwarded-format')
  const proxyAddress = str(values, 'proxy-address')
  const strangerAddress = str(values, 'stranger-address')
  const given = [format, proxyAddress, strangerAddress].filter((v) => v !== undefined).length
  if (url.protocol === 'https:') {
    if (given > 0)
      throw new CliError(
        'probe: --forwarded-format, --proxy-address and --stranger-address are for http:// URLs (an app behind a proxy, probed directly)',
      )
    return undefined
  }
  if (format === undefined || proxyAddress === undefined || strangerAddress === undefined)
    throw new CliError(
      'probe: an http:// URL is an app in forwarded mode: give --forwarded-format, --proxy-address (allowlisted in the app) and --stranger-address (not allowlisted)',
    )
  if (!(FORWARDED_FORMATS as readonly string[]).includes(format))
    throw new CliError(
      `probe: --forwarded-format must be one of ${FORWARDED_FORMATS.join(', ')}, got '${format}'`,
    )
  for (const [flagName, ip] of [
    ['proxy-address', proxyAddress],
    ['stranger-address', strangerAddress],
  ] as const)
    if (isIP(ip) === 0) throw new CliError(`probe: --${flagName} must be an IP address, got '${ip}'`)
  if (proxyAddress === strangerAddress)
    throw new CliError('probe: --proxy-address and --stranger-address must differ')
  return { format: format as ForwardedFormat, proxyAddress, strangerAddress }
}
