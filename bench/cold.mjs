// Cold validation: a fresh certificate every time, in-process through authenticate()
// (forwarded rfc9440 headers, app-level trust), vs pkijs CertificateChainValidationEngine,
// @peculiar/x509 X509ChainBuilder, and the node:crypto.verify floor of the chain's signatures.
//   node bench/cold.mjs '{"rounds":3,"n":2000,"nRsa":400,"nPeer":300}'
// Prints one JSON line with per-round samples.
import { createPublicKey, verify, webcrypto } from 'node:crypto'
import { createRequire } from 'node:module'
import { createClientCertAuthenticator } from '@clientcert/core'
import { createTestPki } from '@clientcert/testing'
import * as pkijs from 'pkijs'
import { certFactory, splitCert, verifyParams } from './lib/certs.mjs'
import { forwardedRequest, forwardedSource } from './lib/fwd.mjs'

const o = JSON.parse(process.argv[2] ?? '{}')
const rounds = o.rounds ?? 3
// @peculiar/x509 is a dependency of @clientcert/testing; resolve it from there.
const testingRequire = createRequire(new URL('../packages/testing/package.json', import.meta.url))
const x509 = await import(testingRequire.resolve('@peculiar/x509'))
x509.cryptoProvider.set(webcrypto)
pkijs.setEngine('node', new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto }))

const ms = (t) => Number(t) / 1e6
const hr = () => process.hrtime.bigint()

async function setup(keyAlgorithm, levels) {
  const pki = await createTestPki({ keyAlgorithm })
  const marker = 'cold-client-0000000'
  const issuer = levels === 2 ? pki.root : pki.intermediate
  const template = await issuer.issueClient({ subject: `CN=${marker}`, keyAlgorithm })
  const make = certFactory(template, issuer.keyPem, marker)
  const chain = levels === 3 ? [pki.intermediate.der] : []
  return { pki, issuer, make, chain }
}

function floorOf(s, leaves) {
  // Signatures of the chain: leaf by its issuer, and (3-level) intermediate by the root.
  const issuerKey = createPublicKey(s.issuer.pem)
  const rootKey = createPublicKey(s.pki.root.pem)
  const split = leaves.map((d) => splitCert(d))
  const inter = s.chain.length ? splitCert(s.chain[0]) : undefined
  const p = verifyParams(split[0].alg)
  const t = hr()
  for (const c of split) {
    if (!verify(p.hash, c.tbs, { key: issuerKey, dsaEncoding: p.dsaEncoding }, c.sig))
      throw new Error('floor: bad sig')
    if (inter && !verify(p.hash, inter.tbs, { key: rootKey, dsaEncoding: p.dsaEncoding }, inter.sig))
      throw new Error('floor: bad intermediate sig')
  }
  return ms(hr() - t) / leaves.length
}

async function clientcertOf(s, leaves) {
  const auth = createClientCertAuthenticator({
    identity: 'cn',
    allow: { authenticated: true },
    source: forwardedSource,
    trust: { anchors: s.pki.root.pem },
  })
  const reqs = leaves.map((d) => forwardedRequest(d, s.chain))
  const t = hr()
  for (const r of reqs) {
    const res = await auth.authenticate(r)
    if (!res.ok) throw new Error(`clientcert rejected: ${res.error.code} ${res.error.reason}`)
  }
  return ms(hr() - t) / leaves.length
}

async function pkijsOf(s, leaves) {
  const root = pkijs.Certificate.fromBER(s.pki.root.der)
  const inter = s.chain.map((d) => pkijs.Certificate.fromBER(d))
  const t = hr()
  for (const d of leaves) {
    const leaf = pkijs.Certificate.fromBER(d)
    const engine = new pkijs.CertificateChainValidationEngine({
      trustedCerts: [root],
      certs: [leaf, ...inter],
    })
    const r = await engine.verify()
    if (!r.result) throw new Error(`pkijs rejected: ${r.resultMessage}`)
  }
  return ms(hr() - t) / leaves.length
}

async function x509Of(s, leaves) {
  const root = new x509.X509Certificate(s.pki.root.der)
  const inter = s.chain.map((d) => new x509.X509Certificate(d))
  const t = hr()
  for (const d of leaves) {
    const leaf = new x509.X509Certificate(d)
    const builder = new x509.X509ChainBuilder({ certificates: [root, ...inter] })
    const chain = await builder.build(leaf)
    if (chain.length !== 2 + inter.length) throw new Error(`x509 chain of ${chain.length}`)
  }
  return ms(hr() - t) / leaves.length
}

const out = {}
const cases = [
  ['p256_2', 'P-256', 2, o.n ?? 2000],
  ['p256_3', 'P-256', 3, o.n ?? 2000],
  ['rsa2048_2', 'RSA-2048', 2, o.nRsa ?? 400],
  ['rsa2048_3', 'RSA-2048', 3, o.nRsa ?? 400],
]
for (const [name, alg, levels, n] of cases) {
  const s = await setup(alg, levels)
  const tGen = hr()
  const leaves = Array.from({ length: n }, (_, i) => s.make(i))
  const genMsPerCert = ms(hr() - tGen) / n
  const nPeer = Math.min(n, o.nPeer ?? 300)
  const r = { genMsPerCert, n, nPeer, clientcertMs: [], floorMs: [], pkijsMs: [], x509Ms: [] }
  // Warm the JIT once (a separate authenticator, so the timed ones stay cold).
  await clientcertOf(s, leaves.slice(0, Math.min(200, n)))
  await pkijsOf(s, leaves.slice(0, 20))
  await x509Of(s, leaves.slice(0, 20))
  for (let i = 0; i < rounds; i++) {
    r.clientcertMs.push(await clientcertOf(s, leaves))
    r.floorMs.push(floorOf(s, leaves))
    r.pkijsMs.push(await pkijsOf(s, leaves.slice(0, nPeer)))
    r.x509Ms.push(await x509Of(s, leaves.slice(0, nPeer)))
  }
  out[name] = r
  process.stderr.write(`cold ${name}: clientcert ${(1000 / r.clientcertMs[0]).toFixed(0)}/s\n`)
}
process.stdout.write(`${JSON.stringify(out)}\n`)
