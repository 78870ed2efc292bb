// Runs docs/getting-started.md as a new user would, word for word: the ```sh blocks of its
// first three sections in order, the server file from its ```js block, then every curl command
// against that server, comparing each answer with the comment the page prints under it.
//
// Substitutions, so that the test runs offline against this checkout:
// - `npx @clientcert/cli` runs the local build (packages/cli/dist/cli.js);
// - `npm install <names>` links the workspace packages (and the workspace's express) into the
//   app's node_modules instead of downloading them (test/consumer/ installs real tarballs);
// - port 8443 becomes a free port, so parallel runs do not collide.
// `npm init -y` and `npm pkg set` are the real npm.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort } from '../support/ports.js'

const repo = fileURLToPath(new URL('../..', import.meta.url))
const page = readFileSync(join(repo, 'docs/getting-started.md'), 'utf8')
const steps = page.slice(0, page.indexOf('## Two trust modes'))
const blocks = [...steps.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)].map((m) => ({
  lang: m[1] as string,
  text: m[2] as string,
}))

const WORKSPACE_PACKAGES: Readonly<Record<string, string>> = {
  '@clientcert/express': join(repo, 'packages/express'),
  '@clientcert/core': join(repo, 'packages/core'),
  express: realpathSync(join(repo, 'node_modules/express')),
}

const tmp = mkdtempSync(join(tmpdir(), 'clientcert-getting-started-'))
let server: ReturnType<typeof spawn> | undefined
afterAll(() => {
  server?.kill()
  rmSync(tmp, { recursive: true, force: true })
})

/** Bash preamble that applies the substitutions above. */
const preamble = `set -euo pipefail
npx() { if [ "$1" = "@clientcert/cli" ]; then shift; node ${JSON.stringify(join(repo, 'packages/cli/dist/cli.js'))} "$@"; else command npx "$@"; fi; }
npm() {
  if [ "$1" = "install" ]; then
    shift
    for name in "$@"; do
      case "$name" in
${Object.entries(WORKSPACE_PACKAGES)
  .map(
    ([n, dir]) =>
      `        ${n}) mkdir -p "node_modules/$(dirname ${n})" && ln -s ${JSON.stringify(dir)} "node_modules/${n}" ;;`,
  )
  .join('\n')}
        *) echo "getting-started test: no workspace package for $name" >&2; return 1 ;;
      esac
    done
  else command npm "$@"; fi
}
`

describe('docs/getting-started.md, run word for word', () => {
  it('creates the app and certificates, starts the server, and every curl answers as the page says', async () => {
    const port = await freePort()
    const withPort = (t: string) => t.replaceAll('8443', String(port))
    const serverBlock = blocks.find((b) => b.lang === 'js' && b.text.startsWith('// server.js'))
    expect(serverBlock, 'a ```js block starting with // server.js').toBeDefined()
    const sh = blocks.filter((b) => b.lang === 'sh')
    const runIdx = sh.findIndex((b) => b.text.trim() === 'node server.js')
    expect(runIdx, 'a ```sh block `node server.js`').toBeGreaterThan(0)
    const setup = sh.slice(0, runIdx)
    const calls = sh.slice(runIdx + 1)
    expect(setup.map((b) => b.text).join('')).toContain('npx @clientcert/cli pki init')
    for (const b of sh) expect(b.text).not.toMatch(/npx clientcert\b/) // the unscoped name is not ours

    // Setup blocks in one shell (a `cd` carries over, as in a terminal); then record where we are.
    const state = join(tmp, '.cwd')
    const script = `${preamble}\n${setup.map((b) => b.text).join('\n')}\npwd > ${JSON.stringify(state)}\n`
    const r = spawnSync('bash', ['-c', script], { cwd: tmp, encoding: 'utf8', timeout: 120_000 })
    expect(r.status, `setup failed:\n${r.stdout}\n${r.stderr}`).toBe(0)
    const app = readFileSync(state, 'utf8').trim()
    expect(JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')).type).toBe('module')
    expect(r.stdout).toContain('npx @clientcert/cli issue server') // pki init names both next steps

    writeFileSync(join(app, 'server.js'), withPort((serverBlock as { text: string }).text))
    server = spawn(process.execPath, ['server.js'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] })
    const proc = server
    await new Promise<void>((resolve, reject) => {
      let out = ''
      let err = ''
      proc.stdout?.on('data', (d: Buffer) => {
        out += d
        if (out.includes(`https://localhost:${port}`)) resolve()
      })
      proc.stderr?.on('data', (d: Buffer) => {
        err += d
      })
      proc.on('exit', (code) => reject(new Error(`server.js exited ${code}: ${err}`)))
      setTimeout(() => reject(new Error(`server.js did not start: ${out}${err}`)), 20_000)
    })

    // Each command is followed by the comment the page shows as its answer.
    const pairs: Array<{ cmd: string; expected: string }> = []
    for (const b of calls)
      for (const line of b.text.split('\n'))
        if (line.startsWith('curl ')) pairs.push({ cmd: line, expected: '' })
        else if (line.startsWith('# ') && pairs.length > 0)
          (pairs.at(-1) as { expected: string }).expected = line.slice(2)
    expect(pairs).toHaveLength(3)
    for (const { cmd, expected } of pairs) {
      const res = spawnSync('bash', ['-c', `${preamble}\n${withPort(cmd)}`], {
        cwd: app,
        encoding: 'utf8',
        timeout: 20_000,
      })
      const curlError = /^curl: \((\d+)\) … (.*)$/.exec(expected)
      if (curlError) {
        expect(res.status, `${cmd}\n${res.stderr}`).toBe(Number(curlError[1]))
        expect(res.stderr).toContain(curlError[2])
        continue
      }
      expect(res.status, `${cmd}\n${res.stderr}`).toBe(0)
      const want = JSON.parse(expected.replace(/"[0-9a-f]+…"/, '"…"')) as Record<string, unknown>
      const got = JSON.parse(res.stdout) as Record<string, unknown>
      expect(Object.keys(got)).toEqual(Object.keys(want))
      for (const [k, v] of Object.entries(want)) if (v !== '…') expect(got[k], `${cmd}: ${k}`).toEqual(v)
    }
  }, 180_000)
})
