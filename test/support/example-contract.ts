import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestPki, requestWithUndici, type TestPki } from '@clientcert/testing'
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
    let child: ChildProcess | undefined
    afterAll(() => {
      child?.kill()
    })

    it('starts from TLS_CERT/TLS_KEY/CLIENT_CA/ADMIN_IDS and serves mTLS', async () => {
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
        CLIENT_CA: file('ca.pem', pki.clientCaPem),
        ADMIN_IDS: 'ops-1, ops-2',
        ...example.env,
      }
      child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
        cwd: example.dir,
        env,
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      const url = await new Promise<string>((resolve, reject) => {
        let out = ''
        child!.stdout!.on('data', (d: Buffer) => {
          out += d.toString()
          const m = /listening on (https:\/\/\S+)/.exec(out)
          if (m) resolve(m[1]!)
        })
        child!.on('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)))
      })
      const ops = await pki.issueClient({ subject: 'CN=ops-2' })
      const res = await requestWithUndici(url, { path: '/admin', client: ops, ca: pki.serverCa.pem })
      expect(res.status).toBe(200)
      expect(res.json()).toMatchObject({ principal: { id: 'ops-2' }, admin: true })
    })
  })
}
