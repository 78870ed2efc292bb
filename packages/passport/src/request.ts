import type { ClientCertError } from '@clientcert/core'

/**
 * The Node request behind what Passport hands the strategy: Express's `req` is one already;
 * under `@nestjs/passport` on the Fastify platform the guard passes a FastifyRequest whose
 * Node request is `.raw`. The core reads the socket and `rawHeaders` from the Node request,
 * and other adapters' pre-parse stages leave their mark there.
 */
export function nodeRequest(req: object): object {
  const raw = (req as { raw?: unknown }).raw
  if (typeof raw === 'object' && raw !== null && 'socket' in raw && 'headers' in raw) return raw
  return req
}

// Registered symbols, so the ESM and CommonJS builds of this package agree on them.
const FAILURE = Symbol.for('clientcert.passport.failure')

/** Remembers why a client-certificate strategy failed this request (for error handlers). */
export function recordFailure(req: object, error: ClientCertError): void {
  Object.defineProperty(req, FAILURE, { value: error, configurable: true, enumerable: false, writable: true })
}

/**
 * The `ClientCertError` behind this request's client-certificate failure, or `undefined`.
 *
 * With `passport.authenticate(..., { failWithError: true })`, Passport hands the error handler
 * its own `AuthenticationError` (message and status only); this is how the handler learns the
 * clientcert `code`. The error's `reason` is for logs only: never send it to the client.
 */
export function getClientCertError(req: object): ClientCertError | undefined {
  return (req as { [FAILURE]?: ClientCertError })[FAILURE]
}
