/**
 * The part of RFC 8941 (Structured Field Values) that RFC 9440 uses: an Item or a List whose
 * members are Byte Sequences, with parameters parsed (and ignored). Anything else in such a
 * field is an error, per §4.2: "fail parsing" means the whole field is rejected.
 */

export class StructuredFieldError extends Error {}

/** `Client-Cert`: one Byte Sequence item. */
export function parseByteSequenceItem(input: string): Uint8Array {
  const p = new Parser(input)
  p.skipSp()
  const bytes = p.byteSequence()
  p.parameters()
  p.skipSp()
  if (!p.done()) throw new StructuredFieldError('trailing characters after the item')
  return bytes
}

/** `Client-Cert-Chain`: a List of Byte Sequences (inner lists are not allowed). */
export function parseByteSequenceList(input: string): Uint8Array[] {
  const p = new Parser(input)
  const out: Uint8Array[] = []
  p.skipSp()
  if (p.done()) return out
  for (;;) {
    out.push(p.byteSequence())
    p.parameters()
    p.skipOws()
    if (p.done()) return out
    p.expect(',')
    p.skipOws()
    if (p.done()) throw new StructuredFieldError('trailing comma in list')
  }
}

const KEY_START = /[a-z*]/
const KEY_CHAR = /[a-z0-9_\-.*]/
const TOKEN_START = /[A-Za-z*]/
const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z:/]/

class Parser {
  #i = 0
  constructor(readonly s: string) {}

  done(): boolean {
    return this.#i >= this.s.length
  }

  peek(): string {
    return this.s[this.#i] ?? ''
  }

  expect(ch: string): void {
    if (this.s[this.#i] !== ch) throw new StructuredFieldError(`expected "${ch}" at ${this.#i}`)
    this.#i++
  }

  skipSp(): void {
    while (this.s[this.#i] === ' ') this.#i++
  }

  skipOws(): void {
    while (this.s[this.#i] === ' ' || this.s[this.#i] === '\t') this.#i++
  }

  /** §4.2.7: `:` base64 `:`; padding optional, no other characters. */
  byteSequence(): Uint8Array {
    this.expect(':')
    const end = this.s.indexOf(':', this.#i)
    if (end === -1) throw new StructuredFieldError('unterminated byte sequence')
    const b64 = this.s.slice(this.#i, end)
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new StructuredFieldError('byte sequence is not base64')
    const unpadded = b64.replace(/=+$/, '')
    if (unpadded.length % 4 === 1) throw new StructuredFieldError('byte sequence has a bad base64 length')
    if (b64.includes('=') && b64.length % 4 !== 0)
      throw new StructuredFieldError('byte sequence has bad padding')
    this.#i = end + 1
    const bytes = new Uint8Array(Buffer.from(unpadded, 'base64'))
    // Reject non-canonical encodings (stray bits in the last character) so one value has one meaning.
    if (Buffer.from(bytes).toString('base64').replace(/=+$/, '') !== unpadded) {
      throw new StructuredFieldError('byte sequence is not canonical base64')
    }
    return bytes
  }

  /** §4.2.3.2: `;key[=bare-item]`, values parsed only to be skipped. */
  parameters(): void {
    while (this.peek() === ';') {
      this.#i++
      this.skipSp()
      this.key()
      if (this.peek() === '=') {
        this.#i++
        this.bareItem()
      }
    }
  }

  key(): void {
    if (!KEY_START.test(this.peek())) throw new StructuredFieldError('bad parameter key')
    while (KEY_CHAR.test(this.peek())) this.#i++
  }

  bareItem(): void {
    const c = this.peek()
    if (c === ':') {
      this.byteSequence()
    } else if (c === '"') {
      this.#i++
      for (;;) {
        const ch = this.s[this.#i++]
        if (ch === undefined) throw new StructuredFieldError('unterminated string')
        if (ch === '\\') {
          const next = this.s[this.#i++]
          if (next !== '"' && next !== '\\') throw new StructuredFieldError('bad escape in string')
        } else if (ch === '"') {
          return
        } else if (ch < ' ' || ch > '~') {
          throw new StructuredFieldError('bad character in string')
        }
      }
    } else if (c === '?') {
      this.#i++
      if (this.peek() !== '0' && this.peek() !== '1') throw new StructuredFieldError('bad boolean')
      this.#i++
    } else if (c === '-' || /[0-9]/.test(c)) {
      const m = /^-?\d{1,15}(\.\d{1,3})?/.exec(this.s.slice(this.#i))
      if (!m) throw new StructuredFieldError('bad number')
      this.#i += m[0].length
    } else if (TOKEN_START.test(c)) {
      while (TOKEN_CHAR.test(this.peek())) this.#i++
    } else {
      throw new StructuredFieldError('bad parameter value')
    }
  }
}
