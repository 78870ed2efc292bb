/**
 * Header access that notices what proxies and attackers do to headers: repeated lines
 * (Node folds most of them into one comma-joined string), other spellings, arrays.
 */

export type HeaderRead =
  | { readonly kind: 'absent' }
  | { readonly kind: 'value'; readonly value: string }
  | { readonly kind: 'invalid'; readonly reason: string }

export interface HeaderSource {
  readonly headers?: unknown
  readonly rawHeaders?: unknown
}

/**
 * Lower case, `_` as `-`: the spellings a proxy, a framework or a CGI-style gateway may treat
 * as the same header. Used to recognise other spellings of a forwarded-certificate header
 * (which are refused), never to read one: a proxy strips and sets headers by exact name.
 */
export function canonicalName(name: string): string {
  const lower = name.toLowerCase()
  return lower.includes('_') ? lower.replace(/_/g, '-') : lower
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
