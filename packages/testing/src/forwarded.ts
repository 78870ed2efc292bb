import { createHash } from 'node:crypto'
import type { IssuedCertificate } from './pki.js'

/** Proxy formats with a header builder (mirrors `@clientcert/core`'s presets). */
export type ForwardedHeaderFormat =
  | 'rfc9440'
  | 'xfcc'
  | 'nginx'
  | 'haproxy'
  | 'traefik'
  | 'caddy'
  | 'aws-alb'
  | 'aws-alb-passthrough'
  | 'azure'
  | 'gcp'
  | 'cloudflare'

/** Every format with a header builder. */
export const FORWARDED_HEADER_FORMATS: readonly ForwardedHeaderFormat[] = [
  'rfc9440',
  'xfcc',
  'nginx',
  'haproxy',
  'traefik',
  'caddy',
  'aws-alb',
  'aws-alb-passthrough',
  'azure',
  'gcp',
  'cloudflare',
]

export interface ForwardedHeaderOptions {
  /** Issuers to forward with the leaf (formats that carry a chain). Default: the certificate's own `chain`. */
  readonly chain?: readonly IssuedCertificate[]
  /** For formats with a verify signal: `true` (default) writes the success value, a string writes that value, `false` omits it. */
  readonly verified?: boolean | string
  /** XFCC `By` (the proxy's own identity). Default `spiffe://example.org/proxy`. */
  readonly xfccBy?: string
}

const b64 = (der: Uint8Array) => Buffer.from(der).toString('base64')
const sfBinary = (der: Uint8Array) => `:${b64(der)}:`

/** nginx `$ssl_client_escaped_cert`: everything but `A-Za-z0-9-._~` percent-escaped. */
export function nginxEscape(text: string): string {
  return Array.from(Buffer.from(text, 'utf8'))
    .map((b) => {
      const ch = String.fromCharCode(b)
      return /[A-Za-z0-9\-._~]/.test(ch) ? ch : `%${b.toString(16).toUpperCase().padStart(2, '0')}`
    })
    .join('')
}

/** AWS ALB: URL-encoded PEM, but `+`, `=` and `/` left as they are. */
export function albEscape(text: string): string {
  return encodeURIComponent(text).replace(/%2B/g, '+').replace(/%3D/g, '=').replace(/%2F/g, '/')
}

/**
 * The headers a given proxy would add for `cert`, built to each proxy's documented format.
 * Use them to test forwarded mode without running that proxy (Envoy, Traefik, cloud load
 * balancers), or to play an attacker who sends them directly.
 */
export function forwardedHeaders(
  format: ForwardedHeaderFormat,
  cert: IssuedCertificate,
  opts: ForwardedHeaderOptions = {},
): Record<string, string> {
  const chain = opts.chain ?? cert.chain
  const verified = opts.verified ?? true
  const verify = (success: string): Record<string, string> =>
    verified === false ? {} : { value: verified === true ? success : verified }
  const hex = createHash('sha256').update(cert.der).digest('hex')
  switch (format) {
    case 'rfc9440':
      return {
        'client-cert': sfBinary(cert.der),
        ...(chain.length > 0 ? { 'client-cert-chain': chain.map((c) => sfBinary(c.der)).join(', ') } : {}),
      }
    case 'xfcc': {
      const san = sanOf(cert)
      const parts = [
        `By=${opts.xfccBy ?? 'spiffe://example.org/proxy'}`,
        `Hash=${hex}`,
        `Cert="${encodeURIComponent(cert.pem)}"`,
        // Envoy's Chain is the whole chain, leaf first.
        ...(chain.length > 0
          ? [`Chain="${encodeURIComponent([cert, ...chain].map((c) => c.pem).join(''))}"`]
          : []),
        `Subject="${cert.certificate.subject.replace(/"/g, '\\"')}"`,
        ...san.uri.map((u) => `URI=${u}`),
        ...san.dns.map((d) => `DNS=${d}`),
      ]
      return { 'x-forwarded-client-cert': parts.join(';') }
    }
    case 'nginx': {
      const v = verify('SUCCESS')
      return {
        'x-ssl-client-cert': nginxEscape(cert.pem),
        ...(v.value ? { 'x-ssl-client-verify': v.value } : {}),
      }
    }
    case 'haproxy': {
      const v = verify('0')
      return { 'x-ssl-client-cert': b64(cert.der), ...(v.value ? { 'x-ssl-client-verify': v.value } : {}) }
    }
    case 'traefik':
      return { 'x-forwarded-tls-client-cert': [cert, ...chain].map((c) => b64(c.der)).join(',') }
    case 'caddy':
      return { 'x-client-cert': b64(cert.der) }
    case 'aws-alb':
      return {
        'x-amzn-mtls-clientcert-leaf': albEscape(cert.pem),
        'x-amzn-mtls-clientcert-serial-number': cert.certificate.serialNumber.toUpperCase(),
        'x-amzn-mtls-clientcert-issuer': cert.certificate.issuer,
        'x-amzn-mtls-clientcert-subject': cert.certificate.subject,
        'x-amzn-mtls-clientcert-validity': `NotBefore=${cert.certificate.notBefore.toISOString()};NotAfter=${cert.certificate.notAfter.toISOString()}`,
      }
    case 'aws-alb-passthrough':
      return { 'x-amzn-mtls-clientcert': albEscape([cert, ...chain].map((c) => c.pem).join('')) }
    case 'azure':
      return { 'x-arr-clientcert': b64(cert.der) }
    case 'gcp': {
      const v = verify('true')
      return {
        'x-client-cert-present': 'true',
        ...(v.value ? { 'x-client-cert-chain-verified': v.value } : {}),
        'x-client-cert-leaf': sfBinary(cert.der),
        ...(chain.length > 0 ? { 'x-client-cert-chain': chain.map((c) => sfBinary(c.der)).join(', ') } : {}),
        'x-client-cert-hash': createHash('sha256').update(cert.der).digest('base64'),
      }
    }
    case 'cloudflare':
      return { 'cf-client-cert-der-base64': b64(cert.der), 'cf-client-cert-sha256': hex }
  }
}

function sanOf(cert: IssuedCertificate): { uri: string[]; dns: string[] } {
  const ext = cert.certificate.getExtension('2.5.29.17') as {
    names?: { items?: Array<{ type: string; value: string }> }
  } | null
  const items = ext?.names?.items ?? []
  return {
    uri: items.filter((n) => n.type === 'url').map((n) => n.value),
    dns: items.filter((n) => n.type === 'dns').map((n) => n.value),
  }
}
