import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { loadOrCreateDevTls } from '@clientcert/testing'
import { createApp, type Platform } from './app.js'

const platform = (process.env.PLATFORM ?? 'express') as Platform
if (platform !== 'express' && platform !== 'fastify') {
  throw new Error(`PLATFORM must be express or fastify, not ${JSON.stringify(platform)}`)
}
const host = process.env.HOST ?? '127.0.0.1'
const port = Number(process.env.PORT ?? 8445)
const adminIds = (process.env.ADMIN_IDS ?? 'admin')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean)

const tls = await loadOrCreateDevTls(process.env, fileURLToPath(new URL('../.certs', import.meta.url)))
const app = await createApp({
  platform,
  adminIds,
  // The TLS stack verifies client certificates against CLIENT_CA; clientcert adds the
  // leaf checks, identity mapping and policies on every request.
  https: {
    cert: tls.cert,
    key: tls.key,
    ca: tls.clientCa,
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
  },
})
await app.listen(port, host)

const { port: actual } = app.getHttpServer().address() as AddressInfo
const url = `https://${host.includes(':') ? `[${host}]` : host}:${actual}`
console.log(`nestjs example (${platform}) listening on ${url}`)
if (tls.devDir) {
  const d = tls.devDir
  console.log(`development PKI in ${d}; try:`)
  console.log(
    `  curl --cacert ${d}/server-ca.pem --cert ${d}/alice.pem --key ${d}/alice-key.pem ${url}/whoami`,
  )
}
