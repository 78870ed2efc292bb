import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createTestPki, type IssuedCertificate, type TestPki } from '@clientcert/testing'
import * as grpc from '@grpc/grpc-js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGreeterServer, GreeterClient } from '../src/service.js'

describe('examples/grpc', () => {
  let pki: TestPki
  let port: number
  let server: grpc.Server

  beforeAll(async () => {
    pki = await createTestPki()
    const created = createGreeterServer({
      clientCa: pki.clientCaPem + pki.intermediate.pem,
      cert: pki.server.chainPem,
      key: pki.server.keyPem,
      adminIds: ['admin'],
      auth: { onRejected: () => {} },
    })
    server = created.server
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', created.credentials, (err, p) => (err ? reject(err) : resolve(p))),
    )
  })
  afterAll(() => server.forceShutdown())

  const call = (who: IssuedCertificate, method: 'whoAmI' | 'admin') => {
    const client = new GreeterClient(
      `127.0.0.1:${port}`,
      grpc.credentials.createSsl(
        Buffer.from(pki.serverCa.pem),
        Buffer.from(who.keyPem),
        Buffer.from(who.chainPem),
      ),
      { 'grpc.ssl_target_name_override': 'localhost' },
    )
    return new Promise<{ value?: unknown; code?: number; errorCode?: unknown }>((resolve) =>
      (
        client as unknown as Record<
          string,
          (r: unknown, cb: (e: grpc.ServiceError | null, v: unknown) => void) => void
        >
      )[method]!({}, (err, value) => {
        client.close()
        resolve(err ? { code: err.code, errorCode: err.metadata.get('clientcert-error-code')[0] } : { value })
      }),
    )
  }

  it('WhoAmI answers with the caller; Admin only for ADMIN_IDS', async () => {
    const alice = await pki.issueClient({ subject: 'CN=alice' })
    const admin = await pki.issueClient({ subject: 'CN=admin' })
    expect(await call(alice, 'whoAmI')).toMatchObject({
      value: { principal: { id: 'alice', subject: 'CN=alice' } },
    })
    expect(await call(admin, 'admin')).toEqual({ value: { principal: { id: 'admin' }, admin: true } })
    expect(await call(alice, 'admin')).toEqual({
      code: grpc.status.PERMISSION_DENIED,
      errorCode: 'ERR_CLIENT_CERT_NOT_ALLOWED',
    })
  })

  it('a client certificate without clientAuth is refused with UNAUTHENTICATED', async () => {
    const noEku = await pki.issueClient({ subject: 'CN=printer', eku: null })
    expect(await call(noEku, 'whoAmI')).toEqual({
      code: grpc.status.UNAUTHENTICATED,
      errorCode: 'ERR_CLIENT_CERT_EKU',
    })
  })

  it('passes every check of `clientcert probe --grpc`', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cc-probe-grpc-'))
    const alice = await pki.issueClient({ subject: 'CN=alice' })
    const files = { ca: pki.serverCa.pem, cert: alice.chainPem, key: alice.keyPem }
    for (const [name, data] of Object.entries(files))
      writeFileSync(join(dir, `${name}.pem`), data, { mode: 0o600 })
    const cli = fileURLToPath(new URL('../../../packages/cli/dist/cli.js', import.meta.url))
    const args = [
      cli,
      'probe',
      `https://127.0.0.1:${port}/example.Greeter/WhoAmI`,
      '--grpc',
      '--body',
      '{}',
      ...['--ca', 'ca.pem', '--cert', 'cert.pem', '--key', 'key.pem'],
    ]
    const run = await new Promise<{ code: number; out: string }>((resolve) =>
      execFile(process.execPath, args, { cwd: dir, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? Number(err.code ?? 99) : 0, out: stdout + stderr }),
      ),
    )
    expect(run.out).not.toMatch(/FAIL|ERROR/)
    expect(run.out).toMatch(/PASS\s+no-certificate\s+connection refused during TLS/)
    expect(run.out).toMatch(/PASS\s+client-certificate\s+answered OK/)
    expect(run.code, run.out).toBe(0)
  })
})
