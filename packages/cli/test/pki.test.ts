import { X509Certificate } from 'node:crypto'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { requestWithHttps, startMtlsServer } from '@clientcert/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, tempDir } from './helpers.js'

const tmp = tempDir()
const cwd = tmp.dir
afterAll(() => tmp.cleanup())

const mode = (p: string) => statSync(join(cwd, p)).mode & 0o777

describe('clientcert (usage)', () => {
  it('prints help for every command and exits 0', async () => {
    for (const args of [
      ['--help'],
      ['pki', 'init', '--help'],
      ['issue', '--help'],
      ['inspect', '--help'],
      ['probe', '--help'],
    ]) {
      const r = await runCli(args, cwd)
      expect(r.code, args.join(' ')).toBe(0)
      expect(r.stdout).toMatch(/^Usage: clientcert/)
    }
  })

  it('reports unknown flags, commands and missing arguments as one line on stderr', async () => {
    for (const args of [
      ['inspect', 'x.pem', '--bogus'],
      ['nope'],
      ['pki', 'init'],
      ['issue', 'client', '--pki', 'p'],
    ]) {
      const r = await runCli(args, cwd)
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stdout).toBe('')
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
      expect(r.stderr).toMatch(/^clientcert: /)
    }
  })
})

describe('clientcert pki init / issue', () => {
  beforeAll(async () => {
    const r = await runCli(['pki', 'init', 'pki'], cwd)
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
  })

  it('writes PEM certificates and 0600 keys', () => {
    for (const f of ['root.pem', 'intermediate.pem']) {
      const cert = new X509Certificate(readFileSync(join(cwd, 'pki', f)))
      expect(cert.ca).toBe(true)
      expect(mode(join('pki', f))).toBe(0o644)
    }
    expect(mode('pki/root-key.pem')).toBe(0o600)
    expect(mode('pki/intermediate-key.pem')).toBe(0o600)
    const root = new X509Certificate(readFileSync(join(cwd, 'pki/root.pem')))
    const intermediate = new X509Certificate(readFileSync(join(cwd, 'pki/intermediate.pem')))
    expect(intermediate.checkIssued(root)).toBe(true)
    expect(intermediate.verify(root.publicKey)).toBe(true)
  })

  it('refuses to overwrite without --force', async () => {
    const before = readFileSync(join(cwd, 'pki/root.pem'), 'utf8')
    const r = await runCli(['pki', 'init', 'pki'], cwd)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/refusing to overwrite .*--force/)
    expect(readFileSync(join(cwd, 'pki/root.pem'), 'utf8')).toBe(before)

    const other = tempDir()
    try {
      expect((await runCli(['pki', 'init', other.dir], cwd)).code).toBe(0)
      const first = readFileSync(join(other.dir, 'root.pem'), 'utf8')
      expect((await runCli(['pki', 'init', other.dir, '--force'], cwd)).code).toBe(0)
      expect(readFileSync(join(other.dir, 'root.pem'), 'utf8')).not.toBe(first)
      expect(statSync(join(other.dir, 'root-key.pem')).mode & 0o777).toBe(0o600)
    } finally {
      other.cleanup()
    }
  })

  it('issues client and server certificates; refuses to overwrite them without --force', async () => {
    const c = await runCli(
      ['issue', 'client', '--pki', 'pki', '--out', 'alice', '--cn', 'alice', '--o', 'acme'],
      cwd,
    )
    expect(c.stderr).toBe('')
    expect(c.code).toBe(0)
    expect(mode('alice-key.pem')).toBe(0o600)
    const s = await runCli(['issue', 'server', '--pki', 'pki', '--out', 'server'], cwd)
    expect(s.code).toBe(0)
    expect(mode('server-key.pem')).toBe(0o600)

    const pem = readFileSync(join(cwd, 'alice.pem'), 'utf8')
    expect(pem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2)
    const leaf = new X509Certificate(pem)
    expect(leaf.subject).toContain('CN=alice')
    expect(leaf.subject).toContain('O=acme')
    expect(leaf.ca).toBe(false)
    expect(
      leaf.checkPrivateKey(
        (await import('node:crypto')).createPrivateKey(readFileSync(join(cwd, 'alice-key.pem'))),
      ),
    ).toBe(true)

    writeFileSync(join(cwd, 'bob-key.pem'), 'keep me')
    const again = await runCli(['issue', 'client', '--pki', 'pki', '--out', 'bob', '--cn', 'bob'], cwd)
    expect(again.code).toBe(2)
    expect(again.stderr).toMatch(/refusing to overwrite .*bob-key\.pem/)
    expect(readFileSync(join(cwd, 'bob-key.pem'), 'utf8')).toBe('keep me')
    const forced = await runCli(
      ['issue', 'client', '--pki', 'pki', '--out', 'bob', '--cn', 'bob', '--force'],
      cwd,
    )
    expect(forced.code).toBe(0)
    expect(mode('bob-key.pem')).toBe(0o600)
    expect(readFileSync(join(cwd, 'bob-key.pem'), 'utf8')).toMatch(/BEGIN PRIVATE KEY/)
  })

  it('rejects bad issue options', async () => {
    for (const args of [
      ['issue', 'client', '--pki', 'pki', '--out', 'x'],
      ['issue', 'client', '--pki', 'pki', '--out', 'x', '--cn', 'x', '--eku', 'codeSigning'],
      ['issue', 'client', '--pki', 'pki', '--out', 'x', '--spiffe', 'https://example.org/a'],
      // The core refuses these IDs, so the CLI must not issue them (upper-case trust domain,
      // a dot segment, a port, a percent-encoded segment, a trailing slash).
      ['issue', 'client', '--pki', 'pki', '--out', 'x', '--spiffe', 'spiffe://Example.org/a'],
      ['issue', 'client', '--pki', 'pki', '--out', 'x', '--spiffe', 'spiffe://example.org/a/../b'],
      ['issue', 'client', '--pki', 'pki', '--out', 'x', '--spiffe', 'spiffe://example.org:443/a'],
      ['issue', 'client', '--pki', 'pki', '--out', 'x', '--spiffe', 'spiffe://example.org/a%20b'],
      ['issue', 'client', '--pki', 'pki', '--out', 'x', '--spiffe', 'spiffe://example.org/a/'],
      ['issue', 'client', '--pki', 'pki', '--out', 'x', '--cn', 'x', '--days', '0'],
      ['issue', 'client', '--pki', 'missing', '--out', 'x', '--cn', 'x'],
      ['issue', 'robot', '--pki', 'pki', '--out', 'x', '--cn', 'x'],
    ]) {
      const r = await runCli(args, cwd)
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
    }
  })

  it('an issued client certificate authenticates against a real mTLS server trusting the PKI root', async () => {
    const root = readFileSync(join(cwd, 'pki/root.pem'), 'utf8')
    const server = await startMtlsServer(
      (req, res) => {
        const socket = req.socket as import('node:tls').TLSSocket
        res.end(
          JSON.stringify({ authorized: socket.authorized, cn: socket.getPeerCertificate().subject?.CN }),
        )
      },
      {
        ca: root,
        cert: readFileSync(join(cwd, 'server.pem'), 'utf8'),
        key: readFileSync(join(cwd, 'server-key.pem'), 'utf8'),
      },
    )
    try {
      const res = await requestWithHttps(server.url, {
        ca: root,
        client: {
          cert: readFileSync(join(cwd, 'alice.pem'), 'utf8'),
          key: readFileSync(join(cwd, 'alice-key.pem'), 'utf8'),
        },
      })
      expect(res.status).toBe(200)
      expect(res.json()).toEqual({ authorized: true, cn: 'alice' })
    } finally {
      await server.close()
    }
  })
})
