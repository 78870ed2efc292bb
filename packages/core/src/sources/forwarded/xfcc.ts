import { DecodeError } from './decode.js'

/**
 * Envoy's x-forwarded-client-cert: elements separated by `,` (one per hop, newest last),
 * `key=value` pairs separated by `;`, values optionally double-quoted with `\"` escapes.
 */
export type XfccElement = ReadonlyMap<string, readonly string[]>

const KEYS = new Set(['by', 'hash', 'cert', 'chain', 'subject', 'uri', 'dns'])
/** Keys a proxy writes once per element; URI and DNS repeat, one pair per SAN. */
const SINGLE = new Set(['by', 'hash', 'cert', 'chain', 'subject'])

export function parseXfcc(value: string): XfccElement[] {
  const elements: XfccElement[] = []
  let current = new Map<string, string[]>()
  let i = 0
  const s = value
  const finish = () => {
    if (current.size === 0) throw new DecodeError('empty XFCC element')
    elements.push(current)
    current = new Map()
  }
  while (i <= s.length) {
    while (s[i] === ' ') i++
    const eq = s.indexOf('=', i)
    if (eq === -1) throw new DecodeError('XFCC pair without "="')
    const key = s.slice(i, eq).trim().toLowerCase()
    if (!KEYS.has(key)) throw new DecodeError(`unknown XFCC key "${key}"`)
    i = eq + 1
    let val = ''
    if (s[i] === '"') {
      i++
      for (;;) {
        const ch = s[i++]
        if (ch === undefined) throw new DecodeError('unterminated quoted XFCC value')
        if (ch === '\\') {
          const next = s[i++]
          if (next === undefined) throw new DecodeError('bad escape in XFCC value')
          val += next
        } else if (ch === '"') break
        else val += ch
      }
    } else {
      const start = i
      while (i < s.length && s[i] !== ';' && s[i] !== ',') {
        if (s[i] === '"') throw new DecodeError('quote inside an unquoted XFCC value')
        i++
      }
      val = s.slice(start, i)
    }
    const list = current.get(key) ?? []
    if (SINGLE.has(key) && list.length > 0) throw new DecodeError(`XFCC key "${key}" repeated in one element`)
    list.push(val)
    current.set(key, list)
    while (s[i] === ' ') i++
    if (i >= s.length) {
      finish()
      break
    }
    if (s[i] === ';') i++
    else if (s[i] === ',') {
      i++
      finish()
    } else throw new DecodeError('junk after XFCC value')
  }
  return elements
}
