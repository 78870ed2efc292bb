/**
 * Expiry warnings without OpenTelemetry (issue 17): createExpiryMonitor over an authenticator's
 * anchors, intermediates and CRLs and over the server's own certificate from
 * createMtlsServerOptions, and describeTrust(). Certificates are generated at test time.
 */
import {
  ClientCertConfigError,
  createClientCertAuthenticator,
  createExpiryMonitor,
  createMtlsServerOptions,
  describeTrust,
  type ExpiringItem,
} from '@clientcert/core'
import { createCrl, createRootCA } from '@clientcert/testing'
import { afterEach, describe, expect, it, vi } from 'vitest'

const DAY = 86_400_000
const NOW = Date.now()
const inDays = (d: number) => new Date(NOW + d * DAY)

afterEach(() => {
  vi.useRealTimers()
})

async function material() {
  // A long-lived root, an intermediate expiring in 10 days, a CRL due in 2 days.
  const root = await createRootCA({ subject: 'CN=Long Root', notAfter: inDays(3000) })
  const intermediate = await root.issueIntermediate({
    subject: 'CN=Short Intermediate',
    notAfter: inDays(10),
  })
  const crl = createCrl(intermediate, { thisUpdate: inDays(-1), nextUpdate: inDays(2) })
  const rootCrl = createCrl(root, { thisUpdate: inDays(-1), nextUpdate: inDays(300) })
  const authenticator = createClientCertAuthenticator({
    trust: { anchors: root.pem, intermediates: intermediate.pem },
    allow: { authenticated: true },
    revocation: { crls: { sources: [crl.pem, rootCrl.pem] } },
  })
  const serverCa = await createRootCA({ subject: 'CN=Server CA', notAfter: inDays(400) })
  const server = await serverCa.issueServer({ notAfter: inDays(5) })
  const serverOptions = createMtlsServerOptions({ cert: server.pem, key: server.keyPem, clientCa: root.pem })
  return { authenticator, serverOptions, root, intermediate, server }
}

describe('describeTrust', () => {
  it('lists anchors, intermediates and CRLs with their dates', async () => {
    const { authenticator, root, intermediate } = await material()
    const t = describeTrust(authenticator)
    expect(t.anchors).toEqual([
      {
        subject: 'CN=Long Root',
        sha256: root.fingerprint256.replaceAll(':', '').toLowerCase(),
        notBefore: root.certificate.notBefore.toISOString(),
        notAfter: root.certificate.notAfter.toISOString(),
      },
    ])
    expect(t.intermediates[0]?.notAfter).toBe(intermediate.certificate.notAfter.toISOString())
    expect(t.crls.map((c) => [c.issuer, c.origin])).toEqual([
      ['CN=Short Intermediate', 'configured'],
      ['CN=Long Root', 'configured'],
    ])
    expect(() => describeTrust({} as never)).toThrow(ClientCertConfigError)
  })
})

describe('createExpiryMonitor', () => {
  it('reports intermediates, CRLs and the server certificate within the horizon, soonest first', async () => {
    const { authenticator, serverOptions } = await material()
    const reports: (readonly ExpiringItem[])[] = []
    const monitor = createExpiryMonitor({
      authenticator,
      serverOptions,
      horizonDays: 30,
      onExpiringSoon: (items) => reports.push(items),
      now: () => NOW,
    })
    try {
      expect(reports).toHaveLength(1)
      expect(reports[0]!.map((i) => [i.kind, i.name, i.daysLeft])).toEqual([
        // CRL times are whole seconds: a little under 2 days.
        ['crl', 'CN=Short Intermediate', 1],
        ['server-certificate', expect.stringContaining('CN=localhost'), expect.any(Number)],
        ['intermediate', 'CN=Short Intermediate', expect.any(Number)],
      ])
      // The long-lived root, the root's CRL and the server CA are outside the 30-day horizon.
      expect(reports[0]!.some((i) => i.name === 'CN=Long Root')).toBe(false)
    } finally {
      monitor.close()
    }
  })

  it('looks again every intervalMs and follows updateTrust', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
    const { authenticator } = await material()
    const reports: (readonly ExpiringItem[])[] = []
    const monitor = createExpiryMonitor({
      authenticator,
      horizonDays: 1,
      intervalMs: 60_000,
      onExpiringSoon: (items) => reports.push(items),
    })
    expect(reports).toHaveLength(0)
    const soon = await createRootCA({ subject: 'CN=Dying Root', notAfter: new Date(Date.now() + DAY / 2) })
    authenticator.updateTrust({ trust: { anchors: soon.pem } })
    vi.advanceTimersByTime(60_000)
    expect(reports).toHaveLength(1)
    expect(reports[0]!.map((i) => [i.kind, i.name, i.daysLeft])).toEqual([['anchor', 'CN=Dying Root', 0]])
    monitor.close()
    vi.advanceTimersByTime(120_000)
    expect(reports).toHaveLength(1)
  })

  it('a throwing hook does not stop the monitor; mistakes are configuration errors', async () => {
    const { authenticator } = await material()
    const monitor = createExpiryMonitor({
      authenticator,
      horizonDays: 30,
      onExpiringSoon: () => {
        throw new Error('pager down')
      },
    })
    expect(monitor.check().length).toBeGreaterThan(0)
    monitor.close()
    const ok = { authenticator, horizonDays: 30, onExpiringSoon: () => {} }
    expect(() => createExpiryMonitor({ ...ok, horizonDays: 0 })).toThrow(/horizonDays/)
    expect(() => createExpiryMonitor({ ...ok, horizonDays: undefined as never })).toThrow(/horizonDays/)
    expect(() => createExpiryMonitor({ ...ok, onExpiringSoon: undefined as never })).toThrow(/onExpiringSoon/)
    expect(() => createExpiryMonitor({ ...ok, intervalMs: 5 })).toThrow(/intervalMs/)
    expect(() => createExpiryMonitor({ ...ok, authenticator: {} as never })).toThrow(/authenticator/)
    expect(() => createExpiryMonitor({ horizonDays: 30, onExpiringSoon: () => {} })).toThrow(/authenticator/)
    expect(() => createExpiryMonitor({ ...ok, serverOptions: { cert: 'nope' } })).toThrow(
      /serverOptions\[0\]\.cert/,
    )
    expect(() => createExpiryMonitor({ ...ok, extra: 1 } as never)).toThrow(/extra/)
  })
})
