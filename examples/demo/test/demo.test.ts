import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../..', import.meta.url))

it('clientcert demo runs every adapter through the scenario table with every outcome as expected', () => {
  const run = spawnSync(process.execPath, ['packages/cli/dist/cli.js', 'demo'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  })
  expect(run.stderr).not.toMatch(/Error/)
  expect(run.stdout).toMatch(/all \d+ outcomes as expected/)
  for (const adapter of ['express', 'fastify', 'nestjs (express)', 'nestjs (fastify)', 'passport'])
    expect(run.stdout).toContain(adapter)
  expect(run.stdout).toContain('forwarded')
  expect(run.status).toBe(0)
}, 120_000)
