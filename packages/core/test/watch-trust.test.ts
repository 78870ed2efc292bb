// watchTrust over real sockets: a TLS server with app-level trust whose anchors (and own
// certificate) follow files replaced the ways real writers replace them — an atomic rename
// (cert-manager, spiffe-helper) and kubelet's `..data` symlink swap — and a broken file that
// must leave the last good state in force.
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import type { Server } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:tls'
import {
  type CertificateAuthority,
  createRootCA,
  createUndiciAgent,
  type IssuedCertificate,
  type RunningServer,
  requestWithUndici,
  startMtlsServer,
} from '@clientcert/testing'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  type ClientCertAuthenticator,
  createClientCertAuthenticator,
  type TrustSourceError,
  type TrustWatcher,
  watchTrust,
} from '../src/index.js'

let oldCa: CertificateAuthority
let newCa: CertificateAuthority
let serverCa: CertificateAuthority
let server1: IssuedCertificate
let server2: IssuedCertificate
let oldClient: IssuedCertificate
let newClient: IssuedCertificate

beforeAll(async () => {
  ;[oldCa, newCa, serverCa] = await Promise.all([
    createRootCA({ subject: 'CN=Old Client CA' }),
    createRootCA({ subject: 'CN=New Client CA' }),
    createRootCA({ subject: 'CN=Server CA' }),
  ])
  ;[server1, server2, oldClient, newClient] = await Promise.all([
    serverCa.issueServer({ subject: 'CN=server one' }),
    serverCa.issueServer({ subject: 'CN=server two' }),
    oldCa.issueClient({ subject: 'CN=old' }),
    newCa.issueClient({ subject: 'CN=new' }),
  ])
})

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'clientcert-watch-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Write-then-rename, as cert-manager and spiffe-helper do. */
function atomicWrite(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.hrtime.bigint()}`
  writeFileSync(tmp, text)
  renameSync(tmp, path)
}

async function startServer(
  auth: ClientCertAuthenticator,
  identity: IssuedCertificate,
): Promise<{ running: RunningServer; handshakes: () => number }> {
  const running = await startMtlsServer(
    async (req, res) => {
      const r = await auth.authenticate(req)
      res.statusCode = r.ok ? 200 : r.error.status
      res.end(r.ok ? r.principal.id : r.error.code)
    },
    { cert: identity.chainPem, key: identity.keyPem, ca: oldCa.pem, rejectUnauthorized: false },
  )
  let count = 0
  running.server.on('secureConnection', () => count++)
  cleanups.push(() => running.close())
  return { running, handshakes: () => count }
}

function authenticator(): ClientCertAuthenticator {
  return createClientCertAuthenticator({
    trust: { anchors: oldCa.pem },
    identity: 'cn',
    allow: { authenticated: true },
  })
}

function nextUpdate(events: { updates: number }): Promise<void> {
  const start = events.updates
  return waitFor(() => events.updates > start, 'an update')
}

async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

function get(url: string, client: IssuedCertificate) {
  return requestWithUndici(url, { client, ca: serverCa.pem })
}

function peerSubject(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca: serverCa.pem, servername: 'localhost' }, () => {
      const cn = s.getPeerCertificate().subject?.CN
      s.end()
      resolve(String(cn))
    })
    s.on('error', reject)
  })
}

function watch(opts: Omit<Parameters<typeof watchTrust>[0], 'onUpdate' | 'onError' | 'debounceMs'>): {
  watcher: TrustWatcher
  events: { updates: number; errors: TrustSourceError[] }
} {
  const events = { updates: 0, errors: [] as TrustSourceError[] }
  const watcher = watchTrust({
    ...opts,
    debounceMs: 50,
    onUpdate: () => events.updates++,
    onError: (e) => events.errors.push(e),
  })
  cleanups.push(() => watcher.close())
  return { watcher, events }
}

describe('watchTrust', () => {
  it('an anchor replaced by atomic rename: the new CA is admitted, the old refused on a new and on an open keep-alive connection', async () => {
    const dir = tempDir()
    const anchor = join(dir, 'ca.pem')
    writeFileSync(anchor, oldCa.pem)
    const auth = authenticator()
    const { running, handshakes } = await startServer(auth, server1)
    const { events } = watch({ authenticator: auth, anchors: anchor })

    const keepAlive = createUndiciAgent({ client: oldClient, ca: serverCa.pem })
    cleanups.push(() => keepAlive.destroy())
    const first = await requestWithUndici(running.url, { dispatcher: keepAlive, ca: serverCa.pem })
    expect([first.status, first.body]).toEqual([200, 'old'])
    expect((await get(running.url, newClient)).body).toBe('ERR_CLIENT_CERT_UNTRUSTED')

    const updated = nextUpdate(events)
    atomicWrite(anchor, newCa.pem)
    await updated
    const before = handshakes()
    const open = await requestWithUndici(running.url, { dispatcher: keepAlive, ca: serverCa.pem })
    expect([open.status, open.body]).toEqual([401, 'ERR_CLIENT_CERT_UNTRUSTED'])
    expect(handshakes()).toBe(before) // the same connection, judged again
    expect((await get(running.url, oldClient)).body).toBe('ERR_CLIENT_CERT_UNTRUSTED')
    const fresh = await get(running.url, newClient)
    expect([fresh.status, fresh.body]).toEqual([200, 'new'])
    expect(events.errors).toEqual([])
  })

  it('a Kubernetes ..data symlink swap rotates anchors and the server certificate together', async () => {
    const dir = tempDir()
    const writeGeneration = (name: string, ca: string, server: IssuedCertificate): void => {
      mkdirSync(join(dir, name))
      writeFileSync(join(dir, name, 'ca.pem'), ca)
      writeFileSync(join(dir, name, 'tls.crt'), server.chainPem)
      writeFileSync(join(dir, name, 'tls.key'), server.keyPem)
    }
    writeGeneration('..2026_12_04_01', oldCa.pem, server1)
    symlinkSync('..2026_12_04_01', join(dir, '..data'))
    for (const f of ['ca.pem', 'tls.crt', 'tls.key']) symlinkSync(join('..data', f), join(dir, f))

    const auth = authenticator()
    const { running } = await startServer(auth, server1)
    const { events } = watch({
      authenticator: auth,
      anchors: join(dir, 'ca.pem'),
      serverCert: join(dir, 'tls.crt'),
      serverKey: join(dir, 'tls.key'),
      server: running.server as Server,
    })
    expect(await peerSubject(running.port)).toBe('server one')
    expect((await get(running.url, oldClient)).status).toBe(200)

    // What kubelet's AtomicWriter does: new timestamped dir, ..data_tmp → it, rename over ..data.
    const updated = nextUpdate(events)
    writeGeneration('..2026_12_04_02', newCa.pem, server2)
    symlinkSync('..2026_12_04_02', join(dir, '..data_tmp'))
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
    rmSync(join(dir, '..2026_12_04_01'), { recursive: true })
    await updated

    expect(await peerSubject(running.port)).toBe('server two')
    expect((await get(running.url, oldClient)).body).toBe('ERR_CLIENT_CERT_UNTRUSTED')
    expect((await get(running.url, newClient)).body).toBe('new')

    // A second swap works too: the watch followed the new real directory.
    const again = nextUpdate(events)
    writeGeneration('..2026_12_04_03', oldCa.pem, server1)
    symlinkSync('..2026_12_04_03', join(dir, '..data_tmp'))
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
    await again
    expect(await peerSubject(running.port)).toBe('server one')
    expect((await get(running.url, oldClient)).body).toBe('old')
    expect(events.errors).toEqual([])
  })

  it('a broken file keeps the last good state and is reported; a good one is applied again', async () => {
    const dir = tempDir()
    const anchor = join(dir, 'ca.pem')
    writeFileSync(anchor, oldCa.pem)
    const auth = authenticator()
    const { running } = await startServer(auth, server1)
    const { events } = watch({ authenticator: auth, anchors: anchor })

    atomicWrite(anchor, '-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n')
    await waitFor(() => events.errors.length > 0, 'an error report')
    const error = events.errors[0]!
    expect(error.code).toBe('ERR_CLIENT_CERT_TRUST_SOURCE')
    expect(error.name).toBe('TrustSourceError')
    expect((error.cause as { code?: string }).code).toBe('ERR_CLIENT_CERT_INVALID_OPTION')
    expect((await get(running.url, oldClient)).body).toBe('old')
    expect((await get(running.url, newClient)).body).toBe('ERR_CLIENT_CERT_UNTRUSTED')

    expect(events.updates).toBe(1) // the first read only
    const updated = nextUpdate(events)
    atomicWrite(anchor, newCa.pem)
    await updated
    expect((await get(running.url, newClient)).body).toBe('new')
  })

  it('a server key that does not match its certificate changes nothing', async () => {
    const dir = tempDir()
    const [anchor, crt, key] = ['ca.pem', 'tls.crt', 'tls.key'].map((f) => join(dir, f)) as [
      string,
      string,
      string,
    ]
    writeFileSync(anchor, oldCa.pem)
    writeFileSync(crt, server1.chainPem)
    writeFileSync(key, server1.keyPem)
    const auth = authenticator()
    const { running } = await startServer(auth, server1)
    const { events } = watch({
      authenticator: auth,
      anchors: anchor,
      serverCert: crt,
      serverKey: key,
      server: running.server as Server,
    })
    atomicWrite(crt, server2.chainPem) // the key is still server1's
    atomicWrite(anchor, newCa.pem)
    await waitFor(() => events.errors.length > 0, 'an error report')
    expect(events.errors[0]!.code).toBe('ERR_CLIENT_CERT_TRUST_SOURCE')
    expect(await peerSubject(running.port)).toBe('server one')
    expect((await get(running.url, oldClient)).body).toBe('old')
  })

  it('unusable files at start are a configuration error', () => {
    const dir = tempDir()
    const auth = authenticator()
    expect(() => watchTrust({ authenticator: auth, anchors: join(dir, 'missing.pem') })).toThrow(
      expect.objectContaining({ code: 'ERR_CLIENT_CERT_INVALID_OPTION' }),
    )
    expect(() =>
      watchTrust({ authenticator: auth, anchors: join(dir, 'a.pem'), serverCert: join(dir, 'c.pem') }),
    ).toThrow(expect.objectContaining({ option: 'watchTrust.serverKey' }))
  })
})
