import { defineConfig } from 'tsup'

/** Every package builds the same way: ESM + CommonJS + declarations from src/index.ts. */
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  tsconfig: 'tsconfig.build.json',
})
