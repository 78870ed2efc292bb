/**
 * Errors. Every per-request failure is a `ClientCertError` with a stable `code`; `message` is
 * a fixed public sentence for that code (safe to send to a client, since some frameworks render
 * `message`), while `reason` holds the detail for logs and audit hooks and is never rendered.
 */

/** Stable codes of per-request failures. Each has a page in docs/errors/. */
export type ClientCertErrorCode =
  | 'ERR_CLIENT_CERT_MISSING'
  | 'ERR_CLIENT_CERT_UNTRUSTED'
  | 'ERR_CLIENT_CERT_EXPIRED'
  | 'ERR_CLIENT_CERT_NOT_YET_VALID'
  | 'ERR_CLIENT_CERT_EKU'
  | 'ERR_CLIENT_CERT_BASIC_CONSTRAINTS'
  | 'ERR_CLIENT_CERT_KEY_USAGE'
  | 'ERR_CLIENT_CERT_NAME_CONSTRAINTS'
  | 'ERR_CLIENT_CERT_CRITICAL_EXTENSION'
  | 'ERR_CLIENT_CERT_MALFORMED'
  | 'ERR_CLIENT_CERT_IDENTITY'
  | 'ERR_CLIENT_CERT_NOT_ALLOWED'
  | 'ERR_CLIENT_CERT_UNTRUSTED_PROXY'
  | 'ERR_CLIENT_CERT_REVOKED'
  | 'ERR_CLIENT_CERT_REVOCATION_UNAVAILABLE'
  | 'ERR_CLIENT_CERT_BODY_ALREADY_READ'
  | 'ERR_CLIENT_CERT_MISCONFIGURED'
  | 'ERR_CLIENT_CERT_MISDIRECTED'
  | 'ERR_CLIENT_CERT_INTERNAL'

/** Code of the configuration error thrown at construction. */
export type ClientCertConfigErrorCode = 'ERR_CLIENT_CERT_INVALID_OPTION'

/** What kind of failure a code is; decides the default HTTP status. */
export type ErrorCategory = 'unauthenticated' | 'forbidden' | 'misdirected' | 'server'

interface CodeInfo {
  readonly category: ErrorCategory
  readonly message: string
}

const CODES: Readonly<Record<ClientCertErrorCode, CodeInfo>> = {
  ERR_CLIENT_CERT_MISSING: { category: 'unauthenticated', message: 'A client certificate is required.' },
  ERR_CLIENT_CERT_UNTRUSTED: {
    category: 'unauthenticated',
    message: 'The client certificate is not trusted.',
  },
  ERR_CLIENT_CERT_EXPIRED: {
    category: 'unauthenticated',
    message: 'The client certificate or one of its issuers has expired.',
  },
  ERR_CLIENT_CERT_NOT_YET_VALID: {
    category: 'unauthenticated',
    message: 'The client certificate or one of its issuers is not yet valid.',
  },
  ERR_CLIENT_CERT_EKU: {
    category: 'unauthenticated',
    message: 'The client certificate is not valid for client authentication (extended key usage).',
  },
  ERR_CLIENT_CERT_BASIC_CONSTRAINTS: {
    category: 'unauthenticated',
    message: 'The client certificate chain violates basic constraints.',
  },
  ERR_CLIENT_CERT_KEY_USAGE: {
    category: 'unauthenticated',
    message: 'A key usage in the client certificate chain does not allow this use.',
  },
  ERR_CLIENT_CERT_NAME_CONSTRAINTS: {
    category: 'unauthenticated',
    message: 'The client certificate violates a name constraint of its issuer.',
  },
  ERR_CLIENT_CERT_CRITICAL_EXTENSION: {
    category: 'unauthenticated',
    message: 'The client certificate chain has an unsupported critical extension.',
  },
  ERR_CLIENT_CERT_MALFORMED: {
    category: 'unauthenticated',
    message: 'The client certificate could not be parsed.',
  },
  ERR_CLIENT_CERT_IDENTITY: {
    category: 'unauthenticated',
    message: 'No usable identity could be taken from the client certificate.',
  },
  ERR_CLIENT_CERT_NOT_ALLOWED: {
    category: 'forbidden',
    message: 'This client is not allowed to access this resource.',
  },
  ERR_CLIENT_CERT_UNTRUSTED_PROXY: {
    category: 'unauthenticated',
    message: 'A forwarded client certificate was sent by a peer that is not a trusted proxy.',
  },
  ERR_CLIENT_CERT_REVOKED: {
    category: 'unauthenticated',
    message: 'The client certificate or one of its issuers has been revoked.',
  },
  ERR_CLIENT_CERT_REVOCATION_UNAVAILABLE: {
    category: 'unauthenticated',
    message: 'The revocation status of the client certificate could not be established.',
  },
  ERR_CLIENT_CERT_BODY_ALREADY_READ: {
    category: 'server',
    message: 'Client certificate authentication is misconfigured on this server.',
  },
  ERR_CLIENT_CERT_MISCONFIGURED: {
    category: 'server',
    message: 'Client certificate authentication is misconfigured on this server.',
  },
  ERR_CLIENT_CERT_MISDIRECTED: {
    category: 'misdirected',
    message: 'This connection cannot serve the requested host; retry on a new connection.',
  },
  ERR_CLIENT_CERT_INTERNAL: { category: 'server', message: 'Client certificate authentication failed.' },
}

const DEFAULT_STATUS: Readonly<Record<ErrorCategory, number>> = {
  unauthenticated: 401,
  forbidden: 403,
  misdirected: 421,
  server: 500,
}

export interface ClientCertErrorOptions {
  /** HTTP status to answer with; defaults by category (401, 403, 421, 500). */
  readonly status?: number
  readonly cause?: unknown
}

/** A per-request authentication or authorization failure. */
export class ClientCertError extends Error {
  override readonly name = 'ClientCertError'
  readonly code: ClientCertErrorCode
  readonly category: ErrorCategory
  /** HTTP status an adapter answers with. */
  readonly status: number
  /** Alias of `status` for frameworks (Fastify) that read `statusCode`. */
  get statusCode(): number {
    return this.status
  }
  /**
   * Why, in detail, for logs and `onRejected` hooks. May name certificate fields or OpenSSL
   * verification codes; never send it to the client.
   */
  readonly reason: string

  constructor(code: ClientCertErrorCode, reason: string, options: ClientCertErrorOptions = {}) {
    const info = CODES[code]
    super(info.message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.category = info.category
    this.status = options.status ?? DEFAULT_STATUS[info.category]
    this.reason = reason
  }

  /** The same error with another HTTP status. */
  withStatus(status: number): ClientCertError {
    if (status === this.status) return this
    return new ClientCertError(this.code, this.reason, { status, cause: this.cause })
  }
}

/** Thrown at construction when an option is wrong. `option` names it, e.g. `trust.anchors[2]`. */
export class ClientCertConfigError extends TypeError {
  override readonly name = 'ClientCertConfigError'
  readonly code: ClientCertConfigErrorCode = 'ERR_CLIENT_CERT_INVALID_OPTION'
  readonly option: string

  constructor(option: string, expected: string, options?: { cause?: unknown }) {
    super(`Invalid clientcert option "${option}": ${expected}`, options)
    this.option = option
  }
}

/**
 * Why a stage refused, before it becomes a `ClientCertError`: the one failure shape every
 * stage (sources, leaf and path rules, identity mapping, revocation) returns.
 */
export interface Rejection {
  readonly code: ClientCertErrorCode
  /** Log-only detail; never sent to the client. */
  readonly reason: string
}

/** A `Rejection` value. */
export function rejection(code: ClientCertErrorCode, reason: string): Rejection {
  return { code, reason }
}

/** Code of {@link TrustSourceError}. */
export type TrustSourceErrorCode = 'ERR_CLIENT_CERT_TRUST_SOURCE'

/**
 * A trust source (watched files, the SPIFFE Workload API) could not deliver a usable update.
 * Never thrown at a request: it reaches the source's `onError`, and the last good trust stays in
 * force. `source` names where it came from (`file:<path>`, `workload-api`), `cause` holds the
 * underlying error (often a `ClientCertConfigError` naming the option that failed).
 */
export class TrustSourceError extends Error {
  override readonly name = 'TrustSourceError'
  readonly code: TrustSourceErrorCode = 'ERR_CLIENT_CERT_TRUST_SOURCE'
  readonly source: string

  constructor(source: string, message: string, options?: { cause?: unknown }) {
    super(`clientcert trust source "${source}": ${message}`, options)
    this.source = source
  }
}

/** Every per-request error code, for docs and exhaustiveness checks. */
export const CLIENT_CERT_ERROR_CODES: readonly ClientCertErrorCode[] = Object.freeze(
  Object.keys(CODES) as ClientCertErrorCode[],
)

/** The fixed public message of a code. */
export function publicMessage(code: ClientCertErrorCode): string {
  return CODES[code].message
}

/**
 * True for a `ClientCertError`, also across the ESM/CommonJS boundary (a dual-package install
 * can hold two copies of the class, so `instanceof` alone is not enough).
 */
export function isClientCertError(value: unknown): value is ClientCertError {
  if (value instanceof ClientCertError) return true
  if (typeof value !== 'object' || value === null) return false
  const v = value as { name?: unknown; code?: unknown }
  return v.name === 'ClientCertError' && typeof v.code === 'string' && Object.hasOwn(CODES, v.code)
}
