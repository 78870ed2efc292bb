import { type ClientCertOptions, createClientCertAuthenticator } from '@clientcert/core'
import { clientCert, requireClientCert } from '@clientcert/express'
import express, { type Express } from 'express'
import type { Telemetry } from './telemetry.js'

export interface ExampleAppOptions {
  /** Principal IDs allowed on GET /admin. */
  readonly adminIds: readonly string[]
  /** Extra core options (trust, identity, hooks...). */
  readonly auth?: Partial<ClientCertOptions>
  /** OpenTelemetry (`OTEL=console` in server.ts; in-memory exporters in test/otel.test.ts). */
  readonly telemetry?: Telemetry
}

/**
 * The example app. `clientCert()` is mounted first, so a request without a valid client
 * certificate is rejected before `express.json()` reads a single body byte.
 */
export function createApp(options: ExampleAppOptions): Express {
  const app = express()
  const auth: ClientCertOptions = {
    identity: 'cn',
    allow: { authenticated: true },
    onRejected: (err) => console.warn(`rejected: ${err.code} (${err.reason})`),
    ...options.auth,
  }
  if (options.telemetry === undefined) app.use(clientCert(auth))
  else {
    // The authenticator is built here so the expiry gauges can watch its trust material.
    const authenticator = createClientCertAuthenticator(auth)
    options.telemetry.watch(authenticator)
    app.use(options.telemetry.requestSpans, clientCert({ authenticator }))
  }
  app.use(express.json({ limit: '100kb' }))

  app.get('/whoami', (req, res) => {
    const p = req.clientCert!
    res.json({
      principal: {
        id: p.id,
        kind: p.kind,
        subject: p.subject.dn,
        spiffeId: p.spiffeId ?? null,
        fingerprint256: p.fingerprint256,
      },
    })
  })
  app.post('/echo', (req, res) => {
    res.json({ principal: { id: req.clientCert!.id }, body: req.body })
  })
  app.get('/admin', requireClientCert({ ids: [...options.adminIds] }), (req, res) => {
    res.json({ principal: { id: req.clientCert!.id }, admin: true })
  })
  return app
}
