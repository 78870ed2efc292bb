import type { webcrypto } from 'node:crypto'
import { isIP } from 'node:net'
import { AsnConvert } from '@peculiar/asn1-schema'
import {
  GeneralSubtrees as AsnGeneralSubtrees,
  Name as AsnName,
  GeneralName,
  GeneralSubtree,
  NameConstraints,
} from '@peculiar/asn1-x509'
import type { Extension } from '@peculiar/x509'
import { encodeName } from './names.js'
import type {
  CertificateOptions,
  CustomExtension,
  GeneralSubtrees,
  KeyUsageName,
  SubjectAltNames,
} from './options.js'
import type { X509Module } from './x509-loader.js'

/** OID of the name constraints extension. */
export const NAME_CONSTRAINTS_OID = '2.5.29.30'

const KEY_USAGE_BITS: Readonly<Record<KeyUsageName, number>> = {
  digitalSignature: 1,
  nonRepudiation: 2,
  keyEncipherment: 4,
  dataEncipherment: 8,
  keyAgreement: 16,
  keyCertSign: 32,
  cRLSign: 64,
  encipherOnly: 128,
  decipherOnly: 256,
}

/** OIDs of the extended key usages that can be given by name. */
export const EKU_OIDS: Readonly<Record<string, string>> = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  ocspSigning: '1.3.6.1.5.5.7.3.9',
  anyExtendedKeyUsage: '2.5.29.37.0',
}

function ekuOid(usage: string): string {
  const oid = EKU_OIDS[usage] ?? usage
  if (!/^\d+(\.\d+)+$/.test(oid)) throw new Error(`Unknown extended key usage '${usage}'; use an OID`)
  return oid
}

function keyUsageFlags(usages: KeyUsageName[]): number {
  return usages.reduce((flags, usage) => {
    const bit = KEY_USAGE_BITS[usage]
    if (bit === undefined) throw new Error(`Unknown key usage '${usage}'`)
    return flags | bit
  }, 0)
}

function assertIp(ip: string): void {
  if (isIP(ip) === 0) throw new Error(`Invalid IP address '${ip}'`)
}

function assertCidr(cidr: string): void {
  const [address = '', prefix, ...rest] = cidr.split('/')
  const max = isIP(address) === 4 ? 32 : 128
  const bits = Number(prefix)
  if (rest.length > 0 || isIP(address) === 0 || !Number.isInteger(bits) || bits < 0 || bits > max) {
    throw new Error(`Invalid IP range '${cidr}'; expected CIDR such as '10.0.0.0/8' or '::1/128'`)
  }
}

function sanExtension(x509: X509Module, san: SubjectAltNames, critical: boolean): Extension {
  for (const ip of san.ip ?? []) assertIp(ip)
  const names = [
    ...(san.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(san.uri ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(san.email ?? []).map((value) => ({ type: 'email' as const, value })),
    ...(san.ip ?? []).map((value) => ({ type: 'ip' as const, value })),
  ]
  return new x509.SubjectAlternativeNameExtension(names, critical)
}

function subtreeNames(x509: X509Module, trees: GeneralSubtrees): GeneralName[] {
  for (const cidr of trees.ip ?? []) assertCidr(cidr)
  return [
    ...(trees.dns ?? []).map((dNSName) => new GeneralName({ dNSName })),
    ...(trees.email ?? []).map((rfc822Name) => new GeneralName({ rfc822Name })),
    ...(trees.uri ?? []).map((uniformResourceIdentifier) => new GeneralName({ uniformResourceIdentifier })),
    ...(trees.ip ?? []).map((iPAddress) => new GeneralName({ iPAddress })),
    ...(trees.dn ?? []).map(
      (dn) => new GeneralName({ directoryName: AsnConvert.parse(encodeName(x509, dn), AsnName) }),
    ),
  ]
}

function subtrees(x509: X509Module, trees: GeneralSubtrees | undefined): AsnGeneralSubtrees | undefined {
  if (!trees) return undefined
  const names = subtreeNames(x509, trees)
  if (names.length === 0) return undefined
  return new AsnGeneralSubtrees(names.map((base) => new GeneralSubtree({ base })))
}

/** Encodes the `extnValue` content of a name constraints extension. */
export function encodeNameConstraints(
  x509: X509Module,
  nc: { permitted?: GeneralSubtrees; excluded?: GeneralSubtrees },
): Uint8Array {
  const value = new NameConstraints({
    permittedSubtrees: subtrees(x509, nc.permitted),
    excludedSubtrees: subtrees(x509, nc.excluded),
  })
  return new Uint8Array(AsnConvert.serialize(value))
}

function customExtension(x509: X509Module, ext: CustomExtension): Extension {
  return new x509.Extension(ext.oid, ext.critical ?? false, ext.value)
}

const keyIdentifiers = new WeakMap<webcrypto.CryptoKey, Promise<string>>()

/**
 * The RFC 5280 §4.2.1.2 method 1 key identifier, once per key: a CA issues many certificates,
 * and each would otherwise export and hash its key again.
 */
function keyIdentifier(x509: X509Module, key: webcrypto.CryptoKey): Promise<string> {
  let id = keyIdentifiers.get(key)
  if (id === undefined) {
    id = x509.SubjectKeyIdentifierExtension.create(key).then((ext) => ext.keyId)
    keyIdentifiers.set(key, id)
  }
  return id
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex')
}

/** What the extension builder needs to know besides the options. */
export interface ExtensionContext {
  /** Public key of the certificate being built. */
  subjectPublicKey: webcrypto.CryptoKey
  /** Public key of the signer (the same key for self-signed certificates). */
  issuerPublicKey: webcrypto.CryptoKey
  /** Whether the subject DN is empty (makes the SAN extension critical). */
  emptySubject: boolean
}

function staticExtensions(x509: X509Module, opts: CertificateOptions, emptySubject: boolean): Extension[] {
  const list: Extension[] = []
  const bc = opts.basicConstraints
  if (bc) list.push(new x509.BasicConstraintsExtension(bc.ca, bc.pathLen, bc.critical ?? true))
  if (opts.keyUsage) list.push(new x509.KeyUsagesExtension(keyUsageFlags(opts.keyUsage), true))
  if (opts.eku) list.push(new x509.ExtendedKeyUsageExtension(opts.eku.map(ekuOid), false))
  if (opts.san) list.push(sanExtension(x509, opts.san, emptySubject))
  const nc = opts.nameConstraints
  if (nc)
    list.push(new x509.Extension(NAME_CONSTRAINTS_OID, nc.critical ?? true, encodeNameConstraints(x509, nc)))
  return list
}

/** Builds all extensions for a certificate in a stable order: BC, KU, EKU, SAN, NC, SKI, AKI, custom. */
export async function buildExtensions(
  x509: X509Module,
  opts: CertificateOptions,
  context: ExtensionContext,
): Promise<Extension[]> {
  const list = staticExtensions(x509, opts, context.emptySubject)
  const ski = opts.subjectKeyIdentifier
  if (ski !== false) {
    const id = ski instanceof Uint8Array ? hex(ski) : await keyIdentifier(x509, context.subjectPublicKey)
    list.push(new x509.SubjectKeyIdentifierExtension(id))
  }
  const aki = opts.authorityKeyIdentifier
  if (aki !== false) {
    const id = aki instanceof Uint8Array ? hex(aki) : await keyIdentifier(x509, context.issuerPublicKey)
    list.push(new x509.AuthorityKeyIdentifierExtension(id))
  }
  for (const ext of opts.extensions ?? []) list.push(customExtension(x509, ext))
  return list
}
