import type { CertificateOptions } from './options.js'

/** Defaults of a root or intermediate CA. */
export const CA_PROFILE: CertificateOptions = {
  basicConstraints: { ca: true, critical: true },
  keyUsage: ['keyCertSign', 'cRLSign'],
  eku: null,
}

/** Defaults of a client (mTLS) certificate. */
export const CLIENT_PROFILE: CertificateOptions = {
  subject: 'CN=client',
  basicConstraints: { ca: false, critical: true },
  keyUsage: ['digitalSignature'],
  eku: ['clientAuth'],
}

/** Defaults of a loopback TLS server certificate. */
export const SERVER_PROFILE: CertificateOptions = {
  subject: 'CN=localhost',
  basicConstraints: { ca: false, critical: true },
  keyUsage: ['digitalSignature'],
  eku: ['serverAuth'],
  san: { dns: ['localhost'], ip: ['127.0.0.1', '::1'] },
}

/**
 * Merges options over defaults, property by property. `undefined` keeps the default; any other
 * value (including `null`) replaces it.
 */
export function withDefaults(
  defaults: CertificateOptions,
  opts: CertificateOptions = {},
): CertificateOptions {
  const defined = Object.entries(opts).filter(([, value]) => value !== undefined)
  return { ...defaults, ...(Object.fromEntries(defined) as CertificateOptions) }
}
