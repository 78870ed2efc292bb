// Hostile forwarded chains (issue 13, finding 3): the worst cold request an allowlisted proxy can
// carry for a client that chooses the chain (ALB passthrough, nginx optional_no_ca, XFCC Chain),
// as a ratio to an ordinary cold request (P-256 leaf + intermediate, rfc9440, as cold.mjs p256_3).
// Every request has a fresh leaf, so neither the validation cache nor the failed-chain memo
// answers it; `repeat` is the same hostile request sent again (the memo's case).
//   node bench/hostile.mjs '{"rounds":3,"n":300}'
// Prints one JSON line: per strategy, ms per request per round, the ratio to ordinary, and the
// time of one P-256 verification per round (the hint budget's unit).
import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto'
import { createClientCertAuthenticator } from '@clientcert/core'
import {
  createRootCA,
  createTestPki,
  largeExponentRsaSpki,
  rsaSpki,
  withPublicKey,
} from '@clientcert/testing'
import { certFactory } from './lib/certs.mjs'
import { forwardedRequest, forwardedSource } from './lib/fwd.mjs'

const o = JSON.parse(process.argv[2] ?? '{}')
const rounds = o.rounds ?? 3
const n = o.n ?? 300
const hr = () => process.hrtime.bigint()
const marker = 'hostile-client-0000000'
const pki = await createTestPki({ keyAlgorithm: 'P-256' })

/** Fresh leaves under `issuer` (whose subject the hints copy). */
async function leavesUnder(issuer) {
  const template = await issuer.issueClient({ subject: `CN=${marker}` })
  const make = certFactory(template, issuer.keyPem, marker)
  return Array.from({ length: n }, (_, i) => make(i))
}

const spkiOf = (type, options) =>
  new Uint8Array(
    generateKeyPairSync(type, {
      ...options,
      publicKeyEncoding: { type: 'spki', format: 'der' },
      privateKeyEncoding: { type: 'pkcs8', format: 'der' },
    }).publicKey,
  )

function rsaWith(bits, e) {
  // The key encoded by its generation, then parsed: exporting from the KeyObject that
  // generateKeyPairSync returns hung this benchmark on Node 20 (a GC during the export ran the
  // finished job's destructor, which waited for the lock the export held).
  const spki = Buffer.from(spkiOf('rsa', { modulusLength: bits }))
  const jwk = createPublicKey({ key: spki, format: 'der', type: 'spki' }).export({ format: 'jwk' })
  const nBig = BigInt(`0x${Buffer.from(jwk.n, 'base64url').toString('hex')}`)
  return rsaSpki(nBig, e)
}

/** Four hints named as the leaf's issuer, each with a key from `spki()`; none signed the leaf. */
async function strategy(keyAlgorithm, spki) {
  const root = await createRootCA({ subject: 'CN=Hostile CA', keyAlgorithm })
  const hints = Array.from({ length: 4 }, () => withPublicKey(root.der, spki()))
  return { leaves: await leavesUnder(root), chain: hints }
}

const rsa8192 = rsaWith(8192, 65537n)
const strategies = {
  ordinary: { leaves: await leavesUnder(pki.intermediate), chain: [pki.intermediate.der] },
  rsa2048_e2040bits: await strategy('RSA-2048', () => largeExponentRsaSpki(2040)),
  rsa2048_e2p31m1: await strategy('RSA-2048', () => rsaWith(2048, 2n ** 31n - 1n)),
  rsa8192_e65537: await strategy('RSA-2048', () => rsa8192),
  p384: await strategy('P-256', () => spkiOf('ec', { namedCurve: 'P-384' })),
  p521: await strategy('P-256', () => spkiOf('ec', { namedCurve: 'P-521' })),
}

async function run(s, repeat) {
  const auth = createClientCertAuthenticator({
    identity: 'cn',
    allow: { authenticated: true },
    source: forwardedSource,
    trust: { anchors: pki.root.pem },
  })
  const reqs = s.leaves.map((d) => forwardedRequest(repeat ? s.leaves[0] : d, s.chain))
  const t = hr()
  for (const r of reqs) await auth.authenticate(r)
  return Number(hr() - t) / 1e6 / reqs.length
}

// The unit of the per-request hint budget (validate/verify.ts MAX_HINT_VERIFY_COST = 16 of them):
// one P-256 signature verification with a ready key, as the path search does it.
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const tbs = Buffer.alloc(400, 7)
const p256Signature = sign('sha256', tbs, p256.privateKey)
function p256VerifyMs() {
  const count = 2000
  const t = hr()
  for (let i = 0; i < count; i++)
    if (!verify('sha256', tbs, p256.publicKey, p256Signature)) throw new Error('P-256 verify failed')
  return Number(hr() - t) / 1e6 / count
}

// Warm the JIT on every path once.
for (const s of Object.values(strategies)) await run({ ...s, leaves: s.leaves.slice(0, 30) }, false)
p256VerifyMs()
const out = Object.fromEntries([...Object.keys(strategies), 'repeat'].map((k) => [k, []]))
const verifyMs = []
for (let r = 0; r < rounds; r++) {
  for (const [name, s] of Object.entries(strategies)) out[name].push(await run(s, false))
  out.repeat.push(await run(strategies.rsa2048_e2040bits, true))
  verifyMs.push(p256VerifyMs())
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const ordinary = median(out.ordinary)
const ratios = Object.fromEntries(Object.entries(out).map(([k, v]) => [k, median(v) / ordinary]))
const worst = Object.entries(ratios)
  .filter(([k]) => k !== 'ordinary')
  .sort((a, b) => b[1] - a[1])[0]
process.stdout.write(
  `${JSON.stringify({ n, rounds, msPerRequest: out, p256VerifyMs: verifyMs, ratios, worst })}\n`,
)
