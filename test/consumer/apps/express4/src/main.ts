// Express + @clientcert/express as an application writes it: ESM, TypeScript strict, no casts.
import { readFileSync } from 'node:fs'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { ClientPrincipal } from '@clientcert/core'
import { clientCert, requireClientCert } from '@clientcert/express'
import express from 'express'

const certs = process.env.CERTS as string
const app = express()
app.use(clientCert({ identity: 'cn', allow: { ids: ['alice', 'bob'] } }))
app.use(express.json())
app.get('/whoami', requireClientCert({ ids: ['alice'] }), (req, res) => {
  // req.clientCert is typed by the package's own augmentation of Express's Request.
  const principal: ClientPrincipal | undefined = req.clientCert
  res.json({ id: principal?.id })
})
const server = createServer(
  {
    cert: readFileSync(`${certs}/server.pem`),
    key: readFileSync(`${certs}/server-key.pem`),
    ca: readFileSync(`${certs}/root.pem`),
    requestCert: true,
    rejectUnauthorized: false,
  },
  app,
)
server.listen(0, '127.0.0.1', () => console.log(`LISTENING ${(server.address() as AddressInfo).port}`))
