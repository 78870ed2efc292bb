// Release: everything up to and including `pnpm publish -r`. Run from CI (npm provenance needs
// the CI's OIDC identity); `--dry-run` runs every step and ends with `pnpm publish -r --dry-run`,
// which packs and shows each tarball without uploading (it runs in the README's test command).
//
//   node scripts/release.mjs [--dry-run] [--built]
//
// --built skips the build and package checks, for the README's test command, which has just
// run both (`pnpm test`).
//
// Versions come from changesets: `pnpm changeset` records a change, `pnpm changeset version`
// bumps every public package to one version (the `fixed` group in .changeset/config.json) and
// writes the changelogs. A real release refuses while changesets are pending (not yet versioned)
// or the tree is dirty.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const dryRun = process.argv.includes('--dry-run')
const built = process.argv.includes('--built')
const unknown = process.argv.slice(2).filter((a) => a !== '--dry-run' && a !== '--built')
if (unknown.length > 0) {
  console.error(`release: unknown argument ${unknown.join(' ')} (only --dry-run, --built)`)
  process.exit(2)
}
const pnpm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ['pnpm']

function step(title, cmd, args, opts = {}) {
  console.log(`\n== release: ${title}`)
  return execFileSync(cmd, args, { cwd: root, stdio: opts.capture ? 'pipe' : 'inherit', encoding: 'utf8' })
}
const fail = (msg) => {
  console.error(`release: ${msg}`)
  process.exit(1)
}

// One version line: the `fixed` group must name every public package, all at one version.
const config = JSON.parse(readFileSync(join(root, '.changeset/config.json'), 'utf8'))
const fixed = new Set(config.fixed?.[0] ?? [])
const publics = readdirSync(join(root, 'packages'))
  .map((d) => JSON.parse(readFileSync(join(root, 'packages', d, 'package.json'), 'utf8')))
  .filter((p) => !p.private)
for (const p of publics)
  if (!fixed.has(p.name)) fail(`${p.name} is not in the fixed group of .changeset/config.json`)
const versions = new Set(publics.map((p) => p.version))
if (versions.size !== 1) fail(`public packages have different versions: ${[...versions].join(', ')}`)
console.log(`release: ${publics.length} packages at ${[...versions][0]}${dryRun ? ' (dry run)' : ''}`)

if (!dryRun) {
  const dirty = step('clean tree', 'git', ['status', '--porcelain'], { capture: true })
  if (dirty.trim() !== '') fail('the working tree has uncommitted changes')
}

// `changeset status` fails on a malformed changeset or config. Pending changesets are the
// normal state between releases; a real release needs them versioned first.
step('changesets', 'npx', ['changeset', 'status'])
const pending = readdirSync(join(root, '.changeset')).filter((f) => f.endsWith('.md') && f !== 'README.md')
if (!dryRun && pending.length > 0)
  fail(`${pending.length} changeset(s) not versioned yet: run 'pnpm changeset version' and commit`)

if (!built) {
  step('build', pnpm[0], [...pnpm.slice(1), 'build'])
  step('package checks', pnpm[0], [...pnpm.slice(1), 'test:pack'])
}
step(dryRun ? 'publish (dry run)' : 'publish', pnpm[0], [
  ...pnpm.slice(1),
  'publish',
  '-r',
  '--filter',
  './packages/*',
  '--access',
  'public',
  ...(dryRun ? ['--dry-run', '--no-git-checks'] : []),
])
console.log(`\nrelease: ${dryRun ? 'dry run passed' : 'published'}`)
