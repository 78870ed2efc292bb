import { createHash, X509Certificate } from 'node:crypto'
import { dirname, extname, isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import {
  type ClientCertError,
  type ClientCertOptions,
  createClientCertAuthenticator,
  parseSpiffeId,
} from '@clientcert/core'
import { flag, parse, positionals, str } from './args.js'
import { readCertificates, readText, resolvePath } from './files.js'
import { CliError, errorMessage, type Io, paint, table } from './output.js'
import { loadX509 } from './x509.js'

export const INSPECT_HELP = `Usage: clientcert inspect <cert.pem> [--chain <file>] [--config <file>] [--json]

Prints what a certificate says (subject, SANs, SPIFFE ID, serial, validity, fingerprints, key,
EKU, basicConstraints, keyUsage). With --config, also the verdict @clientcert/core reaches for
this certificate under that configuration, through the same authenticate() call the middleware
makes. The config must give app-level trust (trust.anchors or trust.pins). Without --config,
the verdict of the default options (identity 'fingerprint', allow { authenticated: true }),
trusting the last certificate of the chain (or pinning a self-signed certificate); the output
says so, and it does not change the exit code.

Options:
  --chain <file>     issuer certificates to show (PEM); extra certificates in <cert.pem> count too.
                     The verdict never uses them: the core builds paths from configured CAs only.
  --config <file>    ClientCertOptions as JSON (.json) or an ES module whose default export is
                     the options (.mjs/.js). In JSON, a trust.anchors/trust.intermediates entry
                     that is not PEM is read as a file path relative to the config file.
  --json             print one JSON object
  -h, --help         show this help

Exit codes: 0 details printed (and the verdict, if any, is ok); 1 the core rejects the
certificate; 2 usage, file or configuration error.
`

export interface CertificateDetails {
  subject: string
  issuer: string
  serialNumber: string
  notBefore: string
  notAfter: string
  expired: boolean
  notYetValid: boolean
  /** Whole days until notAfter, rounded down; negative once expired. */
  daysLeft: number
  fingerprint256: string
  x5tS256: string
  spiffeId: string | null
  san: { dns: string[]; uri: string[]; email: string[]; ip: string[] }
  key: string
  eku: string[] | null
  basicConstraints: { ca: boolean; pathLen: number | null; critical: boolean } | null
  keyUsage: string[] | null
  selfSigned: boolean
}

export interface Verdict {
  ok: boolean
  code: string | null
  status: number | null
  reason: string | null
  principal: { id: string; kind: string } | null
  note?: string
}

const EKU_NAMES: Readonly<Record<string, string>> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'ocspSigning',
  '2.5.29.37.0': 'anyExtendedKeyUsage',
}

const KEY_USAGE_BITS: ReadonlyArray<readonly [number, string]> = [
  [1, 'digitalSignature'],
  [2, 'nonRepudiation'],
  [4, 'keyEncipherment'],
  [8, 'dataEncipherment'],
  [16, 'keyAgreement'],
  [32, 'keyCertSign'],
  [64, 'cRLSign'],
  [128, 'encipherOnly'],
  [256, 'decipherOnly'],
]

function keyDescription(cert: X509Certificate): string {
  const k = cert.publicKey
  const d = k.asymmetricKeyDetails ?? {}
  switch (k.asymmetricKeyType) {
    case 'ec':
      return `EC ${d.namedCurve === 'prime256v1' ? 'P-256' : d.namedCurve === 'secp384r1' ? 'P-384' : (d.namedCurve ?? '?')}`
    case 'rsa':
      return `RSA ${d.modulusLength ?? '?'}`
    default:
      return k.asymmetricKeyType ? k.asymmetricKeyType.toUpperCase() : 'unknown'
  }
}

function daysLeftText(days: number): string {
  if (days < 0) return `expired ${-days} day${days === -1 ? '' : 's'} ago`
  return `${days} day${days === 1 ? '' : 's'} left`
}

export async function describeCertificate(
  cert: X509Certificate,
  now = Date.now(),
): Promise<CertificateDetails> {
  const x509 = await loadX509()
  const p = new x509.X509Certificate(cert.raw)
  const sanExt = p.getExtension(x509.SubjectAlternativeNameExtension)
  const items = sanExt?.names.items ?? []
  const san = {
    dns: items.filter((n) => n.type === 'dns').map((n) => n.value),
    uri: items.filter((n) => n.type === 'url').map((n) => n.value),
    email: items.filter((n) => n.type === 'email').map((n) => n.value),
    ip: items.filter((n) => n.type === 'ip').map((n) => n.value),
  }
  const spiffe = san.uri.filter((u) => u.toLowerCase().startsWith('spiffe://'))
  const parsed = spiffe.length === 1 && spiffe[0] !== undefined ? parseSpiffeId(spiffe[0]) : undefined
  const spiffeId = parsed !== undefined && typeof parsed !== 'string' ? (spiffe[0] as string) : null
  const ekuExt = p.getExtension(x509.ExtendedKeyUsageExtension)
  const bc = p.getExtension(x509.BasicConstraintsExtension)
  const ku = p.getExtension(x509.KeyUsagesExtension)
  const der = cert.raw
  const notBefore = p.notBefore.getTime()
  const notAfter = p.notAfter.getTime()
  return {
    subject: p.subject,
    issuer: p.issuer,
    serialNumber: p.serialNumber.toLowerCase(),
    notBefore: p.notBefore.toISOString(),
    notAfter: p.notAfter.toISOString(),
    expired: now > notAfter,
    notYetValid: now < notBefore,
    daysLeft: Math.floor((notAfter - now) / 86_400_000),
    fingerprint256: createHash('sha256').update(der).digest('hex'),
    x5tS256: createHash('sha256').update(der).digest('base64url'),
    spiffeId,
    san,
    key: keyDescription(cert),
    eku: ekuExt ? ekuExt.usages.map((u) => EKU_NAMES[String(u)] ?? String(u)) : null,
    basicConstraints: bc ? { ca: bc.ca, pathLen: bc.pathLength ?? null, critical: bc.critical } : null,
    keyUsage: ku ? KEY_USAGE_BITS.filter(([bit]) => (ku.usages & bit) !== 0).map(([, n]) => n) : null,
    selfSigned: p.subject === p.issuer && cert.checkIssued(cert),
  }
}

/** Reads a config file: JSON, or an ES module whose default export is the options. */
async function loadConfig(path: string): Promise<Record<string, unknown>> {
  const ext = extname(path).toLowerCase()
  let value: unknown
  if (ext === '.json') {
    const text = readText(path, 'config', 'inspect')
    try {
      value = JSON.parse(text)
    } catch (err) {
      throw new CliError(`inspect: config ${path} is not valid JSON: ${errorMessage(err)}`)
    }
    value = resolveFileRefs(value, dirname(path))
  } else if (ext === '.mjs' || ext === '.js') {
    try {
      const mod = (await import(pathToFileURL(path).href)) as { default?: unknown }
      value = mod.default
    } catch (err) {
      throw new CliError(`inspect: cannot load config module ${path}: ${errorMessage(err)}`)
    }
  } else {
    throw new CliError(`inspect: --config must be a .json, .mjs or .js file, got '${path}'`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new CliError(`inspect: config ${path} must be (or default-export) an options object`)
  return value as Record<string, unknown>
}

/** JSON configs: anchors/intermediates given as file paths are read (relative to the config file). */
function resolveFileRefs(value: unknown, base: string): unknown {
  if (typeof value !== 'object' || value === null) return value
  const o = value as Record<string, unknown>
  const trust = o.trust
  if (typeof trust !== 'object' || trust === null) return value
  const t = { ...(trust as Record<string, unknown>) }
  for (const key of ['anchors', 'intermediates']) {
    const v = t[key]
    if (v === undefined) continue
    const items = Array.isArray(v) ? v : [v]
    t[key] = items.flatMap((item) => {
      if (typeof item !== 'string' || item.includes('-----BEGIN')) return [item]
      const file = isAbsolute(item) ? item : resolve(base, item)
      return readCertificates(file, `trust.${key}`, 'inspect').map((c) => c.toString())
    })
  }
  return { ...o, trust: t }
}

function hasAppTrust(options: Record<string, unknown>): boolean {
  const trust = options.trust as { anchors?: unknown; pins?: unknown } | undefined
  return (
    typeof trust === 'object' && trust !== null && (trust.anchors !== undefined || trust.pins !== undefined)
  )
}

/**
 * The verdict of `@clientcert/core` for `cert` under `config`: the authenticator the adapters
 * build, `authenticate()` on a request whose socket is a TLS socket presenting `cert`.
 */
export async function verdictFor(cert: X509Certificate, config: Record<string, unknown>): Promise<Verdict> {
  if (!hasAppTrust(config))
    throw new CliError(
      "inspect: the config has no trust.anchors or trust.pins, so the verdict would depend on the TLS server's own verification; add app-level trust to get a verdict",
    )
  let options: Record<string, unknown> = config
  let note: string | undefined
  const source = config.source as { forwarded?: unknown; tls?: unknown } | undefined
  if (typeof source === 'object' && source !== null && source.tls !== true) {
    // A forwarded-only source never reads the socket; judge the certificate as a direct TLS client.
    options = { ...config, source: 'tls' }
    note = 'the config reads a forwarded header; the certificate was judged as if presented over TLS'
  }
  let rejected: ClientCertError | undefined
  const userRejected = options.onRejected as ClientCertOptions['onRejected']
  const userAuthenticated = options.onAuthenticated as ClientCertOptions['onAuthenticated']
  let authenticator: ReturnType<typeof createClientCertAuthenticator>
  try {
    authenticator = createClientCertAuthenticator({
      ...(options as unknown as ClientCertOptions),
      onRejected: (error, context) => {
        rejected = error
        if (typeof userRejected === 'function') userRejected(error, context)
      },
      onAuthenticated: (principal, context) => {
        if (typeof userAuthenticated === 'function') userAuthenticated(principal, context)
      },
    })
  } catch (err) {
    throw new CliError(`inspect: invalid config: ${errorMessage(err)}`)
  }
  const socket = {
    encrypted: true,
    authorized: true,
    authorizationError: null,
    getPeerX509Certificate: () => new X509Certificate(cert.raw),
  }
  const result = await authenticator.authenticate({ socket, headers: {}, rawHeaders: [] })
  const base = result.ok
    ? {
        ok: true,
        code: null,
        status: null,
        reason: null,
        principal: { id: result.principal.id, kind: result.principal.kind },
      }
    : {
        ok: false,
        code: result.error.code,
        status: result.error.status,
        reason: (rejected ?? result.error).reason,
        principal: null,
      }
  return note === undefined ? base : { ...base, note }
}

/**
 * Without --config: the verdict of the default options (identity 'fingerprint', allow every
 * authenticated client), trusting the top of the chain given with the certificate (or, for a
 * self-signed certificate, pinning it). Without a chain there is nothing to trust, so no verdict
 * and a hint instead: guessing an anchor would report a verdict nobody configured.
 */
async function defaultVerdict(leaf: X509Certificate, chain: readonly X509Certificate[]): Promise<Verdict> {
  const top = chain.at(-1)
  const selfSigned = leaf.checkIssued(leaf) && leaf.verify(leaf.publicKey)
  if (top === undefined && !selfSigned)
    return {
      ok: false,
      code: null,
      status: null,
      reason: null,
      principal: null,
      note: 'no verdict: pass --config <file> with your clientcert options, or --chain <issuer.pem> to judge by the default options',
    }
  const trust =
    top === undefined
      ? { pins: [createHash('sha256').update(leaf.raw).digest('hex')] }
      : { anchors: top.toString(), intermediates: chain.slice(0, -1).map((c) => c.toString()) }
  const verdict = await verdictFor(leaf, { trust, allow: { authenticated: true } })
  const anchor =
    top === undefined ? 'the certificate itself pinned' : `anchor ${top.subject.replace(/\n/g, ', ')}`
  return {
    ...verdict,
    note: `no --config: judged by the default options (identity 'fingerprint', allow { authenticated: true }, ${anchor}); pass --config for your own`,
  }
}

export async function inspectCommand(args: readonly string[], io: Io): Promise<number> {
  const cmd = 'inspect'
  const { values, positionals: pos } = parse(
    args,
    { chain: { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean' } },
    cmd,
  )
  if (flag(values, 'help')) {
    io.stdout(INSPECT_HELP)
    return 0
  }
  const [file] = positionals(pos, ['cert.pem'], cmd)
  const certs = readCertificates(resolvePath(io.cwd, file as string), 'certificate', cmd)
  const [leaf, ...rest] = certs
  if (!leaf) throw new CliError(`inspect: no certificate in ${file}`)
  const chainFile = str(values, 'chain')
  const chain = [
    ...rest,
    ...(chainFile ? readCertificates(resolvePath(io.cwd, chainFile), 'chain', cmd) : []),
  ]
  const configFile = str(values, 'config')
  const config = configFile ? await loadConfig(resolvePath(io.cwd, configFile)) : undefined
  const details = await describeCertificate(leaf)
  const chainDetails = await Promise.all(chain.map((c) => describeCertificate(c)))
  const verdict = config ? await verdictFor(leaf, config) : await defaultVerdict(leaf, chain)

  if (flag(values, 'json')) {
    io.stdout(
      `${JSON.stringify({
        certificate: details,
        chain: chainDetails.map((c) => ({
          subject: c.subject,
          issuer: c.issuer,
          notAfter: c.notAfter,
          daysLeft: c.daysLeft,
          fingerprint256: c.fingerprint256,
        })),
        ...(verdict ? { verdict } : {}),
      })}\n`,
    )
  } else {
    const d = details
    const none = paint(io, 'dim', '(none)')
    const sans = [
      ...d.san.dns.map((v) => `DNS:${v}`),
      ...d.san.ip.map((v) => `IP:${v}`),
      ...d.san.email.map((v) => `email:${v}`),
      ...d.san.uri.map((v) => `URI:${v}`),
    ]
    const validity = d.expired
      ? paint(io, 'red', 'EXPIRED')
      : d.notYetValid
        ? paint(io, 'red', 'NOT YET VALID')
        : paint(io, d.daysLeft < 30 ? 'yellow' : 'green', `valid now, ${daysLeftText(d.daysLeft)}`)
    io.stdout(
      table([
        ['subject', d.subject || none],
        ['issuer', d.issuer || none],
        ['SAN', sans.length ? sans.join(', ') : none],
        ['SPIFFE ID', d.spiffeId ?? none],
        ['serial', d.serialNumber],
        ['not before', d.notBefore],
        ['not after', `${d.notAfter} (${validity})`],
        ['fingerprint256', d.fingerprint256],
        ['x5t#S256', d.x5tS256],
        ['key', d.key],
        ['EKU', d.eku ? d.eku.join(', ') || '(empty)' : none],
        [
          'basicConstraints',
          d.basicConstraints
            ? `CA:${d.basicConstraints.ca ? 'TRUE' : 'FALSE'}${d.basicConstraints.pathLen === null ? '' : `, pathLen:${d.basicConstraints.pathLen}`}${d.basicConstraints.critical ? ' (critical)' : ''}`
            : none,
        ],
        ['keyUsage', d.keyUsage ? d.keyUsage.join(', ') : none],
        ...chainDetails.map(
          (c, i) =>
            [
              `chain[${i}]`,
              `${c.subject} (issuer ${c.issuer}, until ${c.notAfter}, ${daysLeftText(c.daysLeft)})`,
            ] as const,
        ),
      ]),
    )
    if (verdict && verdict.code === null && !verdict.ok) {
      io.stdout(`note: ${verdict.note}\n`)
    } else if (verdict) {
      io.stdout(
        verdict.ok
          ? `verdict: ${paint(io, 'green', 'ok')} — principal ${verdict.principal?.id} (${verdict.principal?.kind})\n`
          : `verdict: ${paint(io, 'red', 'rejected')} ${verdict.code} (${verdict.status}) — ${verdict.reason}\n`,
      )
      if (verdict.note) io.stdout(`note: ${verdict.note}\n`)
    }
  }
  // Only a configured verdict decides the exit code: the defaults are a hint, not your policy.
  return config && verdict && !verdict.ok ? 1 : 0
}
