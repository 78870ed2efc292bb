/** Text form of a 4- or 16-byte address: dotted quad, or RFC 5952 canonical IPv6. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.')
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push(bytes[i]! * 256 + bytes[i + 1]!)
  // Longest run of two or more zero groups collapses to "::" (first one wins a tie).
  let bestStart = -1
  let bestLen = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  const hexes = groups.map((g) => g.toString(16))
  if (bestStart < 0) return hexes.join(':')
  return `${hexes.slice(0, bestStart).join(':')}::${hexes.slice(bestStart + bestLen).join(':')}`
}

/** Parses a literal IPv4 or IPv6 address into bytes; undefined when it is not one. */
export function parseIp(text: string): Uint8Array | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text)
  if (v4) {
    const parts = v4.slice(1).map(Number)
    if (parts.some((p, i) => p > 255 || (v4[i + 1]!.length > 1 && v4[i + 1]!.startsWith('0'))))
      return undefined
    return Uint8Array.from(parts)
  }
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(':')) return undefined
  let head = text
  let tail4: Uint8Array | undefined
  const lastColon = text.lastIndexOf(':')
  if (text.slice(lastColon + 1).includes('.')) {
    tail4 = parseIp(text.slice(lastColon + 1))
    if (tail4?.length !== 4) return undefined
    head = `${text.slice(0, lastColon + 1)}0:0`
  }
  const halves = head.split('::')
  if (halves.length > 2) return undefined
  const toGroups = (s: string) => (s === '' ? [] : s.split(':'))
  const left = toGroups(halves[0]!)
  const right = halves.length === 2 ? toGroups(halves[1]!) : []
  const missing = 8 - left.length - right.length
  if ((halves.length === 2 && missing < 1) || (halves.length === 1 && missing !== 0)) return undefined
  const groups = [...left, ...Array<string>(Math.max(missing, 0)).fill('0'), ...right]
  const out = new Uint8Array(16)
  for (let i = 0; i < 8; i++) {
    const g = groups[i]!
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined
    const n = Number.parseInt(g, 16)
    out[i * 2] = n >> 8
    out[i * 2 + 1] = n & 0xff
  }
  if (tail4) out.set(tail4, 12)
  return out
}
