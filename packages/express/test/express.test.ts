import { execFileSync } from 'node:child_process'
import { ClientCertConfigError } from '@clientcert/core'
import { clientCert, requireClientCert } from '@clientcert/express'
import { createTestPki, requestWithUndici, startMtlsServer } from '@clientcert/testing'
import express from 'express'
import { describe, expect, it } from 'vitest'

describe('@clientcert/express configuration', () => {
  it('throws coded errors at construction', () => {
    const cases: Array<[() => unknown, string]> = [
      [() => clientCert({ allow: { authenticated: true }, nope: 1 } as never), 'nope'],
      [() => clientCert({ identity: 'cn' } as never), 'allow'],
      [() => clientCert({ allow: { authenticated: true }, optional: 'yes' } as never), 'optional'],
      [() => clientCert({ authenticator: {} } as never), 'authenticator'],
      [() => requireClientCert({ ids: ['a'], groups: ['b'] } as never), 'requireClientCert(policy)'],
      [
        () => requireClientCert({ spiffe: { trustDomain: 'Example.org' } }),
        'requireClientCert(policy).spiffe.trustDomain',
      ],
    ]
    for (const [fn, option] of cases) {
      let caught: unknown
      try {
        fn()
      } catch (err) {
        caught = err
      }
      expect(caught).toBeInstanceOf(ClientCertConfigError)
      expect(caught).toMatchObject({ code: 'ERR_CLIENT_CERT_INVALID_OPTION', option })
    }
  })

  it('requireClientCert() without clientCert() before it fails closed with 500', async () => {
    const pki = await createTestPki()
    const app = express()
    let handled = false
    app.get('/', requireClientCert(), (_req, res) => {
      handled = true
      res.end('ok')
    })
    const server = await startMtlsServer(app, { pki, rejectUnauthorized: false })
    try {
      const alice = await pki.issueClient({ subject: 'CN=alice' })
      const res = await requestWithUndici(server.url, { client: alice, ca: pki.serverCa.pem })
      expect(res.status).toBe(500)
      expect(res.json()).toMatchObject({ code: 'ERR_CLIENT_CERT_MISCONFIGURED', status: 500 })
      expect(handled).toBe(false)
    } finally {
      await server.close()
    }
  })

  it('loads from CommonJS and from ESM', () => {
    const cjs = execFileSync(
      process.execPath,
      [
        '-e',
        "const m = require('@clientcert/express'); console.log(typeof m.clientCert, typeof m.requireClientCert)",
      ],
      {
        cwd: new URL('..', import.meta.url),
      },
    )
    expect(cjs.toString().trim()).toBe('function function')
    const esm = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const m = await import('@clientcert/express'); console.log(typeof m.clientCert)",
      ],
      { cwd: new URL('..', import.meta.url) },
    )
    expect(esm.toString().trim()).toBe('function')
  })
})
