import { defineConfig } from 'tsup'
import base from '../../tsup.base.js'

// Two entries — the API and the adapter kit — sharing one copy of the code (splitting, also
// for CommonJS), so errors, marks and authenticators are the same objects through either.
export default defineConfig({
  ...(base as object),
  entry: { index: 'src/index.ts', adapter: 'src/adapter/index.ts' },
  splitting: true,
})
