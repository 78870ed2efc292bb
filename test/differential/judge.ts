import { spawn } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ClientCertConfigError, createClientCertAuthenticator } from '@clientcert/core'
import { AT, type ChainFiles } from './generate.js'

/** A validator's answer for one chain. */
export interface Verdict {
  readonly ok: boolean
  /** Error code and reason (core) or OpenSSL's first error line. */
  readonly reason: string
}

/**
 * The core's verdict, as production reaches it: an authenticator with app-level trust (the
 * anchor and the offered intermediates), every other option at its default, asked about a
 * request whose socket presents the leaf as Node's TLS socket would after a handshake with
 * `rejectUnauthorized: false`. A configuration error (an anchor or intermediate the strict
 * parser refuses) is a rejection.
 */
export async function coreVerdict(files: ChainFiles): Promise<Verdict> {
  // A self-signed leaf trusted as itself is what the product calls a pin: trust.anchors
  // refuses a non-CA certificate at construction and points to trust.pins.
  const pinned = files.anchors === files.leaf
  const leaf = new X509Certificate(files.leaf)
  let auth: ReturnType<typeof createClientCertAuthenticator>
  try {
    auth = createClientCertAuthenticator({
      trust: pinned
        ? { pins: [leaf.fingerprint256] }
        : {
            anchors: files.anchors,
            ...(files.intermediates.length > 0 ? { intermediates: [...files.intermediates] } : {}),
          },
      allow: { authenticated: true },
      now: () => AT,
    })
  } catch (err) {
    if (err instanceof ClientCertConfigError) return { ok: false, reason: `config: ${err.message}` }
    throw err
  }
  const raw = leaf.raw
  const socket = {
    encrypted: true,
    authorized: false,
    authorizationError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    destroyed: false,
    getPeerX509Certificate: () => ({ raw }),
    getPeerCertificate: () => ({ raw }),
  }
  const result = await auth.authenticate({ socket, headers: {} })
  return result.ok
    ? { ok: true, reason: 'OK' }
    : { ok: false, reason: `${result.error.code}: ${result.error.reason}` }
}

/** `openssl verify` as an OpenSSL-based proxy judges a client certificate, at the pinned time. */
export function opensslArgs(
  anchors: string,
  untrusted: string | undefined,
  leaves: readonly string[],
  variant: Variant = {},
): string[] {
  return [
    'verify',
    ...(variant.strict === false ? [] : ['-x509_strict']),
    '-purpose',
    variant.purpose ?? 'sslclient',
    '-attime',
    String((variant.at ?? AT) / 1000),
    '-no-CApath',
    '-no-CAstore',
    '-CAfile',
    anchors,
    ...(untrusted === undefined ? [] : ['-untrusted', untrusted]),
    ...leaves,
  ]
}

function runOpenssl(
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/**
 * Reads one verdict per leaf file from `openssl verify` output: "<file>: OK" on stdout, or the
 * first "error N at D depth lookup" line on stderr before "error <file>: verification failed".
 */
function parseVerdicts(stdout: string, stderr: string): Map<string, Verdict> {
  const out = new Map<string, Verdict>()
  for (const line of stdout.split('\n')) {
    const ok = /^(.*\.pem): OK$/.exec(line)
    if (ok?.[1]) out.set(ok[1], { ok: true, reason: 'OK' })
  }
  let first: string | undefined
  for (const line of stderr.split('\n')) {
    const failed = /^error (.*\.pem): verification failed$/.exec(line)
    if (failed?.[1]) {
      out.set(failed[1], { ok: false, reason: first ?? 'verification failed' })
      first = undefined
      continue
    }
    const error = /^error \d+ at \d+ depth lookup: .*/.exec(line)?.[0]
    first ??= error
  }
  return out
}

/** One chain for `openssl verify`. */
export interface OpensslJob {
  readonly id: number
  readonly files: ChainFiles
}

/**
 * Another question to OpenSSL about the same chain, used to confirm why it disagrees: without
 * `-x509_strict`, with the intermediates offered in reverse order, or at another time.
 */
export interface Variant {
  readonly strict?: boolean
  readonly reverse?: boolean
  readonly at?: number
  readonly purpose?: 'any'
}

/** One chain, alone: its own anchor file and its own intermediates. */
export async function opensslVerdict(dir: string, job: OpensslJob, variant: Variant = {}): Promise<Verdict> {
  const base = join(dir, `single-${job.id}-${Object.values(variant).join('-')}`)
  const offered = variant.reverse ? [...job.files.intermediates].reverse() : job.files.intermediates
  await writeFile(`${base}-anchor.pem`, job.files.anchors)
  await writeFile(`${base}-untrusted.pem`, offered.join(''))
  await writeFile(`${base}-leaf.pem`, job.files.leaf)
  const hasUntrusted = job.files.intermediates.length > 0
  const leaf = `${base}-leaf.pem`
  const { stdout, stderr } = await runOpenssl(
    opensslArgs(`${base}-anchor.pem`, hasUntrusted ? `${base}-untrusted.pem` : undefined, [leaf], variant),
  )
  const verdict = parseVerdicts(stdout, stderr).get(leaf)
  return verdict ?? { ok: false, reason: (stderr.trim().split('\n')[0] ?? '') || 'no verdict' }
}

/**
 * Many chains in one `openssl verify`: one process start costs more than verifying a chain. All
 * anchors go into one CAfile and all intermediates into one untrusted file; this is sound
 * because every name in a chain carries the chain's index, so no path can cross chains (the
 * test checks batch and single verdicts agree on a sample). A batch OpenSSL cannot load whole
 * (a certificate it refuses to parse) is judged chain by chain.
 */
export async function opensslBatch(dir: string, jobs: readonly OpensslJob[]): Promise<Map<number, Verdict>> {
  const base = join(dir, `batch-${jobs[0]?.id ?? 0}`)
  await mkdir(base, { recursive: true })
  const anchors = join(base, 'anchors.pem')
  const untrusted = join(base, 'untrusted.pem')
  await writeFile(anchors, jobs.map((j) => j.files.anchors).join(''))
  const intermediates = jobs.flatMap((j) => j.files.intermediates)
  await writeFile(untrusted, intermediates.join(''))
  const leaves = jobs.map((j) => join(base, `${j.id}.pem`))
  await Promise.all(jobs.map((j, i) => writeFile(leaves[i] as string, j.files.leaf)))
  const { stdout, stderr } = await runOpenssl(
    opensslArgs(anchors, intermediates.length > 0 ? untrusted : undefined, leaves),
  )
  const parsed = parseVerdicts(stdout, stderr)
  const out = new Map<number, Verdict>()
  for (const [i, job] of jobs.entries()) {
    const verdict = parsed.get(leaves[i] as string)
    out.set(job.id, verdict ?? (await opensslVerdict(base, job)))
  }
  return out
}

/** Runs `task` over `items` with at most `limit` in flight. */
export async function pool<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await task(items[i] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}
