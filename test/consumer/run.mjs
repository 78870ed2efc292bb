// Consumer test: the packages as a user gets them. Packs every package (`pnpm pack`, which
// rewrites workspace: ranges), installs the tarballs with npm into fresh apps outside the
// workspace (in os.tmpdir(), so nothing resolves from the monorepo), type-checks each app with
// its own tsc and runs a real mTLS request against it, with certificates made by the packed
// CLI (`clientcert pki init` / `issue`). It catches what workspace tests cannot see: files
// missing from a tarball, wrong `exports`, type augmentations that do not reach the app, and
// dependencies that only resolve inside the monorepo.
//
//   node test/consumer/run.mjs [app...]      (after `pnpm build`; default: every app)
//
// The apps are in test/consumer/apps/<name>/: package.json lists which @clientcert packages
// the app installs ("clientcert": ["core", "express"]); the runner adds them as file: tarball
// dependencies, and `overrides` so that transitive @clientcert dependencies also come from the
// tarballs, never from the registry. One npm cache is shared (CLIENTCERT_CONSUMER_CACHE,
// default <tmpdir>/clientcert-consumer-npm-cache); at most two installs run at once.
import { execFile, spawn } from 'node:child_process'
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const root = fileURLToPath(new URL('../..', import.meta.url))
const appsDir = join(root, 'test/consumer/apps')
const started = Date.now()
const since = (t) => `${((Date.now() - t) / 1000).toFixed(1)}s`
const cache = process.env.CLIENTCERT_CONSUMER_CACHE ?? join(tmpdir(), 'clientcert-consumer-npm-cache')
const work = mkdtempSync(join(tmpdir(), 'clientcert-consumer-'))
const keep = process.env.CLIENTCERT_CONSUMER_KEEP === '1'
const pnpm = process.env.npm_execpath?.includes('pnpm')
  ? [process.execPath, process.env.npm_execpath]
  : ['npx', '-y', 'pnpm@10.34.8']
const npmFlags = ['--no-audit', '--no-fund', '--loglevel=error', '--cache', cache, '--prefer-offline']

/** Every app runs once per platform it lists (Nest: both); others once. */
const PLATFORMS = { 'nest11-cjs': ['express', 'fastify'], 'nest12-esm': ['express', 'fastify'] }

async function sh(cmd, args, cwd, env = {}) {
  try {
    return await run(cmd, args, { cwd, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 })
  } catch (err) {
    throw new Error(
      `${cmd} ${args.join(' ')} (in ${cwd}) failed:\n${err.stdout ?? ''}${err.stderr ?? err.message}`,
    )
  }
}

/** Packs every public package; returns { core: '/tmp/…/clientcert-core-0.1.0.tgz', … }. */
async function packAll() {
  const out = join(work, 'tarballs')
  mkdirSync(out)
  const tarballs = {}
  for (const dir of readdirSync(join(root, 'packages'))) {
    const pkgDir = join(root, 'packages', dir)
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'))
    if (pkg.private) continue
    if (!existsSync(join(pkgDir, 'dist'))) throw new Error(`${pkg.name} is not built: run 'pnpm build' first`)
    const before = new Set(readdirSync(out))
    await sh(pnpm[0], [...pnpm.slice(1), 'pack', '--pack-destination', out], pkgDir)
    tarballs[dir] = join(
      out,
      readdirSync(out).find((f) => !before.has(f)),
    )
  }
  return tarballs
}

/** Copies an app outside the workspace and installs it with npm, our packages from tarballs. */
async function install(name, source, tarballs) {
  const t = Date.now()
  const dir = join(work, name)
  cpSync(source, dir, { recursive: true })
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  const ours = pkg.clientcert ?? []
  delete pkg.clientcert
  pkg.dependencies = { ...pkg.dependencies }
  for (const p of ours) pkg.dependencies[`@clientcert/${p}`] = `file:${tarballs[p]}`
  // Transitive @clientcert dependencies (e.g. nestjs → express) resolve to the tarballs too.
  pkg.overrides = Object.fromEntries(
    Object.entries(tarballs).map(([p, tgz]) => [`@clientcert/${p}`, `file:${tgz}`]),
  )
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`)
  await sh('npm', ['install', ...npmFlags], dir)
  console.log(`  installed ${name} (${since(t)})`)
  return dir
}

async function pool(items, limit, fn) {
  const results = []
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++
        results[i] = await fn(items[i])
      }
    }),
  )
  return results
}

function get(port, certs, client) {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/whoami',
        servername: 'localhost',
        ca: readFileSync(join(certs, 'root.pem')),
        ...(client
          ? {
              cert: readFileSync(join(certs, `${client}.pem`)),
              key: readFileSync(join(certs, `${client}-key.pem`)),
            }
          : {}),
        timeout: 15_000,
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d) => {
          body += d
        })
        res.on('end', () =>
          resolve({ status: res.statusCode, type: res.headers['content-type'] ?? '', body }),
        )
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end()
  })
}

/** Starts the app, and checks alice (200), bob (403) and no certificate (401) over mTLS. */
async function exercise(name, dir, entry, certs, platform) {
  const label = platform ? `${name} (${platform})` : name
  const child = spawn(process.execPath, [entry], {
    cwd: dir,
    env: { ...process.env, CERTS: certs, ...(platform ? { PLATFORM: platform } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  try {
    const port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`did not start:\n${output}`)), 30_000)
      const onData = (d) => {
        output += d
        const m = /LISTENING (\d+)/.exec(output)
        if (m) {
          clearTimeout(timer)
          resolve(Number(m[1]))
        }
      }
      child.stdout.on('data', onData)
      child.stderr.on('data', (d) => {
        output += d
      })
      child.on('exit', (code) => reject(new Error(`exited ${code}:\n${output}`)))
    })
    const problems = []
    const alice = await get(port, certs, 'alice')
    if (alice.status !== 200 || JSON.parse(alice.body).id !== 'alice')
      problems.push(`alice: ${alice.status} ${alice.body}`)
    for (const [who, status, code] of [
      ['bob', 403, 'ERR_CLIENT_CERT_NOT_ALLOWED'],
      [undefined, 401, 'ERR_CLIENT_CERT_MISSING'],
    ]) {
      const r = await get(port, certs, who)
      let got
      try {
        got = JSON.parse(r.body).code
      } catch {
        got = r.body
      }
      if (r.status !== status || got !== code || !r.type.startsWith('application/problem+json'))
        problems.push(
          `${who ?? 'no certificate'}: expected ${status} ${code}, got ${r.status} ${r.type} ${r.body}`,
        )
    }
    if (problems.length > 0) throw new Error(problems.join('\n'))
    console.log(`ok   ${label}: alice 200, bob 403, no certificate 401`)
  } catch (err) {
    throw new Error(`${label}: ${err.message}`)
  } finally {
    child.kill()
  }
}

async function main() {
  const only = process.argv.slice(2)
  const apps = readdirSync(appsDir).filter((a) => only.length === 0 || only.includes(a))
  if (apps.length === 0) throw new Error(`no app named ${only.join(', ')} in ${appsDir}`)
  console.log(`consumer test: ${apps.join(', ')} (node ${process.version}, npm cache ${cache})`)
  let t = Date.now()
  const tarballs = await packAll()
  console.log(`  packed ${Object.keys(tarballs).length} packages (${since(t)})`)

  t = Date.now()
  const pki = join(work, 'pki')
  mkdirSync(pki)
  writeFileSync(
    join(pki, 'package.json'),
    `${JSON.stringify({ name: 'consumer-pki', private: true, clientcert: ['cli'] })}\n`,
  )
  const installed = await pool(['pki', ...apps], 2, (a) =>
    install(a === 'pki' ? 'pki-cli' : a, a === 'pki' ? pki : join(appsDir, a), tarballs),
  )
  console.log(`  installed ${installed.length} apps (${since(t)}, at most 2 at once)`)

  // Certificates from the packed CLI: its bin, its dependencies and its PKI layout.
  const cliDir = installed[0]
  const cli = ['npx', '--no-install', 'clientcert']
  await sh(cli[0], [...cli.slice(1), 'pki', 'init', 'certs'], cliDir)
  await sh(cli[0], [...cli.slice(1), 'issue', 'server', '--pki', 'certs', '--out', 'certs/server'], cliDir)
  for (const who of ['alice', 'bob'])
    await sh(
      cli[0],
      [...cli.slice(1), 'issue', 'client', '--pki', 'certs', '--out', `certs/${who}`, '--cn', who],
      cliDir,
    )
  const certs = join(cliDir, 'certs')

  let failed = 0
  for (const [i, name] of apps.entries()) {
    const dir = installed[i + 1]
    const t0 = Date.now()
    try {
      // Every app has a tsconfig: TypeScript apps compile to dist/, the CommonJS JS app is checkJs.
      await sh(join(dir, 'node_modules/.bin/tsc'), ['-p', '.'], dir)
      const entry = existsSync(join(dir, 'dist/main.js')) ? 'dist/main.js' : 'src/main.js'
      console.log(`ok   ${name}: tsc (${since(t0)})`)
      for (const platform of PLATFORMS[name] ?? [undefined]) await exercise(name, dir, entry, certs, platform)
    } catch (err) {
      failed++
      console.error(`FAIL ${name}: ${err.message}`)
    }
  }
  console.log(`consumer test: ${failed === 0 ? 'ok' : `${failed} app(s) failed`} in ${since(started)}`)
  return failed
}

main()
  .then((failed) => {
    if (!keep) rmSync(work, { recursive: true, force: true })
    else console.log(`kept ${work}`)
    process.exitCode = failed > 0 ? 1 : 0
  })
  .catch((err) => {
    console.error(`consumer test: ${err.message}`)
    if (!keep) rmSync(work, { recursive: true, force: true })
    process.exitCode = 1
  })
