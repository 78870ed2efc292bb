import type { IncomingMessage, ServerResponse } from 'node:http'
import { type ClientCertOptions, createClientCertAuthenticator } from '@clientcert/core'
import { clientCert, requireClientCert, withClientCert } from '@clientcert/express'
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
  const auth = authOptions(options)
  if (options.telemetry === undefined) app.use(clientCert(auth))
  else {
    // The authenticator is built here so the expiry gauges can watch its trust material.
    const authenticator = createClientCertAuthenticator(auth)
    options.telemetry.watch(authenticator)
    app.use(options.telemetry.requestSpans, clientCert({ authenticator }))
  }
  return routes(app, options)
}

/**
 * The same app behind `withClientCert()`: the server's request listener authenticates every
 * request before Express sees it (`MOUNT=front` in server.ts). Same routes, same answers; nothing
 * of the app runs for a rejected request, and it costs less per request than the middleware.
 */
export function createListener(
  options: ExampleAppOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  return withClientCert(routes(express(), options), authOptions(options))
}

function authOptions(options: ExampleAppOptions): ClientCertOptions {
  return {
    identity: 'cn',
    allow: { authenticated: true },
    onRejected: (err) => console.warn(`rejected: ${err.code} (${err.reason})`),
    ...options.auth,
  }
}

function routes(app: Express, options: ExampleAppOptions): Express {
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
