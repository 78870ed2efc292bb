import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createTestPki, type IssuedCertificate } from '@clientcert/testing'

export interface TlsMaterial {
  readonly cert: string
  readonly key: string
  readonly clientCa: string
  /** Where a development PKI was written, when one was generated. */
  readonly devDir?: string
}

/**
 * TLS_CERT, TLS_KEY and CLIENT_CA when set; otherwise a development PKI generated into
 * `.certs/` (git-ignored), with client certificates for alice and admin.
 */
export async function loadTlsMaterial(env: NodeJS.ProcessEnv, baseDir: string): Promise<TlsMaterial> {
  const { TLS_CERT, TLS_KEY, CLIENT_CA } = env
  if (TLS_CERT || TLS_KEY || CLIENT_CA) {
    if (!TLS_CERT || !TLS_KEY || !CLIENT_CA)
      throw new Error('set all of TLS_CERT, TLS_KEY and CLIENT_CA, or none')
    return {
      cert: readFileSync(TLS_CERT, 'utf8'),
      key: readFileSync(TLS_KEY, 'utf8'),
      clientCa: readFileSync(CLIENT_CA, 'utf8'),
    }
  }
  const dir = join(baseDir, '.certs')
  mkdirSync(dir, { recursive: true })
  const pki = await createTestPki()
  const write = (name: string, data: string, secret = false) =>
    writeFileSync(join(dir, name), data, { mode: secret ? 0o600 : 0o644 })
  const writeClient = (name: string, c: IssuedCertificate) => {
    write(`${name}.pem`, c.chainPem)
    write(`${name}-key.pem`, c.keyPem, true)
  }
  write('client-ca.pem', pki.clientCaPem)
  write('server-ca.pem', pki.serverCa.pem)
  write('server.pem', pki.server.chainPem)
  write('server-key.pem', pki.server.keyPem, true)
  writeClient('alice', await pki.issueClient({ subject: 'CN=alice' }))
  writeClient('admin', await pki.issueClient({ subject: 'CN=admin' }))
  return { cert: pki.server.chainPem, key: pki.server.keyPem, clientCa: pki.clientCaPem, devDir: dir }
}
