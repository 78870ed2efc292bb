// What the perf-based diagnostics (profile.mjs, shared-profile.mjs) call a sample's frames.
import { execFileSync } from 'node:child_process'

/**
 * The samples of a `perf record` file: for each, its non-empty lines (`perf script -F fields`,
 * so with `pid` first the process id, then the frames, leaf first).
 */
export function perfSamples(file, fields) {
  const out = execFileSync('perf', ['script', '-i', file, '-F', fields], {
    maxBuffer: 1 << 30,
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString()
  return out.split('\n\n').map((block) =>
    block
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean),
  )
}

/** A frame under clientcert's own code: any function of packages/<name>/dist. */
export const OWN = /\/packages\/[a-z-]+\/dist\//
/** The framework's `next()` and its kin: frames under them, called from clientcert's, are not clientcert's. */
export const NEXT = /JS:\S*(dispatch|next|handle|runPreParsing|hookRunner|routeHandler)\b/
/** V8's garbage collector. */
export const GC = /Scaveng|Heap::|MarkCompact|Sweeper|Ephemeron|ConcurrentMarking|MinorMark/

/** A sample's frame as `symbol (library)`, without addresses and JIT markers. */
export function leafName(frame) {
  const m = /^\S+\s+(.*?)\s+\((.*)\)$/.exec(frame)
  if (!m) return frame
  const dso = m[2].startsWith('/tmp/perf-') ? 'JIT' : m[2].split('/').pop()
  return `${m[1].replace(/\+0x[0-9a-f]+$/, '').replace(/^(JS|LazyCompile|Function):[*~^]?/, '')} (${dso})`
}
