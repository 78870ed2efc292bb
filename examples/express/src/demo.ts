/**
 * One-command demo: a throwaway PKI, the example app on an ephemeral loopback port, and real
 * TLS clients presenting real certificates. Prints what each client got; exits 1 if any
 * outcome is not the expected one.
 */

import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import { createRootCA, createTestPki, type IssuedCertificate, requestWithUndici } from '@clientcert/testing'
import { createApp } from './app.js'

interface Row {
  readonly client: string
  readonly request: string
  readonly expected: number
  readonly status: number
  readonly code: string
}

const pki = await createTestPki()
const now = Date.now()
const clients: Record<string, IssuedCertificate | null> = {
  'alice (valid)': await pki.issueClient({
    subject: 'CN=alice',
    san: { uri: ['spiffe://example.org/ns/prod/sa/alice'] },
  }),
  'admin (valid)': await pki.issueClient({ subject: 'CN=admin' }),
  'no certificate': null,
  'unknown CA': await (await createRootCA({ subject: 'CN=Stranger CA' })).issueClient({
    subject: 'CN=alice',
  }),
  expired: await pki.issueClient({
    subject: 'CN=alice',
    notBefore: new Date(now - 2 * 86_400_000),
    notAfter: new Date(now - 3_600_000),
  }),
  'serverAuth EKU only': await pki.issueClient({ subject: 'CN=alice', eku: ['serverAuth'] }),
  'CA:TRUE leaf': await pki.issueClient({
    subject: 'CN=alice',
    basicConstraints: { ca: true },
    keyUsage: ['digitalSignature', 'keyCertSign'],
  }),
}

const server = https.createServer(
  { ...pki.server.tlsOptions(), ca: pki.clientCaPem, requestCert: true, rejectUnauthorized: false },
  createApp({ adminIds: ['admin'], auth: { onRejected: () => {} } }),
)
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`

const plan: Array<[string, string, number, { method?: string; body?: string }?]> = [
  ['alice (valid)', 'GET /whoami', 200],
  ['admin (valid)', 'GET /admin', 200],
  ['alice (valid)', 'GET /admin', 403],
  ['no certificate', 'GET /whoami', 401],
  ['no certificate', 'POST /echo {bad json', 401, { method: 'POST', body: '{"bad json' }],
  ['unknown CA', 'GET /whoami', 401],
  ['expired', 'GET /whoami', 401],
  ['serverAuth EKU only', 'GET /whoami', 401],
  ['CA:TRUE leaf', 'GET /whoami', 401],
]

const rows: Row[] = []
let principal: unknown
for (const [client, request, expected, extra] of plan) {
  const path = request.split(' ')[1]!
  const res = await requestWithUndici(url, {
    path,
    ca: pki.serverCa.pem,
    client: clients[client] ?? null,
    ...(extra?.body
      ? { method: 'POST', body: extra.body, headers: { 'content-type': 'application/json' } }
      : {}),
  })
  const body = res.body ? (JSON.parse(res.body) as { code?: string; principal?: unknown }) : {}
  if (res.status === 200 && principal === undefined) principal = body.principal
  rows.push({ client, request, expected, status: res.status, code: body.code ?? '' })
}
server.closeAllConnections()
server.close()

console.log(`\nclientcert + Express over real mTLS (${url})\n`)
console.log('principal of alice:', JSON.stringify(principal, null, 2), '\n')
const widths = [22, 22, 9, 7] as const
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' ')
console.log(line(['client', 'request', 'expected', 'status']), 'code')
let failures = 0
for (const r of rows) {
  const ok = r.status === r.expected
  if (!ok) failures++
  console.log(
    line([r.client, r.request, String(r.expected), String(r.status)]),
    r.code,
    ok ? '' : '  <-- UNEXPECTED',
  )
}
console.log(failures === 0 ? '\nall outcomes as expected' : `\n${failures} unexpected outcome(s)`)
process.exit(failures === 0 ? 0 : 1)
