// Fake-but-realistic forwarded requests for in-process runs: what Node's HTTP parser hands the
// core for a request from the allowlisted proxy (rawHeaders, headers, socket.remoteAddress).
import { PROXY_IP } from './pki.mjs'

const sf = (der) => `:${Buffer.from(der).toString('base64')}:`
const socket = Object.freeze({ remoteAddress: PROXY_IP, encrypted: false, destroyed: false })

export function forwardedRequest(leafDer, chainDers = []) {
  const headers = { host: 'app.internal', 'client-cert': sf(leafDer) }
  if (chainDers.length > 0) headers['client-cert-chain'] = chainDers.map(sf).join(', ')
  return { socket, headers, rawHeaders: Object.entries(headers).flat(), method: 'GET', url: '/' }
}

export const forwardedSource = { forwarded: { format: 'rfc9440', trustedProxies: [PROXY_IP] } }
