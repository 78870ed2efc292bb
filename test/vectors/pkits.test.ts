import { beforeAll, describe, expect, it } from 'vitest'
import { suiteTests } from './harness.js'

describe('path validation vectors: NIST PKITS', () => {
  suiteTests('pkits', 1, { beforeAll, it, expect })
})
