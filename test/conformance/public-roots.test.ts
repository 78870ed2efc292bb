/**
 * Issue 13, finding 4, in every adapter: TLS-stack trust whose verified chain holds one of Node's
 * bundled public roots meets a policy naming nobody → 500 ERR_CLIENT_CERT_MISCONFIGURED with the
 * shared problem body, before any parser or handler; a policy naming the client still admits it.
 *
 * No test can hold a public root's key, so the fixtures' client root is added to
 * `tls.rootCertificates` (and to nothing else) by a module mock; the handshake, the chain Node
 * reports and each adapter's answer are real. See packages/core/test/public-roots.test.ts.
 *
 * The mock must reach the *built* core the drivers load, which holds only while Vitest runs the
 * workspace packages' `dist` through its module runner (`server.deps.inline` in
 * vitest.config.ts). A first test proves it through the public API — the startup check refuses
 * the marked root as an app-level anchor — so a loader change fails there, by name, rather than
 * as eleven wrong statuses.
 */
import {
  ClientCertConfigError,
  type ClientCertError,
  type ClientCertOptions,
  createClientCertAuthenticator,
} from '@clientcert/core'
import { createRootCA, requestUpgrade, requestWithUndici } from '@clientcert/testing'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createFixtures, type Fixtures } from '../support/fixtures.js'
import type { Probes } from './driver.js'
import { drivers } from './drivers/index.js'

const markedPublic = vi.hoisted(() => [] as string[])
vi.mock('node:tls', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:tls')>()
  return {
    ...real,
    get rootCertificates() {
      return [...real.rootCertificates, ...markedPublic]
    },
  }
})

let f: Fixtures
/** The client root re-issued with the same name and key: a public CA by key, not by fingerprint. */
let reissuedRootPem: string
beforeAll(async () => {
  f = await createFixtures()
  markedPublic.push(f.pki.root.pem)
  const reissued = await createRootCA({ subject: f.pki.root.certificate.subject, keys: f.pki.root.keys })
  reissuedRootPem = reissued.pem
})
afterAll(() => f.close())

it('the marked root reaches the built core the drivers load', () => {
  const asAnchor = () =>
    createClientCertAuthenticator({ trust: { anchors: [f.pki.root.pem] }, allow: { authenticated: true } })
  expect(asAnchor).toThrow(ClientCertConfigError)
  expect(asAnchor).toThrow(/bundled public roots/)
})

for (const driver of drivers) {
  describe(`public root behind TLS-stack trust: ${driver.name}`, () => {
    for (const [allow, status, serverCa] of [
      [{ authenticated: true }, 500, 'marked'],
      [{ ids: ['alice'] }, 200, 'marked'],
      [{ authenticated: true }, 500, 'reissued'],
    ] as const) {
      const label = serverCa === 'marked' ? '' : ', server ca = the root re-issued with its key'
      it(`allow ${JSON.stringify(allow)}${label} → ${status}`, async () => {
        vi.spyOn(console, 'warn').mockImplementation(() => {})
        const probes: Probes = { parsed: 0, handled: 0, logged: [] }
        const rejected: ClientCertError[] = []
        const auth = {
          identity: 'cn',
          allow,
          onRejected: (e: ClientCertError) => rejected.push(e),
        } as ClientCertOptions
        const tls = {
          ...f.pki.server.tlsOptions(),
          ca: [serverCa === 'marked' ? f.pki.root.pem : reissuedRootPem],
          requestCert: true,
          rejectUnauthorized: true,
        }
        const app = await driver.start({ auth }, probes, { tls, host: '127.0.0.1' })
        try {
          // An upgrade driver answers handshakes only: the same judgement, over a WebSocket upgrade.
          const res = driver.upgrade
            ? await requestUpgrade(app.url, {
                path: '/whoami',
                client: f.clients.alice,
                ca: f.pki.serverCa.pem,
              })
            : await requestWithUndici(app.url, {
                path: '/echo',
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                // Malformed where the client must be refused: a 400 would mean the parser ran.
                body: status === 500 ? '{"not json' : '{"hello":"world"}',
                client: f.clients.alice,
                ca: f.pki.serverCa.pem,
                allowH2: driver.http2 === true,
              })
          expect(res.status, res.body).toBe(status)
          if (status === 500) {
            expect(JSON.parse(res.body)).toMatchObject({ code: 'ERR_CLIENT_CERT_MISCONFIGURED', status: 500 })
            expect(res.body).not.toMatch(/bundled|BEGIN CERTIFICATE/)
            expect(probes.parsed + probes.handled).toBe(0)
            expect(rejected.at(-1)?.code).toBe('ERR_CLIENT_CERT_MISCONFIGURED')
          }
        } finally {
          vi.restoreAllMocks()
          await app.close()
        }
      })
    }
  })
}
