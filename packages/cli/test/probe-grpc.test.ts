import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { clientCertInterceptor, clientCertOf } from '@clientcert/grpc'
import { type CertificateAuthority, createRootCA, type IssuedCertificate } from '@clientcert/testing'
import * as grpc from '@grpc/grpc-js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, tempDir } from './helpers.js'

const tmp = tempDir()
const cwd = tmp.dir
let root: CertificateAuthority
let tls: IssuedCertificate

interface ProbeOutput {
  ok: boolean
  checks: Array<{ name: string; status: 'PASS' | 'FAIL' | 'ERROR'; detail: string; code?: string }>
}
const byName = (out: ProbeOutput) => Object.fromEntries(out.checks.map((c) => [c.name, c]))

beforeAll(async () => {
  root = await createRootCA()
  tls = await root.issueServer()
  writeFileSync(join(cwd, 'ca.pem'), root.pem)
  const alice = await root.issueClient({ subject: 'CN=alice' })
  writeFileSync(join(cwd, 'alice.pem'), alice.chainPem)
  writeFileSync(join(cwd, 'alice-key.pem'), alice.keyPem, { mode: 0o600 })
})
afterAll(() => tmp.cleanup())

const bytes = (b: Buffer) => b
const SERVICE = {
  who: {
    path: '/probe.Test/Who',
    requestStream: false,
    responseStream: false,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: bytes,
  },
} satisfies grpc.ServiceDefinition

/** Server credentials that ask for a client certificate but let the app judge it (grpc-js has no `createSsl` for that). */
function requestingCredentials(): grpc.ServerCredentials {
  // grpc-js registers its watcher only after adding these listeners: an update delivered
  // synchronously would be lost.
  const provider = (update: () => object) => ({
    addCaCertificateListener: (l: (u: never) => void) => setImmediate(() => l(update() as never)),
    removeCaCertificateListener: () => {},
    addIdentityCertificateListener: (l: (u: never) => void) => setImmediate(() => l(update() as never)),
    removeIdentityCertificateListener: () => {},
  })
  return grpc.experimental.createCertificateProviderServerCredentials(
    provider(() => ({ certificate: Buffer.from(tls.chainPem), privateKey: Buffer.from(tls.keyPem) })),
    provider(() => ({ caCertificate: Buffer.from(root.pem) })),
    false,
  )
}

async function serve(
  credentials: grpc.ServerCredentials,
  who: grpc.handleUnaryCall<Buffer, Buffer>,
  interceptors: grpc.ServerInterceptor[] = [],
): Promise<{ url: string; close(): void }> {
  const server = new grpc.Server({ interceptors })
  server.addService(SERVICE, { who })
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))),
  )
  return { url: `https://127.0.0.1:${port}/probe.Test/Who`, close: () => server.forceShutdown() }
}

const probe = (url: string, ...extra: string[]) =>
  runCli(['probe', url, '--grpc', '--json', '--ca', 'ca.pem', ...extra], cwd)
const withCert = ['--cert', 'alice.pem', '--key', 'alice-key.pem']

describe('clientcert probe --grpc', () => {
  it('passes a server with clientCertInterceptor(), printing each gRPC status and stable code', async () => {
    const app = await serve(
      requestingCredentials(),
      (call, cb) => cb(null, Buffer.from(clientCertOf(call)?.id ?? '')),
      [
        clientCertInterceptor({
          trust: { anchors: root.pem },
          identity: 'cn',
          allow: { authenticated: true },
        }),
      ],
    )
    try {
      const run = await probe(app.url, ...withCert)
      const out = JSON.parse(run.stdout) as ProbeOutput
      expect(
        out.checks.every((c) => c.status === 'PASS'),
        run.stdout,
      ).toBe(true)
      const checks = byName(out)
      expect(checks['no-certificate']).toMatchObject({
        detail: 'answered UNAUTHENTICATED ERR_CLIENT_CERT_MISSING',
        code: 'ERR_CLIENT_CERT_MISSING',
      })
      expect(checks['unknown-ca']?.detail).toBe('answered UNAUTHENTICATED ERR_CLIENT_CERT_UNTRUSTED')
      expect(checks['metadata:rfc9440']?.detail).toBe('answered UNAUTHENTICATED ERR_CLIENT_CERT_MISSING')
      expect(checks['client-certificate']?.detail).toBe('answered OK')
      expect(run.code).toBe(0)
    } finally {
      app.close()
    }
  })

  it('counts a handshake that requires the certificate (checkClientCertificate) as a refusal', async () => {
    const app = await serve(
      grpc.ServerCredentials.createSsl(
        Buffer.from(root.pem),
        [{ private_key: Buffer.from(tls.keyPem), cert_chain: Buffer.from(tls.chainPem) }],
        true,
      ),
      (_call, cb) => cb(null, Buffer.from('ok')),
    )
    try {
      const run = await probe(app.url, ...withCert)
      const checks = byName(JSON.parse(run.stdout) as ProbeOutput)
      expect(checks['no-certificate']).toMatchObject({
        status: 'PASS',
        detail: 'connection refused during TLS',
      })
      expect(checks['unknown-ca']?.status).toBe('PASS')
      expect(checks['client-certificate']?.status).toBe('PASS')
      expect(run.code, run.stdout).toBe(0)
    } finally {
      app.close()
    }
  })

  it('flags a server that answers without a certificate, and one that believes certificate metadata', async () => {
    const open = await serve(requestingCredentials(), (_call, cb) => cb(null, Buffer.from('anyone')))
    const believer = await serve(requestingCredentials(), (call, cb) =>
      call.metadata.get('x-ssl-client-cert').length > 0
        ? cb(null, Buffer.from('from metadata'))
        : cb({ code: grpc.status.UNAUTHENTICATED, details: 'no' }),
    )
    try {
      const a = await probe(open.url)
      expect(byName(JSON.parse(a.stdout) as ProbeOutput)['no-certificate']).toMatchObject({
        status: 'FAIL',
        detail: 'answered OK: accepted without a valid client certificate',
      })
      expect(a.code).toBe(1)
      const b = await probe(believer.url)
      const checks = byName(JSON.parse(b.stdout) as ProbeOutput)
      expect(checks['no-certificate']?.status).toBe('PASS')
      expect(checks['metadata:nginx']?.status).toBe('FAIL')
      expect(b.code).toBe(1)
    } finally {
      open.close()
      believer.close()
    }
  })

  it('stops on an untrusted server certificate, an unknown method or bad arguments', async () => {
    const app = await serve(requestingCredentials(), (_call, cb) => cb(null, Buffer.from('x')))
    try {
      const untrusted = await runCli(['probe', app.url, '--grpc'], cwd)
      expect(untrusted.code).toBe(2)
      expect(untrusted.stderr).toMatch(/server's certificate is not trusted .*--ca/)
      const unknown = await probe(app.url.replace('/Who', '/Nope'))
      expect(byName(JSON.parse(unknown.stdout) as ProbeOutput)['no-certificate']).toMatchObject({
        status: 'ERROR',
        detail: expect.stringContaining('does not implement /probe.Test/Nope'),
      })
      expect(unknown.code).toBe(2)
      for (const args of [
        ['probe', app.url.replace('https:', 'http:'), '--grpc'],
        ['probe', app.url, '--grpc', '--method', 'POST'],
        ['probe', app.url.replace('/probe.Test/Who', '/'), '--grpc', '--ca', 'ca.pem'],
      ]) {
        const bad = await runCli(args, cwd)
        expect(bad.code, args.join(' ')).toBe(2)
      }
    } finally {
      app.close()
    }
  })
})
