// Packs every publishable package and checks the tarball as a consumer would get it:
// publint (package.json / exports correctness), attw (types resolve for ESM and CJS), and
// what the registry page and a consumer need: README and LICENSE in the tarball, and the
// metadata a release depends on (repository with directory, publishConfig with provenance).
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
const REPOSITORY = 'git+https://github.com/clientcert/clientcert.git'

function metadataProblems(pkg, dir) {
  const problems = []
  const want = (ok, what) => ok || problems.push(what)
  want(pkg.license === 'MIT', 'license must be MIT')
  want(
    pkg.repository?.url === REPOSITORY && pkg.repository?.directory === `packages/${dir}`,
    `repository must be { url: '${REPOSITORY}', directory: 'packages/${dir}' }`,
  )
  want(typeof pkg.homepage === 'string' && pkg.homepage.startsWith('https://'), 'homepage missing')
  want(typeof pkg.bugs?.url === 'string', 'bugs.url missing')
  want(Array.isArray(pkg.keywords) && pkg.keywords.length > 0, 'keywords missing')
  want(typeof pkg.engines?.node === 'string', 'engines.node missing')
  want(
    pkg.publishConfig?.access === 'public' && pkg.publishConfig?.provenance === true,
    "publishConfig must be { access: 'public', provenance: true }",
  )
  return problems
}

/** What `npm pack` put in the tarball, checked the way a registry page and a consumer see it. */
function tarballProblems(tgz) {
  const listed = new Set(execFileSync('tar', ['-tzf', tgz], { encoding: 'utf8' }).split('\n'))
  const problems = []
  for (const file of ['package/README.md', 'package/LICENSE', 'package/package.json'])
    if (!listed.has(file)) problems.push(`${file.slice('package/'.length)} is not in the tarball`)
  if (listed.has('package/LICENSE')) {
    const text = execFileSync('tar', ['-xzOf', tgz, 'package/LICENSE'], { encoding: 'utf8' })
    if (text !== readFileSync(join(root, 'LICENSE'), 'utf8'))
      problems.push('LICENSE differs from the root LICENSE')
  }
  return problems
}
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
    const problems = [...metadataProblems(pkg, dir), ...tarballProblems(tgz)]
    if (problems.length > 0) {
      failed++
      console.error(`FAIL metadata ${pkg.name}\n  ${problems.join('\n  ')}`)
    } else console.log(`ok   metadata ${pkg.name} (README.md, LICENSE, repository, publishConfig)`)
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
