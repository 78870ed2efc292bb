import { BlockList, isIP } from 'node:net'
import { ClientCertConfigError } from '../../errors.js'

/** Decides whether the immediate TCP peer is an allowlisted proxy. */
export interface ProxyMatcher {
  /** True when `remoteAddress` (as Node reports it on the socket) is allowlisted. */
  isTrusted(remoteAddress: unknown): boolean
}

/**
 * Builds the allowlist from addresses and CIDRs. Entries that trust everyone (`0.0.0.0/0`,
 * `::/0`, `*`, unspecified addresses, IPv6 prefixes that hold all of `::ffff:0:0/96`) are
 * refused: an allowlist that admits any peer turns a
 * forwarded header into a login form.
 */
export function createProxyMatcher(list: unknown, option: string, allowUnixSocket: boolean): ProxyMatcher {
  if (!Array.isArray(list) || list.length === 0) {
    throw new ClientCertConfigError(
      option,
      'must be a non-empty array of proxy addresses or CIDRs (e.g. "10.0.0.5", "10.1.0.0/16")',
    )
  }
  const blocks = new BlockList()
  for (const [i, entry] of list.entries()) addEntry(blocks, entry, `${option}[${i}]`)
  return {
    isTrusted(remoteAddress) {
      if (remoteAddress === undefined) return allowUnixSocket
      if (typeof remoteAddress !== 'string') return false
      const addr = normalise(remoteAddress)
      const family = isIP(addr)
      if (family === 0) return false
      return blocks.check(addr, family === 4 ? 'ipv4' : 'ipv6')
    },
  }
}

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack listener) is `10.0.0.1`; zone ids are dropped. */
export function normalise(address: string): string {
  const lower = address.toLowerCase().replace(/%.*$/, '')
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(lower)
  return mapped ? mapped[1]! : lower
}

function addEntry(blocks: BlockList, entry: unknown, at: string): void {
  if (typeof entry !== 'string') throw new ClientCertConfigError(at, 'must be an address or CIDR string')
  const [rawAddr, prefixText, extra] = entry.trim().split('/')
  if (extra !== undefined || rawAddr === undefined)
    throw new ClientCertConfigError(at, `"${entry}" is not an address or CIDR`)
  const single = normalise(rawAddr)
  // A prefix belongs to the address as written: "::ffff:10.0.0.0/104" is an IPv6 subnet.
  const addr = prefixText === undefined ? single : rawAddr.toLowerCase().replace(/%.*$/, '')
  const family = isIP(addr)
  if (family === 0)
    throw new ClientCertConfigError(
      at,
      `"${entry}" is not an IPv4/IPv6 address or CIDR (host names and "*" are not accepted)`,
    )
  if (single === '0.0.0.0' || single === '::')
    throw new ClientCertConfigError(at, `"${entry}" would trust every peer`)
  const type = family === 4 ? 'ipv4' : 'ipv6'
  if (prefixText === undefined) {
    blocks.addAddress(addr, type)
    return
  }
  if (!/^\d{1,3}$/.test(prefixText)) throw new ClientCertConfigError(at, `"${entry}" has a bad prefix length`)
  const prefix = Number(prefixText)
  const max = family === 4 ? 32 : 128
  if (prefix > max) throw new ClientCertConfigError(at, `"${entry}" has a prefix longer than ${max}`)
  if (prefix === 0) throw new ClientCertConfigError(at, `"${entry}" would trust every peer`)
  if (coversAllIpv4(addr, prefix, type))
    throw new ClientCertConfigError(
      at,
      `"${entry}" would trust every IPv4 peer (Node matches IPv4 peers as ::ffff:a.b.c.d); list the proxies' IPv4 addresses instead`,
    )
  blocks.addSubnet(addr, prefix, type)
}

/**
 * Whether a subnet admits every IPv4 peer, asked of Node's own BlockList so the answer follows
 * exactly the IPv4-to-IPv6 mapping it applies when checking a peer. A prefix is contiguous, so
 * holding the lowest and highest IPv4 address means holding all of them.
 */
function coversAllIpv4(addr: string, prefix: number, type: 'ipv4' | 'ipv6'): boolean {
  const probe = new BlockList()
  probe.addSubnet(addr, prefix, type)
  return probe.check('0.0.0.0', 'ipv4') && probe.check('255.255.255.255', 'ipv4')
}
