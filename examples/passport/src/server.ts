import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { loadOrCreateDevTls } from '@clientcert/testing'
import { createApp } from './app.js'

const host = process.env.HOST ?? '127.0.0.1'
const port = Number(process.env.PORT ?? 8443)
const adminIds = (process.env.ADMIN_IDS ?? 'admin')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean)

const tls = await loadOrCreateDevTls(process.env, fileURLToPath(new URL('../.certs', import.meta.url)))
const server = https.createServer(
  // The TLS stack verifies client certificates against CLIENT_CA; clientcert adds the
  // leaf checks, identity mapping and policies on every request.
  {
    cert: tls.cert,
    key: tls.key,
    ca: tls.clientCa,
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
  },
  createApp({ adminIds }),
)
server.listen(port, host, () => {
  const { port: actual } = server.address() as AddressInfo
  console.log(`passport example listening on https://${host.includes(':') ? `[${host}]` : host}:${actual}`)
  if (tls.devDir) {
    const d = tls.devDir
    console.log(`development PKI in ${d}; try:`)
    console.log(
      `  curl --cacert ${d}/server-ca.pem --cert ${d}/alice.pem --key ${d}/alice-key.pem https://${host}:${actual}/whoami`,
    )
  }
})
