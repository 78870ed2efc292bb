import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CertificateAuthority, createRootCA, type IssuedCertificate } from '@clientcert/testing'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  createClientCertAuthenticator,
  createExpiryMonitor,
  describeTrust,
  type ExpiringItem,
  watchTrust,
} from '../src/index.js'

/**
 * Expiry signals for what watchTrust loads (the observability issue's expiry facts): every set
 * applied is looked at, the server certificate and the front-proxy CA included.
 */

const DAY = 86_400_000
let shortCa: CertificateAuthority
let longCa: CertificateAuthority
let proxyCa: CertificateAuthority
let server: IssuedCertificate

beforeAll(async () => {
  const now = Date.now()
  ;[shortCa, longCa, proxyCa] = await Promise.all([
    createRootCA({ subject: 'CN=Short Client CA', notAfter: new Date(now + 5 * DAY) }),
    createRootCA({ subject: 'CN=Long Client CA', notAfter: new Date(now + 900 * DAY) }),
    createRootCA({ subject: 'CN=Front Proxy CA', notAfter: new Date(now + 10 * DAY) }),
  ])
  const serverCa = await createRootCA({ subject: 'CN=Server CA' })
  server = await serverCa.issueServer({ notAfter: new Date(now + 3 * DAY) })
})

function dir() {
  const d = mkdtempSync(join(tmpdir(), 'cc-expiry-'))
  return (name: string, text: string) => {
    writeFileSync(join(d, name), text)
    return join(d, name)
  }
}

const kinds = (items: readonly ExpiringItem[]) => items.map((i) => `${i.kind}:${i.name}`).sort()

describe('watchTrust: expiry signals for what it loads', () => {
  it('reports the anchors, the proxy CA and the server certificate of every applied set', () => {
    const file = dir()
    const auth = createClientCertAuthenticator({
      source: { forwarded: { format: 'nginx', proxyCertificate: { anchors: proxyCa.pem } } },
      trust: { anchors: longCa.pem },
      allow: { authenticated: true },
    })
    const reports: (readonly ExpiringItem[])[] = []
    const fakeServer = { setSecureContext() {}, setTicketKeys() {} }
    const watcher = watchTrust({
      authenticator: auth,
      anchors: file('ca.pem', shortCa.pem),
      proxyAnchors: file('proxy.pem', proxyCa.pem),
      serverCert: file('server.pem', server.chainPem),
      serverKey: file('server-key.pem', server.keyPem),
      server: fakeServer,
      intervalMs: 0,
      expiry: { horizonDays: 30, onExpiringSoon: (items) => reports.push(items) },
    })
    try {
      expect(reports).toHaveLength(1)
      expect(kinds(reports[0]!)).toEqual([
        'anchor:CN=Short Client CA',
        'proxy-anchor:CN=Front Proxy CA',
        'server-certificate:CN=localhost',
      ])
      const anchor = reports[0]!.find((i) => i.kind === 'anchor')!
      expect(anchor.daysLeft).toBe(4)
      // A new, long-lived client CA: the next report no longer names the old one.
      file('ca.pem', longCa.pem)
      expect(watcher.reload()).toBe(true)
      expect(kinds(reports.at(-1)!)).toEqual([
        'proxy-anchor:CN=Front Proxy CA',
        'server-certificate:CN=localhost',
      ])
    } finally {
      watcher.close()
    }
  })

  it('a horizon outside 1–3650 days or a missing hook is a configuration error', () => {
    const file = dir()
    const auth = createClientCertAuthenticator({
      trust: { anchors: longCa.pem },
      allow: { authenticated: true },
    })
    const anchors = file('ca.pem', longCa.pem)
    for (const expiry of [{ horizonDays: 0, onExpiringSoon: () => {} }, { horizonDays: 30 }])
      expect(() => watchTrust({ authenticator: auth, anchors, intervalMs: 0, expiry } as never)).toThrow(
        /watchTrust\.expiry/,
      )
  })
})

describe('describeTrust and the expiry monitor: the front-proxy CA', () => {
  it('describeTrust lists the proxy anchors; the monitor reports them as proxy-anchor', () => {
    const auth = createClientCertAuthenticator({
      source: { forwarded: { format: 'nginx', proxyCertificate: { anchors: proxyCa.pem } } },
      trust: { anchors: longCa.pem },
      allow: { authenticated: true },
    })
    expect(describeTrust(auth).proxyAnchors.map((c) => c.subject)).toEqual(['CN=Front Proxy CA'])
    const seen: (readonly ExpiringItem[])[] = []
    const monitor = createExpiryMonitor({
      authenticator: auth,
      horizonDays: 30,
      onExpiringSoon: (items) => seen.push(items),
    })
    monitor.close()
    expect(kinds(seen[0]!)).toEqual(['proxy-anchor:CN=Front Proxy CA'])
  })
})
