import { readFileSync } from 'node:fs'
import { expect, it } from 'vitest'

const root = new URL('../../', import.meta.url)

it('docs/adapters/writing-an-adapter.md shows the adapter the conformance matrix runs, unchanged', () => {
  const region = readFileSync(new URL('test/conformance/drivers/node-http-adapter.ts', root), 'utf8')
  const page = readFileSync(new URL('docs/adapters/writing-an-adapter.md', root), 'utf8')
  const block = page.split('## A complete adapter')[1]?.split('```ts\n')[1]?.split('```')[0]
  expect(region).toBeDefined()
  expect(block).toBe(region)
  // The promise of the page: a complete adapter in under 50 lines.
  expect((region ?? '').trimEnd().split('\n').length).toBeLessThan(50)
})
