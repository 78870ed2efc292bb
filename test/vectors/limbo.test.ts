import { beforeAll, describe, expect, it } from 'vitest'
import { suiteTests } from './harness.js'

describe('path validation vectors: x509-limbo (limbo-pathvalidation)', () => {
  suiteTests('limbo', 0.99, { beforeAll, it, expect })
})
