import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  createTestPki,
  forwardedHeaders,
  requestHttp,
  requestWithUndici,
  type TestPki,
} from '@clientcert/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/**
 * The contract every example honours (examples/README.md): GET /whoami, POST /echo (JSON
 * parsed only after authentication), GET /admin (ADMIN_IDS), and `pnpm start` configured by
 * HOST, PORT, TLS_CERT, TLS_KEY, CLIENT_CA and ADMIN_IDS.
 */
export interface ExampleUnderTest {
  readonly name: string
  /** The example's directory (where `src/server.ts` lives). */
  readonly dir: string
  /** Extra environment for the `pnpm start` child process (e.g. which platform to use). */
  readonly env?: Readonly<Record<string, string>>
  /** Starts the app in-process over mTLS with `adminIds: ['admin']`; returns its URL and a closer. */
  start(pki: TestPki): Promise<{ url: string; close(): Promise<void> }>
}

export function exampleContract(example: ExampleUnderTest): void {
  let pki: TestPki
  beforeAll(async () => {
    pki = await createTestPki()
  })

  describe(`examples/${example.name}: routes`, () => {
    let app: { url: string; close(): Promise<void> }
    beforeAll(async () => {
      app = await example.start(pki)
    })
    afterAll(() => app.close())

    it('answers /whoami with the principal of a valid client', async () => {
      const alice = await pki.issueClient({ subject: 'CN=alice' })
      const res = await requestWithUndici(app.url, { path: '/whoami', client: alice, ca: pki.serverCa.pem })
      expect(res.status).toBe(200)
      expect(res.json()).toMatchObject({
        principal: { id: 'alice', kind: 'cn', fingerprint256: alice.fingerprint256 },
      })
    })

    it('echoes JSON only after authentication; invalid JSON without a certificate is 401, not 400', async () => {
      const alice = await pki.issueClient({ subject: 'CN=alice' })
      const headers = { 'content-type': 'application/json' }
      const ok = await requestWithUndici(app.url, {
        path: '/echo',
        method: 'POST',
        body: '{"n":1}',
        headers,
        client: alice,
        ca: pki.serverCa.pem,
      })
      expect(ok.json()).toEqual({ principal: { id: 'alice' }, body: { n: 1 } })
      const anon = await requestWithUndici(app.url, {
        path: '/echo',
        method: 'POST',
        body: '{"n":',
        headers,
        ca: pki.serverCa.pem,
      })
      expect(anon.status).toBe(401)
      expect(anon.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_MISSING' })
    })

    it('passes every check of `clientcert probe`', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'cc-probe-'))
      const alice = await pki.issueClient({ subject: 'CN=alice' })
      const files = { ca: pki.serverCa.pem, cert: alice.chainPem, key: alice.keyPem }
      for (const [name, data] of Object.entries(files))
        writeFileSync(join(dir, `${name}.pem`), data, { mode: 0o600 })
      const cli = fileURLToPath(new URL('../../packages/cli/dist/cli.js', import.meta.url))
      const args = [
        cli,
        'probe',
        `${app.url}/whoami`,
        '--ca',
        join(dir, 'ca.pem'),
        '--cert',
        join(dir, 'cert.pem'),
        '--key',
        join(dir, 'key.pem'),
      ]
      const run = await new Promise<{ code: number | null; out: string }>((resolve) => {
        const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
        let out = ''
        proc.stdout.on('data', (d: Buffer) => (out += d))
        proc.stderr.on('data', (d: Buffer) => (out += d))
        proc.on('exit', (code) => resolve({ code, out }))
      })
      expect(run.out).not.toMatch(/FAIL|ERROR/)
      expect(run.out).toMatch(/PASS/)
      expect(run.code, run.out).toBe(0)
    })

    it('guards /admin with ADMIN_IDS', async () => {
      const [alice, admin] = await Promise.all([
        pki.issueClient({ subject: 'CN=alice' }),
        pki.issueClient({ subject: 'CN=admin' }),
      ])
      const denied = await requestWithUndici(app.url, { path: '/admin', client: alice, ca: pki.serverCa.pem })
      expect(denied.status).toBe(403)
      expect(denied.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_NOT_ALLOWED' })
      const allowed = await requestWithUndici(app.url, {
        path: '/admin',
        client: admin,
        ca: pki.serverCa.pem,
      })
      expect(allowed.status).toBe(200)
    })
  })

  describe(`examples/${example.name}: pnpm start contract`, () => {
    const children: ChildProcess[] = []
    afterAll(() => {
      for (const c of children) c.kill()
    })

    /** Starts `src/server.ts` with the contract's environment; resolves with the lines it printed once `until` matched. */
    const startServer = (extra: Record<string, string>, until: RegExp) =>
      new Promise<string>((resolve, reject) => {
        const dir = mkdtempSync(join(tmpdir(), 'cc-example-'))
        const file = (name: string, data: string) => {
          writeFileSync(join(dir, name), data, { mode: 0o600 })
          return join(dir, name)
        }
        const env = {
          ...process.env,
          HOST: '127.0.0.1',
          PORT: '0',
          TLS_CERT: file('server.pem', pki.server.chainPem),
          TLS_KEY: file('server-key.pem', pki.server.keyPem),
          CLIENT_CA: file('ca.pem', pki.clientCaPem + pki.intermediate.pem),
          ADMIN_IDS: 'ops-1, ops-2',
          ...example.env,
          ...extra,
        }
        const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
          cwd: example.dir,
          env,
          stdio: ['ignore', 'pipe', 'inherit'],
        })
        children.push(proc)
        let out = ''
        proc.stdout!.on('data', (d: Buffer) => {
          out += d.toString()
          if (until.test(out)) resolve(out)
        })
        proc.on('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)))
      })

    it('starts from TLS_CERT/TLS_KEY/CLIENT_CA/ADMIN_IDS and serves mTLS', async () => {
      const out = await startServer({}, /listening on https:\/\/\S+/)
      const url = /listening on (https:\/\/\S+)/.exec(out)![1]!
      const ops = await pki.issueClient({ subject: 'CN=ops-2' })
      const res = await requestWithUndici(url, { path: '/admin', client: ops, ca: pki.serverCa.pem })
      expect(res.status).toBe(200)
      expect(res.json()).toMatchObject({ principal: { id: 'ops-2' }, admin: true })
    })

    it('with TRUSTED_PROXIES also serves the proxy hop on HTTP_PORT, and only to the proxy', async () => {
      const out = await startServer(
        { TRUSTED_PROXIES: '127.0.0.2', FORWARDED_FORMAT: 'rfc9440', HTTP_PORT: '0' },
        /hop on http:\/\/\S+/,
      )
      const hop = /hop on (http:\/\/\S+)/.exec(out)![1]!
      const alice = await pki.issueClient({ subject: 'CN=alice' })
      const headers = forwardedHeaders('rfc9440', alice)
      const viaProxy = await requestHttp(hop, { path: '/whoami', localAddress: '127.0.0.2', headers })
      expect(viaProxy.status).toBe(200)
      expect(viaProxy.json()).toMatchObject({ principal: { id: 'alice' } })
      const stranger = await requestHttp(hop, { path: '/whoami', localAddress: '127.0.0.3', headers })
      expect(stranger.status).toBe(401)
      expect(stranger.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_UNTRUSTED_PROXY' })
    })

    it('passes every check of `clientcert probe` in forwarded mode (as its proxy and as a stranger)', async () => {
      const out = await startServer(
        { TRUSTED_PROXIES: '127.0.0.2', FORWARDED_FORMAT: 'rfc9440', HTTP_PORT: '0' },
        /hop on http:\/\/\S+/,
      )
      const hop = /hop on (http:\/\/\S+)/.exec(out)![1]!
      const dir = mkdtempSync(join(tmpdir(), 'cc-probe-fw-'))
      const alice = await pki.issueClient({ subject: 'CN=alice' })
      writeFileSync(join(dir, 'cert.pem'), alice.chainPem, { mode: 0o600 })
      writeFileSync(join(dir, 'key.pem'), alice.keyPem, { mode: 0o600 })
      const cli = fileURLToPath(new URL('../../packages/cli/dist/cli.js', import.meta.url))
      const args = [
        cli,
        'probe',
        `${hop}/whoami`,
        '--forwarded-format',
        'rfc9440',
        '--proxy-address',
        '127.0.0.2',
        '--stranger-address',
        '127.0.0.3',
        '--cert',
        join(dir, 'cert.pem'),
        '--key',
        join(dir, 'key.pem'),
      ]
      const run = await new Promise<{ code: number | null; out: string }>((resolve) => {
        const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
        let text = ''
        proc.stdout.on('data', (d: Buffer) => (text += d))
        proc.stderr.on('data', (d: Buffer) => (text += d))
        proc.on('exit', (code) => resolve({ code, out: text }))
      })
      expect(run.out).not.toMatch(/FAIL|ERROR/)
      expect(run.out).toMatch(/PASS\s+stranger:rfc9440\s+answered 401 ERR_CLIENT_CERT_UNTRUSTED_PROXY/)
      expect(run.out).toMatch(/PASS\s+client-certificate\s+answered 200/)
      expect(run.code, run.out).toBe(0)
    })
  })
}
