/** A bounded map that forgets the least recently used entry and entries past their expiry. */
export class LruCache<K, V> {
  readonly #max: number
  readonly #map = new Map<K, { value: V; expires: number }>()

  constructor(max: number) {
    this.#max = max
  }

  get size(): number {
    return this.#map.size
  }

  get(key: K, now: number): V | undefined {
    return this.entry(key, now)?.value
  }

  /** The live entry with its expiry, marked as the most recently used. */
  entry(key: K, now: number): { readonly value: V; readonly expires: number } | undefined {
    const entry = this.#map.get(key)
    if (entry === undefined) return undefined
    this.#map.delete(key)
    if (entry.expires <= now) return undefined
    this.#map.set(key, entry)
    return entry
  }

  set(key: K, value: V, expires: number): void {
    this.#map.delete(key)
    this.#map.set(key, { value, expires })
    if (this.#map.size > this.#max) {
      const oldest = this.#map.keys().next()
      if (!oldest.done) this.#map.delete(oldest.value)
    }
  }

  /** The live entries, without touching their recency (for reports, not lookups). */
  *live(now: number): IterableIterator<[K, V]> {
    for (const [key, entry] of this.#map) if (entry.expires > now) yield [key, entry.value]
  }

  clear(): void {
    this.#map.clear()
  }
}
