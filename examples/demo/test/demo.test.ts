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
  for (const adapter of [
    'express',
    'fastify',
    'nestjs (express)',
    'nestjs (fastify)',
    'passport',
    'koa',
    'hono',
    'grpc',
  ])
    expect(run.stdout).toMatch(new RegExp(`^${adapter.replace(/[()]/g, '\\$&')} +tls +valid client`, 'm'))
  for (const adapter of ['express', 'fastify', 'passport', 'koa', 'hono'])
    expect(run.stdout).toMatch(new RegExp(`^${adapter} +forwarded +valid client through the proxy +200`, 'm'))
  // gRPC rejections carry the stable code from the trailing metadata.
  expect(run.stdout).toMatch(/^grpc +tls +no EKU.* UNAUTHENTICATED +UNAUTHENTICATED +ERR_CLIENT_CERT_EKU/m)
  expect(run.stdout).toMatch(/^grpc +tls +not-allowed.* PERMISSION_DENIED +ERR_CLIENT_CERT_NOT_ALLOWED/m)
  expect(run.status).toBe(0)
}, 120_000)
