import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { requestWithHttps } from '@clientcert/testing'
import { expect, it } from 'vitest'
import { caddyConfig } from './configs.js'
import { attempt, describeOutcome } from './harness.js'
import { proxySuite } from './suite.js'

// client --mTLS--> Caddy 127.0.0.1 --HTTP from 127.0.0.1--> Express + clientCert()
// Caddy 2.6's reverse_proxy cannot bind a source address, so 127.0.0.1 is the trusted proxy
// here and the stranger connects from 127.0.0.3.
proxySuite({
  name: 'caddy',
  format: 'caddy',
  debPackage: 'caddy',
  versionArgs: ['version'],
  proxyAddress: '127.0.0.1',
  extraListeners: 1,
  laxExpired: 'app',
  optionalNoCertCode: 'ERR_CLIENT_CERT_MISSING',
  launch(m, ports, appPort, [ipSite]) {
    const file = join(m.dir, 'Caddyfile')
    writeFileSync(file, caddyConfig(m, ports, appPort, ipSite))
    const home = join(m.dir, 'caddy-home')
    for (const d of ['', 'data', 'config']) mkdirSync(join(home, d), { recursive: true })
    return {
      args: ['run', '--config', file, '--adapter', 'caddyfile'],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: home,
        XDG_DATA_HOME: join(home, 'data'),
        XDG_CONFIG_HOME: join(home, 'config'),
      },
    }
  },
  extra(c) {
    it('an IP-addressed site (`https://127.0.0.1:port`): a client without SNI never reaches the app', async () => {
      // The adapter matches that site's client_auth policy on SNI 127.0.0.1 and adds a catch-all
      // policy without client authentication; clients connecting by IP send no SNI. Caddy's
      // strict SNI/Host check (on whenever client auth is configured) answers 421 instead.
      const { m, extraPorts, log, snapshot } = c()
      for (const client of [m.alice, null]) {
        const before = snapshot()
        const o = await attempt(
          requestWithHttps(`https://127.0.0.1:${extraPorts[0]}`, {
            ca: m.pki.serverCa.pem,
            path: '/whoami',
            client,
            timeoutMs: 5000,
          }),
        )
        log(`ip-site ${client ? 'alice' : 'no cert'} without SNI`, o)
        expect(o.kind === 'response' && o.status, describeOutcome(o)).toBe(421)
        expect(snapshot(), 'the app ran').toEqual(before)
      }
    })
  },
})
