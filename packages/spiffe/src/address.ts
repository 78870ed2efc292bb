import { isIP } from 'node:net'
import { ClientCertConfigError } from '@clientcert/core'

/**
 * A Workload API address (SPIFFE Workload Endpoint §4) as a gRPC target: `unix:` with an
 * absolute path and nothing else, or `tcp:` with an IP literal and a port (no host names, so
 * name resolution cannot redirect the workload to another agent).
 */
export function workloadTarget(address: string, option: string): string {
  let url: URL
  try {
    url = new URL(address)
  } catch {
    throw new ClientCertConfigError(option, 'is not a URI (expected unix:///path or tcp://IP:port)')
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '')
    throw new ClientCertConfigError(option, 'must not have user info, a query or a fragment')
  if (url.protocol === 'unix:') {
    if (url.host !== '')
      throw new ClientCertConfigError(option, 'a unix: address has no authority (unix:///path)')
    if (!url.pathname.startsWith('/') || url.pathname === '/')
      throw new ClientCertConfigError(option, 'a unix: address needs an absolute socket path')
    return `unix://${decodeURIComponent(url.pathname)}`
  }
  if (url.protocol === 'tcp:') {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
    if (isIP(host) === 0)
      throw new ClientCertConfigError(option, 'a tcp: address needs an IP address, not a name')
    if (url.port === '') throw new ClientCertConfigError(option, 'a tcp: address needs a port')
    if (url.pathname !== '' && url.pathname !== '/')
      throw new ClientCertConfigError(option, 'a tcp: address has no path')
    return isIP(host) === 6 ? `ipv6:[${host}]:${url.port}` : `ipv4:${host}:${url.port}`
  }
  throw new ClientCertConfigError(option, 'expected a unix: or tcp: address')
}
