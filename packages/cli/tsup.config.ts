import { defineConfig } from 'tsup'
import base from '../../tsup.base.js'

/**
 * The library entry builds like every package; the `clientcert` binary is one more entry. Its
 * `#!/usr/bin/env node` line sits at the top of src/cli.ts (esbuild keeps an entry's hashbang).
 */
export default defineConfig({ ...base, entry: ['src/index.ts', 'src/cli.ts'] })
