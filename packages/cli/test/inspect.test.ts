import { X509Certificate } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ClientCertOptions } from '@clientcert/core'
import { clientCert } from '@clientcert/express'
import {
  type CertificateAuthority,
  createRootCA,
  type IssuedCertificate,
  type RunningServer,
  requestWithHttps,
  startMtlsServer,
} from '@clientcert/testing'
import express from 'express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, tempDir } from './helpers.js'

const tmp = tempDir()
const cwd = tmp.dir
const DAY = 86_400_000

let root: CertificateAuthority
let server: RunningServer
let rejectedCodes: string[] = []

/** The options the config file holds (anchors by file path there, by PEM here). */
const configFor = (anchors: string): Record<string, unknown> => ({
  trust: { anchors },
  identity: 'cn',
  allow: { authenticated: true },
})

beforeAll(async () => {
  root = await createRootCA({ validity: { days: 60, startOffsetSeconds: -30 * 86_400 } })
  writeFileSync(join(cwd, 'root.pem'), root.pem)
  writeFileSync(join(cwd, 'config.json'), JSON.stringify(configFor('root.pem')))
  writeFileSync(
    join(cwd, 'config.mjs'),
    `export default { trust: { anchors: ${JSON.stringify(root.pem)} }, identity: 'cn', allow: { ids: ['valid'] } }\n`,
  )
  const app = express()
  app.use(
    clientCert({
      ...(configFor(root.pem) as unknown as ClientCertOptions),
      onRejected: (err) => rejectedCodes.push(err.code),
    }),
  )
  app.use(express.json())
  app.get('/whoami', (req, res) => {
    res.json({ id: req.clientCert?.id })
  })
  const tls = await root.issueServer()
  server = await startMtlsServer(app, { ca: root.pem, ...tls.tlsOptions(), rejectUnauthorized: false })
})

afterAll(async () => {
  await server?.close()
  tmp.cleanup()
})

function write(name: string, cert: IssuedCertificate): string {
  writeFileSync(join(cwd, name), cert.chainPem)
  return name
}

/** The middleware's verdict for `cert` over real TLS: the code from the problem body and onRejected. */
async function middlewareCode(cert: IssuedCertificate): Promise<string> {
  rejectedCodes = []
  const res = await requestWithHttps(server.url, { path: '/whoami', client: cert, ca: root.pem })
  if (res.status === 200) return 'ok'
  const body = res.json<{ code: string }>()
  expect(rejectedCodes).toEqual([body.code])
  return body.code
}

async function inspectCode(file: string, config = 'config.json'): Promise<{ code: string; exit: number }> {
  const r = await runCli(['inspect', file, '--config', config, '--json'], cwd)
  expect(r.stderr).toBe('')
  const out = JSON.parse(r.stdout) as { verdict: { ok: boolean; code: string | null; reason: string | null } }
  if (!out.verdict.ok) expect(out.verdict.reason).toEqual(expect.any(String))
  return { code: out.verdict.ok ? 'ok' : (out.verdict.code as string), exit: r.code }
}

describe('clientcert inspect', () => {
  it('shows a SPIFFE certificate: ID, fingerprint256 as node:crypto computes it, x5t#S256', async () => {
    const spiffe = 'spiffe://example.org/ns/prod/sa/api'
    const cert = await root.issueClient({ subject: '', san: { uri: [spiffe] } })
    const file = write('svid.pem', cert)
    const r = await runCli(['inspect', file, '--json'], cwd)
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout) as { certificate: Record<string, unknown> }
    const x = new X509Certificate(cert.pem)
    expect(out.certificate).toMatchObject({
      spiffeId: spiffe,
      fingerprint256: x.fingerprint256.replace(/:/g, '').toLowerCase(),
      x5tS256: Buffer.from(x.fingerprint256.replace(/:/g, ''), 'hex').toString('base64url'),
      serialNumber: x.serialNumber.toLowerCase(),
      san: { uri: [spiffe], dns: [], email: [], ip: [] },
      eku: ['clientAuth'],
      basicConstraints: { ca: false },
      keyUsage: ['digitalSignature'],
      key: 'EC P-256',
      expired: false,
    })
    const days = (Date.parse(x.validTo) - Date.now()) / 86_400_000
    expect(Math.abs((out.certificate.daysLeft as number) - days)).toBeLessThanOrEqual(1)
    const text = await runCli(['inspect', file], cwd)
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/valid now, \d+ days? left/)
    expect(text.stdout).toContain(`SPIFFE ID:`)
    expect(text.stdout).toContain(spiffe)
    expect(text.stdout).toContain(x.fingerprint256.replace(/:/g, '').toLowerCase())
    expect(text.stdout).not.toContain('\u001b[')
  })

  it('--config reaches the same verdict as the Express middleware over real TLS', async () => {
    const now = Date.now()
    const cases: Array<[string, IssuedCertificate, string]> = [
      ['valid.pem', await root.issueClient({ subject: 'CN=valid' }), 'ok'],
      [
        'expired.pem',
        await root.issueClient({
          subject: 'CN=expired',
          notBefore: new Date(now - 10 * DAY),
          notAfter: new Date(now - DAY),
        }),
        'ERR_CLIENT_CERT_EXPIRED',
      ],
      [
        'server-eku.pem',
        await root.issueClient({ subject: 'CN=wrong-eku', eku: ['serverAuth'] }),
        'ERR_CLIENT_CERT_EKU',
      ],
      [
        'unknown-ca.pem',
        await (await createRootCA()).issueClient({ subject: 'CN=stranger' }),
        'ERR_CLIENT_CERT_UNTRUSTED',
      ],
    ]
    for (const [file, cert, expected] of cases) {
      write(file, cert)
      const fromMiddleware = await middlewareCode(cert)
      const fromCli = await inspectCode(file)
      expect(fromMiddleware, file).toBe(expected)
      expect(fromCli.code, file).toBe(fromMiddleware)
      expect(fromCli.exit, file).toBe(expected === 'ok' ? 0 : 1)
    }
  })

  it('accepts an ES module config and prints the verdict with code and reason', async () => {
    const other = await root.issueClient({ subject: 'CN=other' })
    write('other.pem', other)
    expect((await inspectCode('valid.pem', 'config.mjs')).code).toBe('ok')
    const r = await runCli(['inspect', 'other.pem', '--config', 'config.mjs'], cwd)
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/verdict: rejected ERR_CLIENT_CERT_NOT_ALLOWED \(403\) — .*other/)
  })

  it('refuses a verdict without app-level trust, and reports config errors', async () => {
    writeFileSync(join(cwd, 'no-trust.json'), JSON.stringify({ allow: { authenticated: true } }))
    writeFileSync(
      join(cwd, 'bad.json'),
      JSON.stringify({ allow: { authenticated: true }, trust: { anchors: 'root.pem' }, nope: 1 }),
    )
    const noTrust = await runCli(['inspect', 'valid.pem', '--config', 'no-trust.json'], cwd)
    expect(noTrust.code).toBe(2)
    expect(noTrust.stderr).toMatch(/trust\.anchors or trust\.pins/)
    const bad = await runCli(['inspect', 'valid.pem', '--config', 'bad.json'], cwd)
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/invalid config: .*"nope"/)
    expect(bad.stderr.trim().split('\n')).toHaveLength(1)
  })

  it('without --config judges by the default options and says so; without a chain gives a hint', async () => {
    const intermediate = await root.issueIntermediate()
    const leaf = await intermediate.issueClient({ subject: 'CN=dflt' })
    writeFileSync(join(cwd, 'with-chain.pem'), leaf.chainPem) // leaf + intermediate, as `issue` writes
    const r = await runCli(['inspect', 'with-chain.pem'], cwd)
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`verdict: ok — principal ${leaf.fingerprint256} (fingerprint)`)
    expect(r.stdout).toMatch(/note: no --config: judged by the default options .*pass --config/)

    const server = await intermediate.issueServer() // EKU serverAuth only: the defaults refuse it
    writeFileSync(join(cwd, 'server-chain.pem'), server.chainPem)
    const s = await runCli(['inspect', 'server-chain.pem', '--json'], cwd)
    expect(s.code).toBe(0) // the defaults are a hint, not the app's policy
    const out = JSON.parse(s.stdout) as { verdict: { ok: boolean; code: string; note: string } }
    expect(out.verdict).toMatchObject({ ok: false, code: 'ERR_CLIENT_CERT_EKU' })
    expect(out.verdict.note).toMatch(/default options/)

    const alone = await root.issueClient({ subject: 'CN=alone' })
    writeFileSync(join(cwd, 'alone.pem'), alone.pem)
    const a = await runCli(['inspect', 'alone.pem'], cwd)
    expect(a.code).toBe(0)
    expect(a.stdout).toMatch(/note: no verdict: pass --config <file> .* or --chain <issuer\.pem>/)
  })
})
