import { X509Certificate } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { clientCert } from '@clientcert/express'
import {
  type CertificateAuthority,
  createRootCA,
  type IssuedCertificate,
  startHttpServer,
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
      expect(out.checks).toHaveLength(1 + 1 + 11 + 1 + 1 + 11) // overwrite:<format> after client-certificate
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

      // One clear hint, not the same TLS error once per check.
      const untrusted = await runCli(['probe', server.url, '--json', '--timeout', '5000'], cwd)
      expect(untrusted.code).toBe(2)
      expect(untrusted.stdout).toBe('')
      expect(untrusted.stderr.trim().split('\n')).toHaveLength(1)
      expect(untrusted.stderr).toMatch(/server's certificate is not trusted \(\w+\): pass --ca <file>/)
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

  it('prints the problem code of every answer; a POST-only route does not blame the certificate', async () => {
    const app = express()
    app.use(clientCert({ trust: { anchors: root.pem }, identity: 'cn', allow: { authenticated: true } }))
    app.use(express.json())
    app.post('/orders', (req, res) => {
      res.json({ by: req.clientCert?.id, body: req.body as unknown })
    })
    const server = await startMtlsServer(app, {
      ca: root.pem,
      ...tls.tlsOptions(),
      rejectUnauthorized: false,
    })
    try {
      const cert = ['--ca', 'ca.pem', '--cert', 'alice.pem', '--key', 'alice-key.pem']
      const r = await runCli(['probe', `${server.url}/orders`, ...cert], cwd)
      expect(r.stdout).toMatch(/PASS\s+no-certificate\s+answered 401 ERR_CLIENT_CERT_MISSING/)
      expect(r.stdout).toMatch(/PASS\s+unknown-ca\s+answered 401 ERR_CLIENT_CERT_UNTRUSTED/)
      // GET on a POST-only route: 404 without a clientcert problem, so the certificate got in.
      expect(r.stdout).toMatch(
        /PASS\s+client-certificate\s+answered 404 \(no problem code\): not a clientcert rejection/,
      )
      expect(r.code, r.stdout).toBe(0)

      const post = await runCli(
        [
          'probe',
          server.url,
          '--path',
          '/orders',
          '--method',
          'POST',
          '--body',
          '{"n":1}',
          '--json',
          ...cert,
        ],
        cwd,
      )
      const out = JSON.parse(post.stdout) as ProbeOutput & {
        checks: Array<{ httpStatus?: number; code?: string }>
      }
      expect(out.checks.find((c) => c.name === 'client-certificate')).toMatchObject({
        status: 'PASS',
        httpStatus: 200,
      })
      expect(out.checks.find((c) => c.name === 'no-certificate')).toMatchObject({
        code: 'ERR_CLIENT_CERT_MISSING',
      })
      expect(post.code).toBe(0)
    } finally {
      await server.close()
    }
  })

  describe('http:// targets: an app in forwarded mode, probed as its proxy and as a stranger', () => {
    async function forwardedApp(trustedProxies: string[]) {
      const app = express()
      app.use(
        clientCert({
          source: { forwarded: { format: 'rfc9440', trustedProxies } },
          trust: { anchors: root.pem },
          identity: 'cn',
          allow: { authenticated: true },
        }),
      )
      app.use(express.json())
      routes(app)
      return startHttpServer(app)
    }
    const args = (url: string) => [
      'probe',
      `${url}/api/data`,
      '--forwarded-format',
      'rfc9440',
      '--proxy-address',
      '127.0.0.2',
      '--stranger-address',
      '127.0.0.3',
      '--cert',
      'alice.pem',
      '--key',
      'alice-key.pem',
      '--json',
    ]

    it('passes an app that believes only its proxy, and the proxy-forwarded certificate gets in', async () => {
      const server = await forwardedApp(['127.0.0.2'])
      try {
        const r = await runCli(args(server.url), cwd)
        const out = JSON.parse(r.stdout) as ProbeOutput
        expect(out.checks.filter((c) => c.status !== 'PASS')).toEqual([])
        expect(statusOf(out)).toMatchObject({
          'no-certificate': 'PASS',
          'stranger:rfc9440': 'PASS',
          'proxy-no-certificate': 'PASS',
          'proxy-unknown-ca': 'PASS',
          'body-before-auth': 'PASS',
          'client-certificate': 'PASS',
        })
        expect(out.checks.find((c) => c.name === 'stranger:rfc9440')?.detail).toContain(
          'ERR_CLIENT_CERT_UNTRUSTED_PROXY',
        )
        expect(r.code).toBe(0)
      } finally {
        await server.close()
      }
    })

    it('FAILs an app whose allowlist also covers the stranger', async () => {
      const server = await forwardedApp(['127.0.0.0/29'])
      try {
        const r = await runCli(args(server.url), cwd)
        const out = JSON.parse(r.stdout) as ProbeOutput
        expect(statusOf(out)['stranger:rfc9440']).toBe('FAIL')
        expect(r.code).toBe(1)
      } finally {
        await server.close()
      }
    })

    it('refuses incomplete forwarded options', async () => {
      for (const extra of [
        ['--forwarded-format', 'rfc9440', '--proxy-address', '127.0.0.2'],
        ['--forwarded-format', 'nope', '--proxy-address', '127.0.0.2', '--stranger-address', '127.0.0.3'],
        ['--forwarded-format', 'rfc9440', '--proxy-address', 'x', '--stranger-address', '127.0.0.3'],
      ]) {
        const r = await runCli(['probe', 'http://127.0.0.1:1/', ...extra], cwd)
        expect(r.code, extra.join(' ')).toBe(2)
        expect(r.stderr.trim().split('\n')).toHaveLength(1)
      }
      const https = await runCli(['probe', 'https://127.0.0.1:1/', '--proxy-address', '127.0.0.2'], cwd)
      expect(https.code).toBe(2)
    })
  })
})
