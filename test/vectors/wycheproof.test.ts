import { describe, expect, it } from 'vitest'
import type { Curve } from './load.js'
import { formatTally, tallyWycheproof } from './wycheproof.js'

describe('Wycheproof ECDSA through signature.ts (node:crypto, dsaEncoding der)', () => {
  for (const curve of ['P-256', 'P-384'] as Curve[]) {
    it(`${curve}: rejects every invalid signature and accepts every valid one`, async () => {
      const t = await tallyWycheproof(curve, 'ours')
      console.log(formatTally(t))
      expect(t.invalidAccepted).toEqual([])
      expect(t.validRejected).toEqual([])
    })
  }
})
