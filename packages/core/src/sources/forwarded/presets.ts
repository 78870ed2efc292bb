import { createHash } from 'node:crypto'
import { parseCertificate } from '../../cert/parse.js'
import { ClientCertConfigError } from '../../errors.js'
import { base64Der, DecodeError, pemCertificates, percentDecode, singlePem } from './decode.js'
import { parseByteSequenceItem, parseByteSequenceList, StructuredFieldError } from './structured-fields.js'
import { parseXfcc } from './xfcc.js'

/** Built-in forwarded-certificate formats; see docs/proxies/. */
export type ForwardedFormat =
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

/** Decoders for a custom header. */
export type ForwardedDecoder = 'base64-der' | 'url-pem' | 'pem' | 'rfc9440'

/** A header this library has no preset for. */
export interface CustomForwardedFormat {
  /** Header carrying the leaf certificate. */
  readonly header: string
  readonly decoder: ForwardedDecoder
  /** Header carrying issuers (same decoder; PEM decoders accept several blocks, rfc9440 a list). */
  readonly chainHeader?: string
  /** Header the proxy sets to `verifyValue` only when it verified the certificate. */
  readonly verifyHeader?: string
  readonly verifyValue?: string
}

export const FORWARDED_FORMATS: readonly ForwardedFormat[] = [
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

export interface Decoded {
  readonly leaf: Uint8Array
  readonly chain: readonly Uint8Array[]
}

/** Reads one header's value; `undefined` when absent. Throws DecodeError for a bad one. */
export type HeaderGetter = (name: string) => string | undefined

/** A resolved format: header names, verify signal, decoder. */
export interface Preset {
  readonly name: string
  readonly certHeader: string
  readonly chainHeader?: string | undefined
  readonly verify?: { readonly header: string; readonly value: string } | undefined
  /** Values of the cert header that mean "no certificate" (Tomcat-style `(null)`, empty). */
  readonly absent: readonly string[]
  /** Other headers `decode` reads (hash cross-checks). */
  readonly extraHeaders?: readonly string[]
  decode(cert: string, get: HeaderGetter, limits: Limits): Decoded
}

export interface Limits {
  /** Most certificates in a forwarded chain (leaf excluded). */
  readonly maxChain: number
  /** XFCC element to use. */
  readonly xfccElement: 'first' | 'last' | number
}

/**
 * Certificate and verification headers of every supported proxy (canonical spelling). Any of
 * them, in any spelling, arriving from a peer that is not an allowlisted proxy is treated as an
 * attack, whatever format the application is configured for; from a proxy, their spellings
 * other than these (`x_ssl_client_cert`) are. Exact names, so that unrelated application
 * headers (`X-Client-Cert-Id`) are not caught.
 */
export const KNOWN_HEADERS: ReadonlySet<string> = new Set([
  'client-cert',
  'client-cert-chain',
  'x-forwarded-client-cert',
  'x-forwarded-tls-client-cert',
  'x-forwarded-tls-client-cert-info',
  'x-ssl-client-cert',
  'x-ssl-client-verify',
  'x-ssl-client-s-dn',
  'x-ssl-client-i-dn',
  'x-ssl-client-dn',
  'x-ssl-client-serial',
  'x-ssl-client-used',
  'x-ssl-cert',
  'ssl-client-cert',
  'ssl-client-verify',
  'ssl-client-subject-dn',
  'ssl-client-issuer-dn',
  'x-client-cert',
  'x-client-verify',
  'x-client-cert-present',
  'x-client-cert-chain-verified',
  'x-client-cert-error',
  'x-client-cert-hash',
  'x-client-cert-serial-number',
  'x-client-cert-spiffe',
  'x-client-cert-uri-sans',
  'x-client-cert-dnsname-sans',
  'x-client-cert-valid-not-before',
  'x-client-cert-valid-not-after',
  'x-client-cert-leaf',
  'x-client-cert-chain',
  'x-arr-clientcert',
])

/** Vendor namespaces where every header concerns the client certificate (AWS ALB, Cloudflare). */
export const VENDOR_PREFIXES: readonly string[] = ['x-amzn-mtls-clientcert', 'cf-client-cert']

const rfc9440Chain = (value: string | undefined, limits: Limits): Uint8Array[] => {
  if (value === undefined) return []
  const chain = parseByteSequenceList(value)
  if (chain.length > limits.maxChain) throw new DecodeError(`chain longer than ${limits.maxChain}`)
  return chain
}

function defaults(name: ForwardedFormat): Omit<Preset, 'name'> {
  switch (name) {
    case 'rfc9440':
      return {
        certHeader: 'client-cert',
        chainHeader: 'client-cert-chain',
        absent: [''],
        decode: (cert, get, limits) => ({
          leaf: parseByteSequenceItem(cert),
          chain: rfc9440Chain(get('client-cert-chain'), limits),
        }),
      }
    case 'xfcc':
      return { certHeader: 'x-forwarded-client-cert', absent: [], decode: decodeXfcc }
    case 'nginx':
      return {
        certHeader: 'x-ssl-client-cert',
        verify: { header: 'x-ssl-client-verify', value: 'SUCCESS' },
        absent: [''],
        decode: (cert) => ({ leaf: singlePem(percentDecode(cert)), chain: [] }),
      }
    case 'haproxy':
      return {
        certHeader: 'x-ssl-client-cert',
        verify: { header: 'x-ssl-client-verify', value: '0' },
        absent: [''],
        decode: (cert) => ({ leaf: base64Der(cert), chain: [] }),
      }
    case 'traefik':
      return {
        certHeader: 'x-forwarded-tls-client-cert',
        absent: [],
        decode: (cert, _get, limits) => {
          const [leaf, ...chain] = cert.split(',').map((part) => base64Der(part))
          if (chain.length > limits.maxChain) throw new DecodeError(`chain longer than ${limits.maxChain}`)
          return { leaf: leaf!, chain }
        },
      }
    case 'caddy':
      // Caddy 2.6 leaves the placeholder unreplaced when the client sent no certificate.
      return {
        certHeader: 'x-client-cert',
        absent: ['', '{http.request.tls.client.certificate_der_base64}'],
        decode: (cert) => ({ leaf: base64Der(cert), chain: [] }),
      }
    case 'aws-alb':
      return {
        certHeader: 'x-amzn-mtls-clientcert-leaf',
        absent: [],
        decode: (cert) => ({ leaf: singlePem(percentDecode(cert)), chain: [] }),
      }
    case 'aws-alb-passthrough':
      return {
        certHeader: 'x-amzn-mtls-clientcert',
        absent: [],
        decode: (cert, _get, limits) => {
          const [leaf, ...chain] = pemCertificates(percentDecode(cert), limits.maxChain + 1)
          return { leaf: leaf!, chain }
        },
      }
    case 'azure':
      return {
        certHeader: 'x-arr-clientcert',
        absent: [],
        decode: (cert) => ({ leaf: base64Der(cert), chain: [] }),
      }
    case 'gcp':
      return {
        certHeader: 'x-client-cert-leaf',
        extraHeaders: ['x-client-cert-hash'],
        chainHeader: 'x-client-cert-chain',
        verify: { header: 'x-client-cert-chain-verified', value: 'true' },
        absent: [''],
        decode: (cert, get, limits) => {
          const leaf = parseByteSequenceItem(cert)
          const hash = get('x-client-cert-hash')
          if (hash !== undefined && hash !== createHash('sha256').update(leaf).digest('base64')) {
            throw new DecodeError('x-client-cert-hash does not match the certificate')
          }
          return { leaf, chain: rfc9440Chain(get('x-client-cert-chain'), limits) }
        },
      }
    case 'cloudflare':
      return {
        certHeader: 'cf-client-cert-der-base64',
        extraHeaders: ['cf-client-cert-sha256'],
        absent: [''],
        decode: (cert, get) => {
          const leaf = base64Der(cert)
          const hash = get('cf-client-cert-sha256')
          if (hash !== undefined && hash.toLowerCase() !== createHash('sha256').update(leaf).digest('hex')) {
            throw new DecodeError('cf-client-cert-sha256 does not match the certificate')
          }
          return { leaf, chain: [] }
        },
      }
  }
}

/**
 * Envoy XFCC: identity comes from `Cert`, never from `Subject`/`URI`/`DNS`. Envoy writes URI
 * and DNS unquoted, so a certificate whose SAN holds `,` or `;` can split the header and
 * append a forged element. Every element that carries a Cert is therefore checked: its Hash
 * must match, its SANs must not hold XFCC separators, and its URI/DNS fields must be SANs of
 * its own Cert (a split leaves a truncated value behind).
 */
function decodeXfcc(value: string, _get: HeaderGetter, limits: Limits): Decoded {
  const elements = parseXfcc(value)
  const pick = limits.xfccElement
  const index = pick === 'first' ? 0 : pick === 'last' ? elements.length - 1 : pick
  let chosen: Decoded | undefined
  for (const [i, element] of elements.entries()) {
    const certText = element.get('cert')?.[0]
    if (certText === undefined) {
      if (i === index)
        throw new DecodeError('the XFCC element has no Cert (configure Envoy to forward the certificate)')
      continue
    }
    const leaf = singlePem(percentDecode(certText))
    checkXfccElement(element, leaf)
    if (i === index) chosen = { leaf, chain: xfccChain(element.get('chain')?.[0], leaf, limits) }
  }
  if (chosen === undefined)
    throw new DecodeError(`XFCC has ${elements.length} element(s), element ${String(pick)} requested`)
  return chosen
}

/** Envoy's `Chain` is the whole chain, leaf included; the leaf is dropped from the hints. */
function xfccChain(value: string | undefined, leaf: Uint8Array, limits: Limits): Uint8Array[] {
  if (value === undefined) return []
  const certs = pemCertificates(percentDecode(value), limits.maxChain + 1)
  if (certs[0] !== undefined && Buffer.from(certs[0]).equals(leaf)) certs.shift()
  else if (certs.length > limits.maxChain) throw new DecodeError(`chain longer than ${limits.maxChain}`)
  return certs
}

function checkXfccElement(element: ReadonlyMap<string, readonly string[]>, leaf: Uint8Array): void {
  const hash = element.get('hash')?.[0]
  if (hash !== undefined && hash.toLowerCase() !== createHash('sha256').update(leaf).digest('hex')) {
    throw new DecodeError('XFCC Hash does not match Cert')
  }
  let san: { readonly uri: readonly string[]; readonly dns: readonly string[] }
  try {
    san = parseCertificate(leaf).san
  } catch (err) {
    throw new DecodeError(`XFCC Cert is not a certificate: ${(err as Error).message}`)
  }
  if ([...san.uri, ...san.dns].some((n) => /[,;"]/.test(n))) {
    throw new DecodeError('a SAN of an XFCC Cert holds "," ";" or a quote, which splits XFCC elements')
  }
  const claims = { uri: element.get('uri') ?? [], dns: element.get('dns') ?? [] }
  if (claims.uri.some((u) => !san.uri.includes(u)) || claims.dns.some((d) => !san.dns.includes(d))) {
    throw new DecodeError("XFCC URI/DNS fields disagree with the element's Cert")
  }
}

/** Resolves a configured format (preset name or custom) with header-name overrides. */
export function resolvePreset(
  format: unknown,
  overrides: { cert?: unknown; chain?: unknown; verify?: unknown; verifyValue?: unknown },
  option: string,
): Preset {
  let base: Preset
  if (typeof format === 'string') {
    if (!(FORWARDED_FORMATS as readonly string[]).includes(format)) {
      throw new ClientCertConfigError(
        option,
        `unknown format "${format}"; expected one of ${FORWARDED_FORMATS.join(', ')} or a custom { header, decoder }`,
      )
    }
    base = { name: format, ...defaults(format as ForwardedFormat) }
  } else {
    base = customPreset(format, option)
  }
  const cert =
    overrides.cert === undefined ? base.certHeader : headerName(overrides.cert, 'forwarded.headers.cert')
  if (overrides.chain !== undefined && base.chainHeader === undefined) {
    throw new ClientCertConfigError(
      'forwarded.headers.chain',
      `the ${base.name} format carries no chain header`,
    )
  }
  const chain =
    overrides.chain === undefined ? base.chainHeader : headerName(overrides.chain, 'forwarded.headers.chain')
  let verify = base.verify
  if (overrides.verify !== undefined || overrides.verifyValue !== undefined) {
    const header =
      overrides.verify === undefined
        ? base.verify?.header
        : headerName(overrides.verify, 'forwarded.headers.verify')
    const v = overrides.verifyValue ?? base.verify?.value
    if (header === undefined || typeof v !== 'string' || v === '') {
      throw new ClientCertConfigError(
        'forwarded.headers.verifyValue',
        'a verify header needs a non-empty verifyValue (and the other way round)',
      )
    }
    verify = { header, value: v }
  }
  if (cert === base.certHeader && chain === base.chainHeader) return { ...base, verify }
  // Renamed headers: the decoder must read the renamed chain header too.
  return {
    ...base,
    certHeader: cert,
    chainHeader: chain,
    verify,
    decode: (value, get, limits) =>
      base.decode(
        value,
        (name) => get(name === base.chainHeader && chain !== undefined ? chain : name),
        limits,
      ),
  }
}

function customPreset(format: unknown, option: string): Preset {
  if (typeof format !== 'object' || format === null)
    throw new ClientCertConfigError(option, 'must be a preset name or { header, decoder }')
  const f = format as Record<string, unknown>
  for (const k of Object.keys(f)) {
    if (!['header', 'decoder', 'chainHeader', 'verifyHeader', 'verifyValue'].includes(k)) {
      throw new ClientCertConfigError(
        `${option}.${k}`,
        'unknown key; expected header, decoder, chainHeader, verifyHeader, verifyValue',
      )
    }
  }
  const certHeader = headerName(f.header, `${option}.header`)
  const chainHeader =
    f.chainHeader === undefined ? undefined : headerName(f.chainHeader, `${option}.chainHeader`)
  let verify: Preset['verify']
  if (f.verifyHeader !== undefined || f.verifyValue !== undefined) {
    if (typeof f.verifyValue !== 'string' || f.verifyValue === '')
      throw new ClientCertConfigError(`${option}.verifyValue`, 'must be a non-empty string')
    verify = { header: headerName(f.verifyHeader, `${option}.verifyHeader`), value: f.verifyValue }
  }
  const decodeOne = customDecoder(f.decoder, `${option}.decoder`)
  return {
    name: 'custom',
    certHeader,
    chainHeader,
    verify,
    absent: ['', '(null)'],
    decode: (cert, get, limits) => {
      const [leaf, ...more] = decodeOne(cert, 1)
      if (more.length > 0) throw new DecodeError('several certificates where one is expected')
      const chainValue = chainHeader === undefined ? undefined : get(chainHeader)
      return { leaf: leaf!, chain: chainValue === undefined ? [] : decodeOne(chainValue, limits.maxChain) }
    },
  }
}

function customDecoder(decoder: unknown, option: string): (value: string, max: number) => Uint8Array[] {
  switch (decoder) {
    case 'base64-der':
      return (v) => [base64Der(v)]
    case 'url-pem':
      return (v, max) => pemCertificates(percentDecode(v), max)
    case 'pem':
      return (v, max) => pemCertificates(v, max)
    case 'rfc9440':
      return (v, max) => {
        const list = parseByteSequenceList(v)
        if (list.length === 0 || list.length > max) throw new DecodeError('wrong number of certificates')
        return list
      }
    default:
      throw new ClientCertConfigError(option, 'expected "base64-der", "url-pem", "pem" or "rfc9440"')
  }
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/**
 * A configured header name, lower-cased but otherwise exactly as written: `x_cert` and
 * `x-cert` are different headers to the proxy that sets one of them, so only the configured
 * spelling is read and the other is refused as a twin.
 */
function headerName(v: unknown, option: string): string {
  if (typeof v !== 'string' || !TOKEN.test(v))
    throw new ClientCertConfigError(option, 'must be an HTTP header name')
  return v.toLowerCase()
}

export function isDecodeError(err: unknown): boolean {
  return err instanceof DecodeError || err instanceof StructuredFieldError
}
