import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const dir = fileURLToPath(new URL('.', import.meta.url))
const hook = new URL('./peers/hide-package.mjs', import.meta.url).href

/** Runs peers/install.mjs on `platform` with `hidden` made unresolvable. */
function install(platform: 'express' | 'fastify', hidden: string): Record<string, unknown> {
  const out = execFileSync(
    process.execPath,
    [
      '--import',
      `data:text/javascript,import{register}from'node:module';register(${JSON.stringify(hook)})`,
      'peers/install.mjs',
    ],
    { cwd: dir, env: { ...process.env, PLATFORM: platform, HIDE_PACKAGE: hidden }, encoding: 'utf8' },
  )
  return JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>
}

describe('@clientcert/nestjs platform adapters are optional peers', () => {
  for (const [platform, other] of [
    ['express', 'fastify'],
    ['fastify', 'express'],
  ] as const) {
    it(`${platform} platform: installs without @clientcert/${other}; without @clientcert/${platform} a coded error names it`, () => {
      expect(install(platform, `@clientcert/${other}`)).toEqual({ installed: true })
      expect(install(platform, `@clientcert/${platform}`)).toMatchObject({
        name: 'ClientCertConfigError',
        code: 'ERR_CLIENT_CERT_INVALID_OPTION',
        option: 'installClientCert',
        message: expect.stringContaining(`npm install @clientcert/${platform}`),
      })
    })
  }
})
