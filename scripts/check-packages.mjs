// Packs every publishable package and checks the tarball as a consumer would get it:
// publint (package.json / exports correctness) and attw (types resolve for ESM and CJS).
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const out = mkdtempSync(join(tmpdir(), 'clientcert-pack-'))
const bin = (name) => join(root, 'node_modules', '.bin', name)
// Run through pnpm (`pnpm test:pack`): npm_execpath is pnpm's own entry point.
const pnpm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ['pnpm']
let failed = 0
try {
  for (const dir of readdirSync(join(root, 'packages'))) {
    const pkgDir = join(root, 'packages', dir)
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'))
    if (pkg.private) continue
    const before = new Set(readdirSync(out))
    execFileSync(pnpm[0], [...pnpm.slice(1), 'pack', '--pack-destination', out], {
      cwd: pkgDir,
      stdio: 'pipe',
    })
    const tarball = readdirSync(out).find((f) => !before.has(f))
    const tgz = join(out, tarball)
    for (const [tool, args] of [
      ['publint', ['run', '--strict', tgz]],
      ['attw', [tgz, '--profile', 'node16', '--format', 'table-flipped']],
    ]) {
      try {
        execFileSync(bin(tool), args, { cwd: pkgDir, stdio: 'pipe' })
        console.log(`ok   ${tool} ${pkg.name}`)
      } catch (err) {
        failed++
        console.error(
          `FAIL ${tool} ${pkg.name}\n${err.stdout?.toString() ?? ''}${err.stderr?.toString() ?? ''}`,
        )
      }
    }
  }
} finally {
  rmSync(out, { recursive: true, force: true })
}
if (failed > 0) {
  console.error(`${failed} package check(s) failed`)
  process.exit(1)
}
