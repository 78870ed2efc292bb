// Express + Passport + @clientcert/passport: ESM, TypeScript strict.
import { readFileSync } from 'node:fs'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { ClientCertStrategy, clientCertErrorHandler } from '@clientcert/passport'
import express from 'express'
import passport from 'passport'

const certs = process.env.CERTS as string
passport.use(
  new ClientCertStrategy({ identity: 'cn', allow: { ids: ['alice'] } }, (principal, done) => {
    done(null, { id: principal.id })
  }),
)
const app = express()
app.use(passport.authenticate('client-cert', { session: false, failWithError: true }))
app.get('/whoami', (req, res) => {
  res.json({ id: req.clientCert?.id })
})
app.use(clientCertErrorHandler())
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
