import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createTestPki } from './test-pki.js'

/** TLS material for a development server. */
export interface DevTls {
  /** Server certificate chain PEM. */
  readonly cert: string
  /** Server private key PEM. */
  readonly key: string
  /** Client CA PEM the server trusts. */
  readonly clientCa: string
  /** Where a development PKI was written, when one was generated. */
  readonly devDir?: string
}

/**
 * Server TLS material for examples and local development: the files named by `TLS_CERT`,
 * `TLS_KEY` and `CLIENT_CA` when set (all three, or none), otherwise a fresh development PKI
 * written to `dir` — `client-ca.pem`, `server-ca.pem`, `server.pem`, `server-key.pem` and
 * `<name>.pem` / `<name>-key.pem` for each client (keys mode 0600). Never for production.
 */
export async function loadOrCreateDevTls(
  env: NodeJS.ProcessEnv,
  dir: string,
  clients: readonly string[] = ['alice', 'admin'],
): Promise<DevTls> {
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
  mkdirSync(dir, { recursive: true })
  const pki = await createTestPki()
  const write = (name: string, data: string, secret = false) =>
    writeFileSync(join(dir, name), data, { mode: secret ? 0o600 : 0o644 })
  write('client-ca.pem', pki.clientCaPem)
  write('server-ca.pem', pki.serverCa.pem)
  write('server.pem', pki.server.chainPem)
  write('server-key.pem', pki.server.keyPem, true)
  for (const name of clients) {
    const c = await pki.issueClient({ subject: `CN=${name}` })
    write(`${name}.pem`, c.chainPem)
    write(`${name}-key.pem`, c.keyPem, true)
  }
  return { cert: pki.server.chainPem, key: pki.server.keyPem, clientCa: pki.clientCaPem, devDir: dir }
}
