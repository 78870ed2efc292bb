import { CLIENT_CN } from './pki.mjs'

/**
 * Issue 19's micro-variants (diagnostics, not products): each is one thing an authentication
 * middleware does, alone, so bench/cpu.mjs can price it against `empty-middleware`.
 */
const PROBE_MARK = Symbol.for('bench.mark')
const probeValue = Object.freeze({ id: CLIENT_CN })
const probeMap = new WeakMap()
export const expressProbes = {
  // the reads of mountedAfterBody(): absent properties looked up through the prototype chain
  'probe-read-absent': (req, _res, next) => {
    if (req._body === true || req.body !== undefined || req.readableDidRead === true || req.raw?.x) return
    next()
  },
  'probe-write-symbol': (req, _res, next) => {
    req[PROBE_MARK] = probeValue
    next()
  },
  'probe-write-prop': (req, _res, next) => {
    req.clientCert = probeValue
    next()
  },
  'probe-write-both': (req, _res, next) => {
    req[PROBE_MARK] = probeValue
    req.clientCert = probeValue
    next()
  },
  'probe-weakmap-req': (req, _res, next) => {
    probeMap.set(req, probeValue)
    next()
  },
  'probe-weakmap-socket': (req, _res, next) => {
    if (probeMap.get(req.socket) === undefined) probeMap.set(req.socket, probeValue)
    next()
  },
}
