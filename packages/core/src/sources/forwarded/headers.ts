/**
 * Header access that notices what proxies and attackers do to headers: repeated lines
 * (Node folds most of them into one comma-joined string), underscore spellings, arrays.
 */

export type HeaderRead =
  | { readonly kind: 'absent' }
  | { readonly kind: 'value'; readonly value: string }
  | { readonly kind: 'invalid'; readonly reason: string }

export interface HeaderSource {
  readonly headers?: unknown
  readonly rawHeaders?: unknown
}

/** Lower case, `_` as `-`: the spellings a proxy or a framework may treat as the same header. */
export function canonicalName(name: string): string {
  const lower = name.toLowerCase()
  return lower.includes('_') ? lower.replace(/_/g, '-') : lower
}

/**
 * All header names on the request, canonicalised, with their number of lines. Taken from
 * `rawHeaders` when the request has them (they keep repeated lines apart), else `headers`.
 */
export function headerCounts(req: HeaderSource): Map<string, number> {
  const counts = new Map<string, number>()
  const add = (name: string, n: number) => {
    const key = canonicalName(name)
    counts.set(key, (counts.get(key) ?? 0) + n)
  }
  if (Array.isArray(req.rawHeaders)) {
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]
      if (typeof name === 'string') add(name, 1)
    }
    return counts
  }
  if (typeof req.headers === 'object' && req.headers !== null) {
    for (const [name, value] of Object.entries(req.headers))
      add(name, Array.isArray(value) ? value.length : 1)
  }
  return counts
}

/**
 * Exactly one line of `name` (already canonical). Two lines, or two spellings that
 * canonicalise alike (`X-SSL-Cert` and `x_ssl_cert`), are refused: which one would win
 * depends on the framework, and an attacker picks whichever the proxy did not strip.
 */
export function readSingle(
  req: HeaderSource,
  counts: Map<string, number>,
  name: string,
  maxBytes: number,
): HeaderRead {
  const n = counts.get(name) ?? 0
  if (n === 0) return { kind: 'absent' }
  if (n > 1) return { kind: 'invalid', reason: `header ${name} appears ${n} times` }
  return oneLine(name, lookup(req, name), maxBytes)
}

/** The value of a header's one line: a string no larger than `maxBytes`. */
export function oneLine(
  name: string,
  value: unknown,
  maxBytes: number,
): Exclude<HeaderRead, { kind: 'absent' }> {
  if (typeof value !== 'string') return { kind: 'invalid', reason: `header ${name} could not be read` }
  if (value.length > maxBytes || Buffer.byteLength(value) > maxBytes)
    return { kind: 'invalid', reason: `header ${name} is larger than ${maxBytes} bytes` }
  return { kind: 'value', value }
}

function lookup(req: HeaderSource, name: string): string | undefined {
  if (Array.isArray(req.rawHeaders)) {
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const key = req.rawHeaders[i]
      const value = req.rawHeaders[i + 1]
      if (typeof key === 'string' && canonicalName(key) === name)
        return typeof value === 'string' ? value : undefined
    }
    return undefined
  }
  if (typeof req.headers !== 'object' || req.headers === null) return undefined
  for (const [key, value] of Object.entries(req.headers)) {
    if (canonicalName(key) === name) return typeof value === 'string' ? value : undefined
  }
  return undefined
}
