import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'

/**
 * Loader for the shared test vectors (see ../shared/vectors/README.md). The vectors are read
 * in place from outside the repository and never copied into it.
 */

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const vectorsDir = path.resolve(repoRoot, '..', 'shared', 'vectors')

export type Suite = 'limbo' | 'pkits' | 'go-x509'

export const SUITE_FILES: Readonly<Record<Suite, string>> = {
  limbo: 'limbo-pathvalidation.json.gz',
  pkits: 'pkits.json.gz',
  'go-x509': 'go-x509.json.gz',
}

/** One testcase in the x509-limbo shape shared by the three path-validation files. */
export interface Testcase {
  readonly id: string
  readonly description: string
  readonly features: readonly string[]
  readonly conflicts_with: readonly string[]
  readonly validation_kind: 'SERVER' | 'CLIENT'
  readonly trusted_certs: readonly string[]
  readonly untrusted_intermediates: readonly string[]
  readonly peer_certificate: string
  readonly validation_time: string | null
  readonly max_chain_depth: number | null
  readonly crls: readonly string[]
  readonly key_usage: readonly string[]
  readonly extended_key_usage: readonly string[]
  /** Limbo file only. */
  readonly eku_to_require?: readonly string[]
  readonly expected_result: 'SUCCESS' | 'FAILURE'
}

export function readGzJson<T>(file: string): T {
  return JSON.parse(gunzipSync(readFileSync(path.join(vectorsDir, file))).toString('utf8')) as T
}

export function loadSuite(suite: Suite): readonly Testcase[] {
  return readGzJson<{ testcases: Testcase[] }>(SUITE_FILES[suite]).testcases
}

export interface WycheproofTest {
  readonly tcId: number
  readonly comment: string
  readonly msg: string
  readonly sig: string
  readonly result: 'valid' | 'invalid' | 'acceptable'
  readonly flags?: readonly string[]
}

export interface WycheproofGroup {
  readonly publicKey: { readonly curve: string; readonly uncompressed: string }
  readonly sha: string
  readonly tests: readonly WycheproofTest[]
}

export const WYCHEPROOF_FILES = {
  'P-256': 'wycheproof-ecdsa-p256-sha256.json.gz',
  'P-384': 'wycheproof-ecdsa-p384-sha384.json.gz',
} as const

export type Curve = keyof typeof WYCHEPROOF_FILES

export function loadWycheproof(curve: Curve): readonly WycheproofGroup[] {
  return readGzJson<{ testGroups: WycheproofGroup[] }>(WYCHEPROOF_FILES[curve]).testGroups
}
