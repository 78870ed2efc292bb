// Cluster-wide rotation with node:cluster (fixtures/cluster-app.mjs): a trust epoch broadcast by
// the primary reaches both workers behind one port, a resumed session is judged under it, the
// rotated-out CA is refused by every worker, and — with followClusterTrust() — the ticket keys
// stay shared after the rotation, so a session still resumes on the other worker. Node shares
// ticket keys between cluster workers at listen() time; the baseline (each worker calling
// applyServerTrust(), which picks random keys) loses that on the first rotation.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import {
  type CertificateAuthority,
  createRootCA,
  type IssuedCertificate,
  requestWithHttps,
} from '@clientcert/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deriveTicketKeys } from '../src/index.js'

const APP = fileURLToPath(new URL('./fixtures/cluster-app.mjs', import.meta.url))

let oldCa: CertificateAuthority
let newCa: CertificateAuthority
let serverCa: CertificateAuthority
let oldClient: IssuedCertificate
let newClient: IssuedCertificate
interface Running {
  readonly proc: ChildProcessWithoutNullStreams
  readonly port: number
  readonly lines: Array<Record<string, unknown>>
}

async function nextLine(app: Running, pred: (v: Record<string, unknown>) => boolean) {
  const end = Date.now() + 15_000
  for (;;) {
    const hit = app.lines.find(pred)
    if (hit) return hit
    if (Date.now() > end) throw new Error('the cluster app did not answer')
    await new Promise((r) => setTimeout(r, 20))
  }
}

let server: IssuedCertificate
beforeAll(async () => {
  ;[oldCa, newCa, serverCa] = (await Promise.all(
    ['CN=Old CA', 'CN=New CA', 'CN=Server CA'].map((subject) => createRootCA({ subject })),
  )) as [CertificateAuthority, CertificateAuthority, CertificateAuthority]
  server = await serverCa.issueServer()
  ;[oldClient, newClient] = await Promise.all([
    oldCa.issueClient({ subject: 'CN=old' }),
    newCa.issueClient({ subject: 'CN=new' }),
  ])
})

const running: Running[] = []
afterAll(async () => {
  for (const app of running) {
    if (app.proc.exitCode !== null) continue
    app.proc.stdin.end()
    app.proc.kill()
    await once(app.proc, 'exit')
  }
})

async function start(naive: boolean): Promise<Running> {
  const proc = spawn(process.execPath, [APP], {
    env: {
      ...process.env,
      CLUSTER_NAIVE: naive ? '1' : '0',
      CLUSTER_CONFIG: JSON.stringify({
        anchors: oldCa.pem,
        cert: server.chainPem,
        key: server.keyPem,
        secret: randomBytes(32).toString('base64'),
      }),
    },
  })
  const lines: Array<Record<string, unknown>> = []
  let buf = ''
  proc.stdout.on('data', (d: Buffer) => {
    buf += d.toString()
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      lines.push(JSON.parse(buf.slice(0, i)))
      buf = buf.slice(i + 1)
    }
  })
  proc.stderr.on('data', (d: Buffer) => process.stderr.write(d))
  const partial = { proc, port: 0, lines }
  running.push(partial)
  const port = (await nextLine(partial, (l) => typeof l.port === 'number')).port as number
  return { proc, port, lines }
}

function call(app: Running, client: IssuedCertificate, session?: Buffer) {
  return requestWithHttps(`https://127.0.0.1:${app.port}`, {
    client,
    ca: serverCa.pem,
    servername: 'localhost',
    ...(session ? { session } : {}),
  })
}

const pidOf = (r: { body: string }) => r.body.split(' ')[0]!
const verdict = (r: { body: string }) => r.body.split(' ')[1]

/** A connection resuming `session` that lands on another worker than `pid` (round-robin). */
async function onOtherWorker(app: Running, client: IssuedCertificate, pid: string, session: Buffer) {
  for (let i = 0; i < 6; i++) {
    const r = await call(app, client, session)
    if (pidOf(r) !== pid) return r
  }
  throw new Error('no connection reached the other worker')
}

async function rotate(app: Running): Promise<void> {
  app.proc.stdin.write(`${JSON.stringify({ anchors: [newCa.pem] })}\n`)
  await nextLine(app, (l) => l.applied === 1)
}

describe('cluster-wide rotation (node:cluster)', () => {
  it('followClusterTrust: every worker refuses the old CA after a broadcast epoch, also on a resumed session, and sessions still resume across workers', async () => {
    const app = await start(false)
    const first = await call(app, oldClient)
    expect(verdict(first)).toBe('old')
    const other = await onOtherWorker(app, oldClient, pidOf(first), first.session!)
    expect([other.sessionReused, verdict(other)]).toEqual([true, 'old'])

    await rotate(app)
    const pids = new Set<string>()
    for (let i = 0; i < 4; i++) {
      const r = await call(app, oldClient, first.session)
      expect([r.status, verdict(r)]).toEqual([401, 'ERR_CLIENT_CERT_UNTRUSTED'])
      // The epoch is in the ticket keys: a session from before the rotation resumes nowhere.
      expect(r.sessionReused).toBe(false)
      pids.add(pidOf(r))
    }
    expect(pids.size).toBe(2)

    const fresh = await call(app, newClient)
    expect(verdict(fresh)).toBe('new')
    const across = await onOtherWorker(app, newClient, pidOf(fresh), fresh.session!)
    expect([across.sessionReused, verdict(across)]).toEqual([true, 'new'])
  })

  it('baseline: workers applying applyServerTrust() on their own lose shared ticket keys on the first rotation', async () => {
    const app = await start(true)
    await rotate(app)
    const fresh = await call(app, newClient)
    expect(verdict(fresh)).toBe('new')
    const across = await onOtherWorker(app, newClient, pidOf(fresh), fresh.session!)
    expect([across.sessionReused, verdict(across)]).toEqual([false, 'new'])
    expect(verdict(await call(app, oldClient))).toBe('ERR_CLIENT_CERT_UNTRUSTED')
  })

  it('ticket keys are derived, not random: the same secret and context give the same keys', () => {
    const secret = randomBytes(32)
    expect(deriveTicketKeys(secret, 'epoch:1;window:7')).toEqual(deriveTicketKeys(secret, 'epoch:1;window:7'))
    expect(deriveTicketKeys(secret, 'epoch:2;window:7')).not.toEqual(
      deriveTicketKeys(secret, 'epoch:1;window:7'),
    )
    expect(deriveTicketKeys(secret, 'x')).toHaveLength(48)
    expect(() => deriveTicketKeys('short', 'x')).toThrow(expect.objectContaining({ option: 'secret' }))
  })
})
