import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CertificateAuthority, createRootCA, type IssuedCertificate } from '@clientcert/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  createCrl,
  type OcspResponder,
  revocationExtensions,
  startOcspResponder,
} from '../../testing/src/revocation.js'
import { type ParsedCertificate, parseCertificate } from '../src/cert/parse.js'
import { ClientCertConfigError } from '../src/errors.js'
import {
  createRevocationChecker,
  crlDistributionPointUrls,
  ocspUrls,
  type RevocationChecker,
  type RevocationOptions,
  resolveRevocationOptions,
} from '../src/revocation/index.js'

const HOUR = 3_600_000
const now = () => Date.now()
const serial = (c: IssuedCertificate) => c.certificate.serialNumber.toLowerCase()
const p = (...certs: IssuedCertificate[]): ParsedCertificate[] => certs.map((c) => parseCertificate(c.der))

const checkers: RevocationChecker[] = []
function checker(opts: RevocationOptions): RevocationChecker {
  const c = createRevocationChecker(resolveRevocationOptions(opts), now)
  checkers.push(c)
  return c
}
afterEach(() => {
  for (const c of checkers.splice(0)) c.close()
})

let root: CertificateAuthority
let inter: CertificateAuthority
let leaf: IssuedCertificate
let other: CertificateAuthority
let path: ParsedCertificate[]

beforeAll(async () => {
  root = await createRootCA({ subject: 'CN=Revocation Root' })
  inter = await root.issueIntermediate({ subject: 'CN=Revocation Intermediate' })
  leaf = await inter.issueClient({ subject: 'CN=alice' })
  // Same name as the root, different key: its CRLs must never be taken for the root's.
  other = await createRootCA({ subject: 'CN=Revocation Root' })
  path = p(leaf, inter, root)
})

describe('static CRLs', () => {
  it('accepts when every issuer has a current CRL not listing the certificate', async () => {
    const c = checker({ crls: { sources: [createCrl(root).der, createCrl(inter).pem] } })
    expect(await c.check(path)).toEqual({ ok: true })
  })

  it('rejects a leaf revoked by its issuer CRL', async () => {
    const c = checker({
      crls: {
        sources: [createCrl(root).der, createCrl(inter, { revoked: [{ serialNumber: serial(leaf) }] }).der],
      },
    })
    const r = await c.check(path)
    expect(r).toMatchObject({ ok: false, revoked: true })
  })

  it('rejects a revoked intermediate', async () => {
    const c = checker({
      crls: {
        sources: [createCrl(root, { revoked: [{ serialNumber: serial(inter) }] }).der, createCrl(inter).der],
      },
    })
    expect(await c.check(path)).toMatchObject({ ok: false, revoked: true })
  })

  it('rejects a stale CRL, accepts it with softFail', async () => {
    const stale = createCrl(inter, {
      thisUpdate: new Date(Date.now() - 48 * HOUR),
      nextUpdate: new Date(Date.now() - HOUR),
    })
    const sources = [createCrl(root).der, stale.der]
    const r = await checker({ crls: { sources } }).check(path)
    expect(r).toMatchObject({ ok: false, revoked: false })
    expect(r.ok === false && r.reason).toMatch(/stale/)
    const soft = await checker({ crls: { sources }, softFail: true }).check(path)
    expect(soft.ok).toBe(true)
    expect(soft.ok && soft.warnings?.join()).toMatch(/stale/)
  })

  it('treats a revocation listed in an authentic but stale CRL as revoked, even with softFail', async () => {
    const stale = createCrl(inter, {
      revoked: [{ serialNumber: serial(leaf) }],
      thisUpdate: new Date(Date.now() - 48 * HOUR),
      nextUpdate: new Date(Date.now() - HOUR),
    })
    const r = await checker({ crls: { sources: [createCrl(root).der, stale.der] }, softFail: true }).check(
      path,
    )
    expect(r).toMatchObject({ ok: false, revoked: true })
  })

  it('rejects a CRL whose thisUpdate is in the future', async () => {
    const future = createCrl(inter, { thisUpdate: new Date(Date.now() + HOUR) })
    const r = await checker({ crls: { sources: [createCrl(root).der, future.der] } }).check(path)
    expect(r).toMatchObject({ ok: false, revoked: false })
  })

  it('rejects a CRL without nextUpdate', async () => {
    const r = await checker({
      crls: { sources: [createCrl(root).der, createCrl(inter, { nextUpdate: null }).der] },
    }).check(path)
    expect(r.ok === false && r.reason).toMatch(/nextUpdate/)
  })

  it('rejects a CRL signed by another key (and ignores the revocations it lists)', async () => {
    const forged = createCrl(inter, { signer: other, revoked: [{ serialNumber: serial(leaf) }] })
    const r = await checker({ crls: { sources: [createCrl(root).der, forged.der] } }).check(path)
    expect(r).toMatchObject({ ok: false, revoked: false })
    expect(r.ok === false && r.reason).toMatch(/signature/)
    expect(
      (await checker({ crls: { sources: [createCrl(root).der, forged.der] }, softFail: true }).check(path))
        .ok,
    ).toBe(true)
  })

  it('uses the CRL of the right issuer when another CA has the same name', async () => {
    const impostor = createCrl(other)
    const real = createCrl(root, { revoked: [{ serialNumber: serial(inter) }] })
    const c = checker({ crls: { sources: [impostor.der, real.der, createCrl(inter).der] } })
    expect(await c.check(path)).toMatchObject({ ok: false, revoked: true })
    const onlyImpostor = checker({ crls: { sources: [impostor.der, createCrl(inter).der] } })
    expect(await onlyImpostor.check(path)).toMatchObject({ ok: false, revoked: false })
  })

  it('rejects an unparseable CRL, accepts with softFail', async () => {
    const junk = new Uint8Array([0x30, 0x03, 0x02, 0x01])
    const sources = [createCrl(root).der, junk]
    const r = await checker({ crls: { sources } }).check(path)
    expect(r).toMatchObject({ ok: false, revoked: false })
    expect(r.ok === false && r.reason).toMatch(/unloadable sources/)
    expect((await checker({ crls: { sources }, softFail: true }).check(path)).ok).toBe(true)
  })

  it('rejects when an issuer has no CRL, accepts with softFail', async () => {
    const r = await checker({ crls: { sources: [createCrl(inter).der] } }).check(path)
    expect(r.ok === false && r.reason).toMatch(/no CRL for issuer CN=Revocation Root/)
    expect(
      (await checker({ crls: { sources: [createCrl(inter).der] }, softFail: true }).check(path)).ok,
    ).toBe(true)
  })

  it('makes a CRL with an unknown critical extension unusable', async () => {
    const crl = createCrl(inter, {
      extensions: [{ oid: '1.2.3.4.5', critical: true, value: new Uint8Array([5, 0]) }],
    })
    const r = await checker({ crls: { sources: [createCrl(root).der, crl.der] } }).check(path)
    expect(r.ok === false && r.reason).toMatch(/critical CRL extension/)
  })

  it('accepts a path that is only the anchor', async () => {
    expect(await checker({ crls: { sources: [createCrl(inter).der] } }).check(p(root))).toEqual({ ok: true })
  })

  it('reloads file sources on the interval', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'clientcert-crl-'))
    try {
      const file = join(dir, 'inter.crl')
      writeFileSync(file, createCrl(inter).pem)
      const c = checker({ crls: { sources: [createCrl(root).der, { file }], reloadIntervalMs: 100 } })
      expect(await c.check(path)).toEqual({ ok: true })
      writeFileSync(file, createCrl(inter, { revoked: [{ serialNumber: serial(leaf) }] }).der)
      await vi.waitFor(async () => expect(await c.check(path)).toMatchObject({ ok: false, revoked: true }), {
        timeout: 3000,
        interval: 50,
      })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('update() replaces the CRL material', async () => {
    const c = checker({ crls: { sources: [createCrl(root).der, createCrl(inter).der] } })
    expect((await c.check(path)).ok).toBe(true)
    c.update({
      sources: [createCrl(root).der, createCrl(inter, { revoked: [{ serialNumber: serial(leaf) }] }).der],
    })
    expect(await c.check(path)).toMatchObject({ ok: false, revoked: true })
    expect(() => c.update({ sources: [] })).toThrow(ClientCertConfigError)
  })
})

/** A loopback HTTP server serving whatever `handler` decides; counts requests. */
async function httpServer(handler: (url: string) => { status?: number; body: Uint8Array; delayMs?: number }) {
  let hits = 0
  const server: Server = createServer((req, res) => {
    hits++
    const r = handler(req.url ?? '/')
    const send = () => res.writeHead(r.status ?? 200, { 'content-length': r.body.length }).end(r.body)
    if (r.delayMs) setTimeout(send, r.delayMs).unref()
    else send()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    base: `http://127.0.0.1:${port}`,
    get hits() {
      return hits
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

describe('CRL distribution points', () => {
  let server: Awaited<ReturnType<typeof httpServer>>
  let crls: Record<string, { body: Uint8Array; delayMs?: number }>
  let cdpRoot: CertificateAuthority
  let cdpLeaf: IssuedCertificate
  let revokedLeaf: IssuedCertificate
  let bigLeaf: IssuedCertificate
  let slowLeaf: IssuedCertificate

  beforeAll(async () => {
    crls = {}
    server = await httpServer((url) => crls[url] ?? { status: 404, body: new Uint8Array() })
    cdpRoot = await createRootCA({ subject: 'CN=CDP Root' })
    const ext = (name: string) => revocationExtensions({ crlUrl: `${server.base}/${name}` })
    cdpLeaf = await cdpRoot.issueClient({ extensions: ext('root.crl') })
    revokedLeaf = await cdpRoot.issueClient({ extensions: ext('root.crl') })
    bigLeaf = await cdpRoot.issueClient({ extensions: ext('big.crl') })
    slowLeaf = await cdpRoot.issueClient({ extensions: ext('slow.crl') })
    const crl = createCrl(cdpRoot, { revoked: [{ serialNumber: serial(revokedLeaf) }] })
    crls['/root.crl'] = { body: crl.der }
    crls['/big.crl'] = { body: crl.der }
    crls['/slow.crl'] = { body: crl.der, delayMs: 2000 }
  })
  afterAll(() => server.close())

  it('reads the distribution point URL from the certificate', () => {
    expect(crlDistributionPointUrls(cdpLeaf.der)).toEqual([`${server.base}/root.crl`])
    expect(crlDistributionPointUrls(leaf.der)).toEqual([])
  })

  it('fetches, checks and caches the CRL', async () => {
    const c = checker({ crlDistributionPoints: true })
    const before = server.hits
    expect(await c.check(p(cdpLeaf, cdpRoot))).toEqual({ ok: true })
    expect(await c.check(p(revokedLeaf, cdpRoot))).toMatchObject({ ok: false, revoked: true })
    expect(server.hits - before).toBe(1)
  })

  it('rejects a CRL above the size cap', async () => {
    const r = await checker({ crlDistributionPoints: { maxBytes: 64 } }).check(p(bigLeaf, cdpRoot))
    expect(r.ok === false && r.reason).toMatch(/larger than 64 bytes/)
  })

  it('times out', async () => {
    const started = Date.now()
    const r = await checker({ crlDistributionPoints: { timeoutMs: 200 } }).check(p(slowLeaf, cdpRoot))
    expect(r.ok === false && r.reason).toMatch(/timed out/)
    expect(Date.now() - started).toBeLessThan(1500)
  })

  it('rejects a certificate without a distribution point, unless softFail', async () => {
    const noCdp = await cdpRoot.issueClient()
    expect((await checker({ crlDistributionPoints: true }).check(p(noCdp, cdpRoot))).ok).toBe(false)
    expect((await checker({ crlDistributionPoints: true, softFail: true }).check(p(noCdp, cdpRoot))).ok).toBe(
      true,
    )
  })

  it('rejects on HTTP errors and goes through an injected fetch', async () => {
    const seen: string[] = []
    const r = await checker({
      crlDistributionPoints: true,
      fetch: async (url) => {
        seen.push(url)
        return { status: 503, body: new Uint8Array() }
      },
    }).check(p(cdpLeaf, cdpRoot))
    expect(r.ok === false && r.reason).toMatch(/HTTP status 503/)
    expect(seen).toEqual([`${server.base}/root.crl`])
  })
})

describe('OCSP', () => {
  let ca: CertificateAuthority
  const responders: OcspResponder[] = []
  afterEach(async () => {
    for (const r of responders.splice(0)) await r.close()
  })
  async function responder(opts: Partial<Parameters<typeof startOcspResponder>[0]> = {}) {
    const r = await startOcspResponder({ ca, statuses: () => 'good', ...opts })
    responders.push(r)
    return r
  }
  async function leafFor(url: string) {
    return ca.issueClient({ extensions: revocationExtensions({ ocspUrl: url }) })
  }

  beforeAll(async () => {
    ca = await createRootCA({ subject: 'CN=OCSP Root' })
  })

  it('reads the responder URL from AIA', async () => {
    const l = await leafFor('http://127.0.0.1:1/ocsp')
    expect(ocspUrls(l.der)).toEqual(['http://127.0.0.1:1/ocsp'])
  })

  it('accepts good, rejects revoked (also with softFail)', async () => {
    const revokedSerial = '7e57ab1e0001'
    const r = await responder({ statuses: (s) => (s === revokedSerial ? 'revoked' : 'good') })
    const good = await leafFor(r.url)
    const bad = await ca.issueClient({
      serialNumber: revokedSerial,
      extensions: revocationExtensions({ ocspUrl: r.url }),
    })
    expect(await checker({ ocsp: true }).check(p(good, ca))).toEqual({ ok: true })
    expect(await checker({ ocsp: true }).check(p(bad, ca))).toMatchObject({ ok: false, revoked: true })
    expect(await checker({ ocsp: true, softFail: true }).check(p(bad, ca))).toMatchObject({
      ok: false,
      revoked: true,
    })
  })

  it('rejects unknown, accepts it with softFail', async () => {
    const r = await responder({ statuses: () => 'unknown' })
    const l = await leafFor(r.url)
    const res = await checker({ ocsp: true }).check(p(l, ca))
    expect(res.ok === false && res.reason).toMatch(/unknown/)
    expect((await checker({ ocsp: true, softFail: true }).check(p(l, ca))).ok).toBe(true)
  })

  it('rejects when the responder is down, accepts with softFail', async () => {
    const r = await responder()
    const l = await leafFor(r.url)
    await r.close()
    const res = await checker({ ocsp: true }).check(p(l, ca))
    expect(res.ok === false && res.reason).toMatch(/OCSP request .* failed/)
    expect((await checker({ ocsp: true, softFail: true }).check(p(l, ca))).ok).toBe(true)
  })

  it('times out', async () => {
    const r = await responder({ delayMs: 2000 })
    const l = await leafFor(r.url)
    const started = Date.now()
    const res = await checker({ ocsp: { timeoutMs: 200 } }).check(p(l, ca))
    expect(res.ok === false && res.reason).toMatch(/timed out/)
    expect(Date.now() - started).toBeLessThan(1500)
  })

  it('rejects an HTTP error', async () => {
    const r = await responder({ httpStatus: 500 })
    const res = await checker({ ocsp: true }).check(p(await leafFor(r.url), ca))
    expect(res.ok === false && res.reason).toMatch(/HTTP status 500/)
  })

  it('accepts a delegated responder with id-kp-OCSPSigning', async () => {
    const delegate = await ca.issueClient({ subject: 'CN=OCSP responder', eku: ['ocspSigning'] })
    const r = await responder({ signer: delegate })
    expect(await checker({ ocsp: true }).check(p(await leafFor(r.url), ca))).toEqual({ ok: true })
  })

  it('rejects a delegated responder without id-kp-OCSPSigning', async () => {
    const delegate = await ca.issueClient({ subject: 'CN=not a responder', eku: ['clientAuth'] })
    const r = await responder({ signer: delegate })
    const res = await checker({ ocsp: true }).check(p(await leafFor(r.url), ca))
    expect(res.ok === false && res.reason).toMatch(/OCSPSigning/)
  })

  it('rejects a responder certified by another CA', async () => {
    const elsewhere = await createRootCA({ subject: 'CN=OCSP Root' })
    const delegate = await elsewhere.issueClient({ subject: 'CN=OCSP responder', eku: ['ocspSigning'] })
    const r = await responder({ signer: delegate })
    const res = await checker({ ocsp: true }).check(p(await leafFor(r.url), ca))
    expect(res.ok === false && res.reason).toMatch(/not issued by/)
  })

  it('rejects a response signed by another key, also when it names the issuer', async () => {
    const elsewhere = await createRootCA({ subject: 'CN=OCSP Root' })
    for (const responderId of ['key', 'name'] as const) {
      const r = await responder({ signer: elsewhere, responderId })
      const res = await checker({ ocsp: true }).check(p(await leafFor(r.url), ca))
      expect(res).toMatchObject({ ok: false, revoked: false })
    }
  })

  it('accepts an issuer-signed response that names the responder by name', async () => {
    const r = await responder({ responderId: 'name' })
    expect(await checker({ ocsp: true }).check(p(await leafFor(r.url), ca))).toEqual({ ok: true })
  })

  it('rejects a wrong or missing nonce; nonce: false does not require one', async () => {
    const wrong = await responder({ nonce: 'wrong' })
    const res = await checker({ ocsp: true }).check(p(await leafFor(wrong.url), ca))
    expect(res.ok === false && res.reason).toMatch(/nonce does not match/)
    const omit = await responder({ nonce: 'omit' })
    const l = await leafFor(omit.url)
    const res2 = await checker({ ocsp: true }).check(p(l, ca))
    expect(res2.ok === false && res2.reason).toMatch(/does not echo the nonce/)
    expect(await checker({ ocsp: { nonce: false } }).check(p(l, ca))).toEqual({ ok: true })
  })

  /**
   * An attacker on the path to a plain-HTTP responder keeps one signed "good" answer and plays
   * it back later: a real proxy in front of the responder records the first answer and replays
   * it for every later request. Without a nonce and without nextUpdate nothing else dates it.
   */
  it('nonce: false: a replayed "good" answer without nextUpdate is refused once older than ocsp.maxResponseAgeMs', async () => {
    const upstream = await responder({ validityMs: null })
    let recorded: Buffer | undefined
    const replay = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', async () => {
        if (recorded === undefined) {
          const r = await fetch(upstream.url, {
            method: 'POST',
            headers: { 'content-type': 'application/ocsp-request' },
            body: Buffer.concat(chunks),
          })
          recorded = Buffer.from(await r.arrayBuffer())
        }
        res.writeHead(200, { 'content-type': 'application/ocsp-response' }).end(recorded)
      })
    })
    await new Promise<void>((resolve) => replay.listen(0, '127.0.0.1', resolve))
    try {
      const l = await leafFor(`http://127.0.0.1:${(replay.address() as AddressInfo).port}/`)
      const at = (offset: number, ocsp: Record<string, unknown> = {}) => {
        const c = createRevocationChecker(
          resolveRevocationOptions({ ocsp: { nonce: false, ...ocsp } }),
          () => Date.now() + offset,
        )
        checkers.push(c)
        return c.check(p(l, ca))
      }
      expect(await at(0)).toEqual({ ok: true })
      expect(await at(30 * 60_000)).toEqual({ ok: true })
      const late = await at(2 * HOUR)
      expect(late).toMatchObject({ ok: false, revoked: false })
      expect(late.ok === false && late.reason).toMatch(/has no nextUpdate and is older than/)
      expect(await at(2 * HOUR, { maxResponseAgeMs: 3 * HOUR })).toEqual({ ok: true })
      expect(upstream.requests).toBe(1)
    } finally {
      replay.closeAllConnections()
      await new Promise((resolve) => replay.close(resolve))
    }
  })

  it('caches answers until nextUpdate; update() clears the cache', async () => {
    const r = await responder()
    const l = await leafFor(r.url)
    const c = checker({ ocsp: true, crls: undefined })
    expect((await c.check(p(l, ca))).ok).toBe(true)
    expect((await c.check(p(l, ca))).ok).toBe(true)
    expect(r.requests).toBe(1)
    c.update(undefined)
    expect((await c.check(p(l, ca))).ok).toBe(true)
    expect(r.requests).toBe(2)
  })

  it('does not cache an answer without nextUpdate', async () => {
    const r = await responder({ validityMs: null })
    const l = await leafFor(r.url)
    const c = checker({ ocsp: true })
    await c.check(p(l, ca))
    await c.check(p(l, ca))
    expect(r.requests).toBe(2)
  })

  it('uses a configured responderUrl over AIA, and rejects certificates with no responder', async () => {
    const r = await responder()
    const l = await leafFor('http://127.0.0.1:1/')
    expect(await checker({ ocsp: { responderUrl: r.url } }).check(p(l, ca))).toEqual({ ok: true })
    const none = await ca.issueClient()
    expect((await checker({ ocsp: true }).check(p(none, ca))).ok).toBe(false)
  })

  it('checks intermediates too', async () => {
    const i = await ca.issueIntermediate({ subject: 'CN=OCSP Intermediate' })
    const forLeaf = await startOcspResponder({ ca: i, statuses: () => 'good' })
    const forInter = await responder({ statuses: () => 'revoked' })
    responders.push(forLeaf)
    const l = await i.issueClient({ extensions: revocationExtensions({ ocspUrl: forLeaf.url }) })
    // The intermediate has no AIA: with only AIA it has no responder.
    expect((await checker({ ocsp: true }).check(p(l, i, ca))).ok).toBe(false)
    const withInter = await ca.issueIntermediate({
      subject: 'CN=OCSP Intermediate',
      keys: i.keys,
      extensions: revocationExtensions({ ocspUrl: forInter.url }),
    })
    expect(await checker({ ocsp: true }).check(p(l, withInter, ca))).toMatchObject({
      ok: false,
      revoked: true,
    })
  })
})

describe('resolveRevocationOptions', () => {
  const bad: Array<[unknown, string]> = [
    [undefined, 'revocation'],
    [{}, 'revocation'],
    [{ crl: {} }, 'revocation.crl'],
    [{ crls: { sources: [] } }, 'revocation.crls.sources'],
    [{ crls: { sources: ['/etc/crl.pem'] } }, 'revocation.crls.sources[0]'],
    [{ crls: { sources: [{ file: 'x', extra: 1 }] } }, 'revocation.crls.sources[0].extra'],
    [{ crls: { sources: [{ file: 'x' }], reloadIntervalMs: 5 } }, 'revocation.crls.reloadIntervalMs'],
    [{ crlDistributionPoints: 'yes' }, 'revocation.crlDistributionPoints'],
    [{ crlDistributionPoints: { timeout: 1 } }, 'revocation.crlDistributionPoints.timeout'],
    [{ ocsp: { responderUrl: 'https://ocsp.example/' } }, 'revocation.ocsp.responderUrl'],
    [{ ocsp: { nonce: 'yes' } }, 'revocation.ocsp.nonce'],
    [{ ocsp: { timeoutMs: 0 } }, 'revocation.ocsp.timeoutMs'],
    [{ ocsp: true, softFail: 'true' }, 'revocation.softFail'],
    [{ ocsp: true, fetch: 'node' }, 'revocation.fetch'],
    [{ ocsp: false, crlDistributionPoints: false }, 'revocation'],
  ]
  it.each(bad)('rejects %j at %s', (raw, option) => {
    try {
      resolveRevocationOptions(raw)
      expect.unreachable()
    } catch (err) {
      expect(err).toBeInstanceOf(ClientCertConfigError)
      expect((err as ClientCertConfigError).option).toBe(option)
    }
  })

  it('applies fail-closed defaults', () => {
    expect(resolveRevocationOptions({ ocsp: true, crlDistributionPoints: true })).toMatchObject({
      softFail: false,
      ocsp: { nonce: true, timeoutMs: 5000, maxBytes: 65536 },
      crlDistributionPoints: { timeoutMs: 5000 },
    })
    expect(resolveRevocationOptions({ ocsp: true }, 'trust.revocation').crls).toBeUndefined()
    expect(() => resolveRevocationOptions({ nope: 1 }, 'x.revocation')).toThrow(/x\.revocation\.nope/)
  })
})
