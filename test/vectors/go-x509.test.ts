import { beforeAll, describe, expect, it } from 'vitest'
import { suiteTests } from './harness.js'

describe('path validation vectors: Go crypto/x509 name constraint and verify cases', () => {
  suiteTests('go-x509', 1, { beforeAll, it, expect })
})
