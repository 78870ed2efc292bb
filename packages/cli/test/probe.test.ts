import { X509Certificate } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { clientCert } from '@clientcert/express'
import {
  type CertificateAuthority,
  createRootCA,
  type IssuedCertificate,
  startMtlsServer,
} from '@clientcert/testing'
import express from 'express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, tempDir } from './helpers.js'

const tmp = tempDir()
const cwd = tmp.dir

let root: CertificateAuthority
let tls: IssuedCertificate

interface ProbeOutput {
  ok: boolean
  checks: Array<{ name: string; status: 'PASS' | 'FAIL' | 'ERROR'; detail: string }>
}

const statusOf = (out: ProbeOutput) => Object.fromEntries(out.checks.map((c) => [c.name, c.status]))

beforeAll(async () => {
  root = await createRootCA()
  tls = await root.issueServer()
  writeFileSync(join(cwd, 'ca.pem'), root.pem)
  const alice = await root.issueClient({ subject: 'CN=alice' })
  writeFileSync(join(cwd, 'alice.pem'), alice.chainPem)
  writeFileSync(join(cwd, 'alice-key.pem'), alice.keyPem, { mode: 0o600 })
})
afterAll(() => tmp.cleanup())

function routes(app: express.Express): express.Express {
  app.get('/api/data', (_req, res) => {
    res.json({ ok: true })
  })
  app.post('/api/data', (req, res) => {
    res.json({ body: req.body })
  })
  return app
}

describe('clientcert probe', () => {
  it('flags a server that trusts forwarded headers from anyone and parses bodies before authentication', async () => {
    const app = express()
    app.use(express.json())
    app.use((req, res, next) => {
      if (typeof req.headers['x-ssl-client-cert'] === 'string') {
        res.json({ user: 'from x-ssl-client-cert' })
        return
      }
      if (!(req.socket as TLSSocket).authorized) {
        res.status(401).json({ error: 'client certificate required' })
        return
      }
      next()
    })
    const server = await startMtlsServer(routes(app), {
      ca: root.pem,
      ...tls.tlsOptions(),
      rejectUnauthorized: false,
    })
    try {
      const r = await runCli(['probe', `${server.url}/api/data`, '--ca', 'ca.pem', '--json'], cwd)
      expect(r.code).toBe(1)
      const out = JSON.parse(r.stdout) as ProbeOutput
      expect(out.ok).toBe(false)
      const s = statusOf(out)
      expect(s).toMatchObject({
        'no-certificate': 'PASS',
        'unknown-ca': 'PASS',
        'forwarded:nginx': 'FAIL',
        'forwarded:haproxy': 'FAIL',
        'forwarded:rfc9440': 'PASS',
        'body-before-auth': 'FAIL',
      })
      expect(Object.keys(s).filter((k) => k.startsWith('forwarded:'))).toHaveLength(11)
      expect(
        out.checks
          .filter((c) => c.status === 'FAIL')
          .map((c) => c.name)
          .sort(),
      ).toEqual(['body-before-auth', 'forwarded:haproxy', 'forwarded:nginx'])
      const text = await runCli(['probe', `${server.url}/api/data`, '--ca', 'ca.pem'], cwd)
      expect(text.code).toBe(1)
      expect(text.stdout).toMatch(/^FAIL +forwarded:nginx /m)
      expect(text.stdout).toMatch(/^FAIL +body-before-auth .*400/m)
      expect(text.stdout).toMatch(/^PASS +no-certificate /m)
    } finally {
      await server.close()
    }
  })

  it('passes a server with clientCert() mounted first, and the given certificate gets in', async () => {
    const app = express()
    app.use(clientCert({ trust: { anchors: root.pem }, allow: { authenticated: true } }))
    app.use(express.json())
    const server = await startMtlsServer(routes(app), {
      ca: root.pem,
      ...tls.tlsOptions(),
      rejectUnauthorized: false,
    })
    try {
      const r = await runCli(
        [
          'probe',
          `${server.url}/api/data`,
          '--ca',
          'ca.pem',
          '--cert',
          'alice.pem',
          '--key',
          'alice-key.pem',
          '--json',
        ],
        cwd,
      )
      const out = JSON.parse(r.stdout) as ProbeOutput
      expect(out.checks.filter((c) => c.status !== 'PASS')).toEqual([])
      expect(r.code).toBe(0)
      expect(statusOf(out)['client-certificate']).toBe('PASS')
      expect(out.checks).toHaveLength(1 + 1 + 11 + 1 + 1)
    } finally {
      await server.close()
    }
  })

  it('with --cert, flags a server that validates forwarded certificates but takes them from anyone', async () => {
    const app = express()
    app.use((req, res, next) => {
      const header = req.headers['x-ssl-client-cert']
      if (typeof header === 'string') {
        // Validates the certificate against the CA, but never asks who sent the header.
        const ok = new X509Certificate(decodeURIComponent(header)).verify(
          new X509Certificate(root.pem).publicKey,
        )
        if (ok) next()
        else res.status(401).end()
        return
      }
      if ((req.socket as TLSSocket).authorized) next()
      else res.status(401).end()
    })
    const server = await startMtlsServer(routes(app), {
      ca: root.pem,
      ...tls.tlsOptions(),
      rejectUnauthorized: false,
    })
    try {
      const base = ['probe', `${server.url}/api/data`, '--ca', 'ca.pem', '--json']
      const without = JSON.parse((await runCli(base, cwd)).stdout) as ProbeOutput
      expect(statusOf(without)['forwarded:nginx']).toBe('PASS')
      const r = await runCli([...base, '--cert', 'alice.pem', '--key', 'alice-key.pem'], cwd)
      expect(r.code).toBe(1)
      const out = JSON.parse(r.stdout) as ProbeOutput
      expect(out.checks.filter((c) => c.status === 'FAIL').map((c) => c.name)).toEqual(['forwarded:nginx'])
      expect(out.checks.find((c) => c.name === 'forwarded:nginx')?.detail).toMatch(/your certificate/)
    } finally {
      await server.close()
    }
  })

  it('counts a refused handshake as PASS; an untrusted server certificate is an error, never skipped', async () => {
    const server = await startMtlsServer(routes(express()), { ca: root.pem, ...tls.tlsOptions() })
    try {
      const r = await runCli(['probe', server.url, '--ca', 'ca.pem', '--json'], cwd)
      const out = JSON.parse(r.stdout) as ProbeOutput
      expect(out.checks.filter((c) => c.status !== 'PASS')).toEqual([])
      expect(r.code).toBe(0)
      expect(out.checks[0]?.detail).toMatch(/refused/)

      const untrusted = await runCli(['probe', server.url, '--json', '--timeout', '5000'], cwd)
      expect(untrusted.code).toBe(2)
      const u = JSON.parse(untrusted.stdout) as ProbeOutput
      expect(u.checks.every((c) => c.status === 'ERROR')).toBe(true)
    } finally {
      await server.close()
    }
  })

  it('rejects bad arguments', async () => {
    for (const args of [
      ['probe', 'http://127.0.0.1:1/'],
      ['probe', 'not a url'],
      ['probe', 'https://127.0.0.1:1/', '--cert', 'alice.pem'],
    ]) {
      const r = await runCli(args, cwd)
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
    }
  })
})
