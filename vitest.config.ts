import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
    // Adapters log every rejection by default; keep the output of passing tests quiet.
    silent: 'passed-only',
    // The workspace packages' built output always runs through Vitest's module runner (as it does
    // by default for a path outside node_modules), whatever path the install gives it: module
    // mocks in test/conformance/public-roots.test.ts must reach the built core.
    server: {
      deps: { inline: [/[\\/]packages[\\/][^\\/]+[\\/]dist[\\/]/, /[\\/]node_modules[\\/]@clientcert[\\/]/] },
    },
    typecheck: { enabled: true, include: ['**/*.test-d.ts'], tsconfig: './tsconfig.json' },
  },
})
