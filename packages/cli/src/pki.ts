import { createPrivateKey, type webcrypto } from 'node:crypto'
import { isIP } from 'node:net'
import { join } from 'node:path'
import { parseSpiffeId } from '@clientcert/core'
import { createRootCA } from '@clientcert/testing'
import { flag, intFlag, list, parse, positionals, str } from './args.js'
import { readCertificates, readText, resolvePath, writeAll } from './files.js'
import { CliError, errorMessage, type Io, table } from './output.js'
import { importSigningKey, loadX509 } from './x509.js'

/** File names inside a PKI directory. */
export const PKI_FILES = {
  root: 'root.pem',
  rootKey: 'root-key.pem',
  intermediate: 'intermediate.pem',
  intermediateKey: 'intermediate-key.pem',
} as const

export const PKI_INIT_HELP = `Usage: clientcert pki init <dir> [--force]

Creates a development PKI in <dir>: a root CA and an intermediate CA that signs
certificates issued with 'clientcert issue'. For development and tests only.

Writes:
  <dir>/root.pem               root CA certificate (give it to servers as the client CA)
  <dir>/root-key.pem           root CA private key (mode 0600)
  <dir>/intermediate.pem       intermediate CA certificate
  <dir>/intermediate-key.pem   intermediate CA private key (mode 0600)

Options:
  --force        overwrite existing files
  -h, --help     show this help
`

export const PKI_HELP = `Usage: clientcert pki <command>

Commands:
  init <dir>     create a development root CA + intermediate CA
`

export async function pkiCommand(args: readonly string[], io: Io): Promise<number> {
  const [sub, ...rest] = args
  if (sub === undefined) {
    io.stderr(PKI_HELP)
    return 2
  }
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    io.stdout(PKI_HELP)
    return 0
  }
  if (sub !== 'init') throw new CliError(`pki: unknown command '${sub}' (see 'clientcert pki --help')`)
  return pkiInit(rest, io)
}

async function pkiInit(args: readonly string[], io: Io): Promise<number> {
  const cmd = 'pki init'
  const { values, positionals: pos } = parse(args, { force: { type: 'boolean' } }, cmd)
  if (flag(values, 'help')) {
    io.stdout(PKI_INIT_HELP)
    return 0
  }
  const [dirArg] = positionals(pos, ['dir'], cmd)
  const dir = resolvePath(io.cwd, dirArg as string)
  const root = await createRootCA({
    subject: 'CN=clientcert Development Root CA, O=clientcert development',
    validity: { days: 3650 },
  })
  const intermediate = await root.issueIntermediate({
    subject: 'CN=clientcert Development Intermediate CA, O=clientcert development',
    basicConstraints: { ca: true, pathLen: 0 },
    validity: { days: 730 },
  })
  writeAll(
    [
      { path: join(dir, PKI_FILES.root), data: root.pem },
      { path: join(dir, PKI_FILES.rootKey), data: root.keyPem, secret: true },
      { path: join(dir, PKI_FILES.intermediate), data: intermediate.pem },
      { path: join(dir, PKI_FILES.intermediateKey), data: intermediate.keyPem, secret: true },
    ],
    flag(values, 'force'),
    cmd,
  )
  io.stdout(
    `Created a development PKI in ${dir}\n${table([
      ['root CA', `${join(dir, PKI_FILES.root)} (fingerprint256 ${root.fingerprint256})`],
      ['intermediate CA', join(dir, PKI_FILES.intermediate)],
      ['keys', 'root-key.pem, intermediate-key.pem (mode 0600)'],
    ])}Next:\n  the server's certificate: npx @clientcert/cli issue server --pki ${dirArg} --out certs/server\n  a client's certificate:   npx @clientcert/cli issue client --pki ${dirArg} --out certs/alice --cn alice\n`,
  )
  return 0
}

export const ISSUE_HELP = `Usage: clientcert issue client|server --pki <dir> --out <prefix> [options]

Issues a certificate signed by the intermediate CA of a PKI made with 'clientcert pki init'.
Writes <prefix>.pem (certificate + intermediate) and <prefix>-key.pem (P-256 key, mode 0600).

Options:
  --pki <dir>        PKI directory (from 'clientcert pki init')         (required)
  --out <prefix>     output path prefix                                   (required)
  --cn <name>        subject common name (server default: localhost)
  --o <org>          subject organization (repeatable)
  --spiffe <uri>     SPIFFE ID as a URI SAN, e.g. spiffe://example.org/ns/prod/sa/api
  --dns <name>       DNS SAN (repeatable; server default: localhost)
  --email <addr>     email SAN (repeatable)
  --ip <addr>        IP SAN (repeatable; server default: 127.0.0.1 and ::1)
  --eku <usage>      clientAuth or serverAuth (repeatable; default: clientAuth for client,
                     serverAuth for server)
  --days <n>         validity in days, starting one hour ago (default 30)
  --force            overwrite existing files
  -h, --help         show this help
`

const EKU_OIDS: Readonly<Record<string, string>> = {
  clientAuth: '1.3.6.1.5.5.7.3.2',
  serverAuth: '1.3.6.1.5.5.7.3.1',
}

export async function issueCommand(args: readonly string[], io: Io): Promise<number> {
  const cmd = 'issue'
  const { values, positionals: pos } = parse(
    args,
    {
      pki: { type: 'string' },
      out: { type: 'string' },
      cn: { type: 'string' },
      o: { type: 'string', multiple: true },
      spiffe: { type: 'string' },
      dns: { type: 'string', multiple: true },
      email: { type: 'string', multiple: true },
      ip: { type: 'string', multiple: true },
      eku: { type: 'string', multiple: true },
      days: { type: 'string' },
      force: { type: 'boolean' },
    },
    cmd,
  )
  if (flag(values, 'help')) {
    io.stdout(ISSUE_HELP)
    return 0
  }
  const [kind] = positionals(pos, ['client|server'], cmd)
  if (kind !== 'client' && kind !== 'server')
    throw new CliError(`issue: expected 'client' or 'server', got '${kind}' (see 'clientcert issue --help')`)
  const pkiDir = str(values, 'pki')
  const out = str(values, 'out')
  if (pkiDir === undefined) throw new CliError('issue: --pki <dir> is required')
  if (out === undefined) throw new CliError('issue: --out <prefix> is required')
  const days = intFlag(values, 'days', cmd, 30, 36_500)
  const spiffe = str(values, 'spiffe')
  if (spiffe !== undefined) {
    // The core's rules, so the CLI never issues an ID the library would then reject.
    const parsed = parseSpiffeId(spiffe)
    if (typeof parsed === 'string')
      throw new CliError(`issue: --spiffe '${spiffe}' is not a valid SPIFFE ID: ${parsed}`)
  }
  const ips = list(values, 'ip')
  for (const ip of ips) if (isIP(ip) === 0) throw new CliError(`issue: --ip '${ip}' is not an IP address`)
  const ekus = list(values, 'eku')
  for (const e of ekus)
    if (!Object.hasOwn(EKU_OIDS, e))
      throw new CliError(`issue: --eku must be clientAuth or serverAuth, got '${e}'`)
  const server = kind === 'server'
  const dns = list(values, 'dns')
  const san = {
    dns: server && dns.length === 0 && ips.length === 0 ? ['localhost'] : dns,
    ip: server && dns.length === 0 && ips.length === 0 ? ['127.0.0.1', '::1'] : ips,
    email: list(values, 'email'),
    uri: spiffe === undefined ? [] : [spiffe],
  }
  const cn = str(values, 'cn') ?? (server ? 'localhost' : undefined)
  const orgs = list(values, 'o')
  if (cn === undefined && san.uri.length + san.dns.length + san.email.length + san.ip.length === 0)
    throw new CliError(
      'issue: a client certificate needs an identity: give --cn, --spiffe, --dns, --email or --ip',
    )

  const dir = resolvePath(io.cwd, pkiDir)
  const caPath = join(dir, PKI_FILES.intermediate)
  const [ca] = readCertificates(caPath, 'intermediate CA', cmd)
  const caKeyPem = readText(join(dir, PKI_FILES.intermediateKey), 'intermediate CA key', cmd)
  if (!ca) throw new CliError(`issue: no certificate in ${caPath}`)
  let signer: Awaited<ReturnType<typeof importSigningKey>>
  try {
    signer = await importSigningKey(caKeyPem)
  } catch (err) {
    throw new CliError(`issue: cannot load the intermediate CA key: ${errorMessage(err)}`)
  }
  if (!ca.checkPrivateKey(createPrivateKey(caKeyPem)))
    throw new CliError(`issue: ${PKI_FILES.intermediateKey} does not belong to ${PKI_FILES.intermediate}`)

  const x509 = await loadX509()
  const issuer = new x509.X509Certificate(ca.raw)
  const keys = (await globalThis.crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair
  const subject: Record<string, string[]>[] = [
    ...orgs.map((o) => ({ O: [o] })),
    ...(cn === undefined ? [] : [{ CN: [cn] }]),
  ]
  const names = [
    ...san.dns.map((value) => ({ type: 'dns' as const, value })),
    ...san.ip.map((value) => ({ type: 'ip' as const, value })),
    ...san.email.map((value) => ({ type: 'email' as const, value })),
    ...san.uri.map((value) => ({ type: 'url' as const, value })),
  ]
  const eku = (ekus.length > 0 ? ekus : [server ? 'serverAuth' : 'clientAuth']).map(
    (e) => EKU_OIDS[e] as string,
  )
  const extensions = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(eku, false),
    ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names, subject.length === 0)] : []),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(signer.publicKey),
  ]
  const now = Date.now()
  const serial = globalThis.crypto.getRandomValues(new Uint8Array(16))
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: Buffer.from(serial).toString('hex'),
    subject: new x509.Name(subject),
    issuer: issuer.subjectName,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + days * 86_400_000),
    publicKey: keys.publicKey,
    signingKey: signer.privateKey,
    signingAlgorithm: signer.algorithm,
    extensions,
  })
  const keyDer = new Uint8Array(await globalThis.crypto.subtle.exportKey('pkcs8', keys.privateKey))
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${(
    Buffer.from(keyDer)
      .toString('base64')
      .match(/.{1,64}/g) ?? []
  ).join('\n')}\n-----END PRIVATE KEY-----\n`
  const certPath = `${resolvePath(io.cwd, out)}.pem`
  const keyPath = `${resolvePath(io.cwd, out)}-key.pem`
  writeAll(
    [
      { path: certPath, data: `${cert.toString('pem')}\n${ca.toString()}` },
      { path: keyPath, data: keyPem, secret: true },
    ],
    flag(values, 'force'),
    cmd,
  )
  const fp = Buffer.from(await globalThis.crypto.subtle.digest('SHA-256', cert.rawData)).toString('hex')
  io.stdout(
    `Issued a ${kind} certificate\n${table([
      ['certificate', `${certPath} (with the intermediate CA)`],
      ['key', `${keyPath} (mode 0600)`],
      ['subject', cert.subject || '(empty)'],
      ...(names.length > 0
        ? ([
            [
              'SAN',
              names.map((n) => `${n.type === 'url' ? 'URI' : n.type.toUpperCase()}:${n.value}`).join(', '),
            ],
          ] as const)
        : []),
      ['EKU', (ekus.length > 0 ? ekus : [server ? 'serverAuth' : 'clientAuth']).join(', ')],
      ['valid until', cert.notAfter.toISOString()],
      ['fingerprint256', fp],
    ])}`,
  )
  return 0
}
