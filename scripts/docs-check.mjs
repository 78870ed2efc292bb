// Documentation checks, run in CI by `pnpm docs:check` (and `pnpm docs:api` to regenerate the
// API reference). Every check takes the root directory it works on, so the tests in
// test/docs/ can run it against small fixture trees.
//
//   node scripts/docs-check.mjs [api-sync|error-pages|code-blocks|links|all]   (default: all)
//   node scripts/docs-check.mjs api-write                                       (regenerate docs/api)
//
// api-sync     regenerates the API reference (typedoc + typedoc-plugin-markdown) into a temp
//              directory and compares it with the committed docs/api/.
// error-pages  every ERR_CLIENT_CERT_* code has docs/errors/<CODE>.md, linked from docs/errors/README.md.
// code-blocks  every ```ts / ```typescript block in the Markdown type-checks (tsc --noEmit; set
//              DOCS_CHECK_KEEP=1 to keep the generated files). A block
//              preceded by `<!-- no-check -->` is skipped; `<!-- prelude: a, b -->` prepends
//              docs/.snippets/a.ts and b.ts (declarations a fragment relies on); docs/.snippets/preludes.json
//              gives default preludes per file (for READMEs outside docs/).
// links        every relative link and #anchor in the Markdown resolves.
import { spawn } from 'node:child_process'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

/** The repository this script belongs to (its tools: tsc, typedoc, @types). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

const PACKAGES = [
  'core',
  'express',
  'fastify',
  'grpc',
  'hono',
  'koa',
  'nestjs',
  'otel',
  'passport',
  'spiffe',
  'testing',
]

const toPosix = (p) => p.split(sep).join('/')

// ── Markdown files ───────────────────────────────────────────────────────────────────────

function walk(dir, out = []) {
  if (!existsSync(dir)) return out
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue
    const full = join(dir, entry.name)
    if (entry.isDirectory()) walk(full, out)
    else if (entry.name.endsWith('.md')) out.push(full)
  }
  return out
}

/** The Markdown files the checks read: docs/**, README.md, packages/*\/README.md, examples/**\/README.md. */
export function markdownFiles(root, { includeApi = false } = {}) {
  const files = walk(join(root, 'docs')).filter(
    (f) => includeApi || !toPosix(relative(root, f)).startsWith('docs/api/'),
  )
  if (existsSync(join(root, 'README.md'))) files.push(join(root, 'README.md'))
  const pkgs = join(root, 'packages')
  if (existsSync(pkgs)) {
    for (const p of readdirSync(pkgs)) {
      const readme = join(pkgs, p, 'README.md')
      if (existsSync(readme)) files.push(readme)
    }
  }
  files.push(...walk(join(root, 'examples')).filter((f) => f.endsWith(`${sep}README.md`)))
  return files.sort()
}

/** Fenced code blocks with their language, first content line (1-based) and the comment before them. */
export function codeBlocks(text) {
  const lines = text.split('\n')
  const blocks = []
  let open = null
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    const fence = /^(\s*)(`{3,}|~{3,})\s*([\w+-]*)/.exec(line)
    if (open === null) {
      if (!fence) continue
      let j = i - 1
      while (j >= 0 && lines[j].trim() === '') j--
      const before = j >= 0 ? lines[j].trim() : ''
      open = {
        fence: fence[2],
        lang: fence[3].toLowerCase(),
        start: i + 2,
        body: [],
        before,
        beforeLine: j + 1,
      }
    } else if (fence?.[2].startsWith(open.fence) && line.trim() === fence[2]) {
      const { lang, start, body, before, beforeLine } = open
      blocks.push({ lang, line: start, code: body.join('\n'), before, beforeLine })
      open = null
    } else {
      open.body.push(line)
    }
  }
  return blocks
}

// ── (a) API reference in sync ────────────────────────────────────────────────────────────

/** Typedoc input: one entry point per package directory (each documents its src/index.ts), and the docs tsconfig. */
export function apiOptions(root = REPO_ROOT, packages = PACKAGES) {
  return {
    entryPoints: packages.map((p) => join(root, 'packages', p)),
    tsconfig: join(root, 'docs', 'tsconfig.api.json'),
  }
}

/** Generates the Markdown API reference into `out` (emptied first). */
export async function generateApi({ entryPoints, tsconfig, out, name = 'clientcert' }) {
  const { Application, LogLevel } = await import(
    pathToFileURL(join(REPO_ROOT, 'node_modules', 'typedoc', 'dist', 'index.js')).href
  )
  rmSync(out, { recursive: true, force: true })
  const app = await Application.bootstrapWithPlugins({
    name,
    entryPoints,
    entryPointStrategy: 'packages',
    packageOptions: {
      entryPoints: ['src/index.ts'],
      tsconfig,
      excludeExternals: true,
      excludePrivate: true,
      excludeInternal: true,
      disableSources: true,
      skipErrorChecking: true,
      readme: 'none',
    },
    tsconfig,
    plugin: [join(REPO_ROOT, 'node_modules', 'typedoc-plugin-markdown', 'dist', 'index.js')],
    out,
    readme: 'none',
    disableSources: true,
    excludePrivate: true,
    excludeInternal: true,
    excludeExternals: true,
    skipErrorChecking: true,
    logLevel: LogLevel.Error,
    outputFileStrategy: 'modules',
    hideBreadcrumbs: true,
    hidePageHeader: true,
    useCodeBlocks: true,
    useHTMLAnchors: true,
    entryFileName: 'README',
    validation: { notExported: false, invalidLink: false, rewrittenLink: false },
  })
  const project = await app.convert()
  if (!project) throw new Error('typedoc could not convert the project (see the errors above)')
  await app.generateOutputs(project)
  if (!existsSync(out)) throw new Error(`typedoc wrote nothing to ${out}`)
}

function listFiles(dir, base = dir, out = new Map()) {
  if (!existsSync(dir)) return out
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name)
    if (entry.isDirectory()) listFiles(full, base, out)
    else out.set(toPosix(relative(base, full)), readFileSync(full, 'utf8').replace(/\r\n/g, '\n'))
  }
  return out
}

/** Compares two directory trees; returns one problem per stale, missing or extra file. */
export function diffTrees(expectedDir, actualDir, label = 'docs/api') {
  const expected = listFiles(expectedDir)
  const actual = listFiles(actualDir)
  const problems = []
  for (const [file, text] of expected) {
    if (!actual.has(file)) problems.push(`${label}/${file}: missing (generated but not committed)`)
    else if (actual.get(file) !== text)
      problems.push(`${label}/${file}: stale (differs from the generated file)`)
  }
  for (const file of actual.keys()) {
    if (!expected.has(file)) problems.push(`${label}/${file}: not generated any more (delete it)`)
  }
  return problems
}

export async function checkApiSync({ root = REPO_ROOT, packages, tsconfig, apiDir } = {}) {
  const defaults = apiOptions(root, packages)
  const tmp = mkdtempSync(join(tmpdir(), 'clientcert-api-'))
  try {
    await generateApi({
      entryPoints: defaults.entryPoints,
      tsconfig: tsconfig ?? defaults.tsconfig,
      out: join(tmp, 'api'),
    })
    const problems = diffTrees(join(tmp, 'api'), apiDir ?? join(root, 'docs', 'api'))
    if (problems.length > 0) problems.push('run `pnpm docs:api` to regenerate docs/api and commit the result')
    return problems
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

// ── (b) one page per error code ──────────────────────────────────────────────────────────

export async function errorCodes(root = REPO_ROOT) {
  const dist = join(root, 'packages', 'core', 'dist', 'index.js')
  if (!existsSync(dist)) throw new Error(`${dist} is missing: run \`pnpm build\` first`)
  const core = await import(pathToFileURL(dist).href)
  return [...core.CLIENT_CERT_ERROR_CODES, 'ERR_CLIENT_CERT_INVALID_OPTION', 'ERR_CLIENT_CERT_TRUST_SOURCE']
}

export async function checkErrorPages({ root = REPO_ROOT, codes } = {}) {
  const list = codes ?? (await errorCodes(root))
  const dir = join(root, 'docs', 'errors')
  const indexPath = join(dir, 'README.md')
  const index = existsSync(indexPath) ? readFileSync(indexPath, 'utf8') : ''
  const problems = []
  if (!index) problems.push('docs/errors/README.md: missing')
  for (const code of list) {
    if (!existsSync(join(dir, `${code}.md`)))
      problems.push(`docs/errors/${code}.md: missing page for ${code}`)
    if (index && !index.includes(`(${code}.md)`) && !index.includes(`(./${code}.md)`))
      problems.push(`docs/errors/README.md: does not link ${code}.md`)
  }
  for (const file of existsSync(dir) ? readdirSync(dir) : []) {
    const m = /^(ERR_CLIENT_CERT_\w+)\.md$/.exec(file)
    if (m && !list.includes(m[1]))
      problems.push(`docs/errors/${file}: no such code in CLIENT_CERT_ERROR_CODES`)
  }
  return problems
}

// ── (c) TypeScript code blocks type-check ────────────────────────────────────────────────

const TS_LANGS = new Set(['ts', 'typescript'])

/** Names a block declares at top level (imports, const/let/function/class/type, simple destructuring). */
export function declaredNames(code) {
  const names = new Set()
  for (const m of code.matchAll(/^\s*import\s+(?:type\s+)?([^'"]*?)\s+from\s+['"]/gm)) {
    for (const part of m[1].replace(/[{}]/g, ',').split(',')) {
      const local = part
        .trim()
        .replace(/^type\s+/, '')
        .split(/\s+as\s+/)
        .pop()
        ?.replace(/^\*\s*/, '')
        .trim()
      if (local && /^[\w$]+$/.test(local)) names.add(local)
    }
  }
  for (const m of code.matchAll(
    /^(?:export\s+)?(?:declare\s+)?(?:default\s+)?(?:abstract\s+)?(?:async\s+)?(?:const|let|var|function\*?|class|interface|type|enum)\s+([\w$]+)/gm,
  ))
    names.add(m[1])
  for (const m of code.matchAll(/^(?:export\s+)?(?:const|let|var)\s+[[{]([^\]}=]*)[\]}]\s*=/gm)) {
    for (const part of m[1].split(',')) {
      const local = part.split(':').pop()?.trim()
      if (local && /^[\w$]+$/.test(local)) names.add(local)
    }
  }
  return names
}

/**
 * A prelude without the declarations the block makes itself: import specifiers and
 * `declare const|function|class` lines of names the block declares are dropped, so one prelude
 * serves blocks that import some of its names and rely on the others.
 */
export function fitPrelude(prelude, code) {
  const own = declaredNames(code)
  const out = []
  for (const line of prelude.split('\n')) {
    const imp = /^import\s+(type\s+)?\{([^}]*)\}\s+from\s+(['"][^'"]+['"])\s*$/.exec(line)
    if (imp) {
      const keep = imp[2]
        .split(',')
        .map((p) => p.trim())
        .filter(
          (p) =>
            p &&
            !own.has(
              p
                .replace(/^type\s+/, '')
                .split(/\s+as\s+/)
                .pop()
                .trim(),
            ),
        )
      if (keep.length > 0) out.push(`import ${imp[1] ?? ''}{ ${keep.join(', ')} } from ${imp[3]}`)
      continue
    }
    const def = /^import\s+(?:\*\s+as\s+)?([\w$]+)\s+from\s/.exec(line)
    if (def && own.has(def[1])) continue
    const decl = /^declare\s+(?:const|let|function|class|type|interface)\s+([\w$]+)/.exec(line)
    if (decl && own.has(decl[1])) continue
    out.push(line)
  }
  return out.join('\n')
}

function readPreludes(root) {
  const path = join(root, 'docs', '.snippets', 'preludes.json')
  return existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : {}
}

/** The ```ts blocks to check, with their preludes resolved. */
export function collectSnippets(root) {
  const snippets = []
  const problems = []
  // Default preludes per file, for Markdown files outside docs/ (package READMEs) whose blocks
  // are short fragments: docs/.snippets/preludes.json maps a path to prelude names.
  const perFile = readPreludes(root)
  for (const file of markdownFiles(root)) {
    const rel = toPosix(relative(root, file))
    for (const block of codeBlocks(readFileSync(file, 'utf8'))) {
      if (!TS_LANGS.has(block.lang)) continue
      if (/^<!--\s*no-check\s*-->$/.test(block.before)) continue
      let prelude = ''
      const m = /^<!--\s*prelude:\s*([\w\s,.-]+?)\s*-->$/.exec(block.before)
      const wanted = m ? m[1].split(/[\s,]+/).filter(Boolean) : (perFile[rel] ?? [])
      if (wanted.length > 0) {
        for (const name of wanted) {
          const path = join(root, 'docs', '.snippets', `${name}.ts`)
          if (!existsSync(path)) {
            problems.push(
              `${rel}:${block.beforeLine}: prelude "${name}" not found (docs/.snippets/${name}.ts)`,
            )
            continue
          }
          prelude += `${readFileSync(path, 'utf8').trimEnd()}\n`
        }
        prelude = fitPrelude(prelude, block.code)
      }
      snippets.push({ file: rel, line: block.line, prelude, code: block.code })
    }
  }
  return { snippets, problems }
}

export async function checkCodeBlocks({ root = REPO_ROOT, workDir } = {}) {
  const { snippets, problems } = collectSnippets(root)
  if (snippets.length === 0) return problems
  // Inside the repository (under node_modules, which Biome, git and tsconfig.json ignore), so that
  // `@clientcert/*`, express, fastify and the NestJS packages resolve as they do for a user.
  // One directory per run, so that concurrent runs do not overwrite each other's files.
  mkdirSync(join(root, 'node_modules', '.cache'), { recursive: true })
  const dir = workDir ?? mkdtempSync(join(root, 'node_modules', '.cache', 'docs-check-'))
  mkdirSync(dir, { recursive: true })
  const byFile = new Map()
  const names = []
  snippets.forEach((s, i) => {
    const name = `snippet-${String(i).padStart(3, '0')}.ts`
    const hasModuleSyntax = /^\s*(import|export)\s/m.test(`${s.prelude}${s.code}`)
    const text = `${s.prelude}${s.code}\n${hasModuleSyntax ? '' : 'export {}\n'}`
    writeFileSync(join(dir, name), text)
    byFile.set(name, { ...s, preludeLines: s.prelude === '' ? 0 : s.prelude.split('\n').length - 1 })
    names.push(name)
  })
  // docs/.snippets/*.ts are also modules of the program (e.g. an `app.module.ts` a block imports
  // as './app.module.js'), and docs/.snippets/*.d.ts ambient declarations (for packages that are
  // not dependencies of this repository).
  const support = join(root, 'docs', '.snippets')
  for (const f of existsSync(support) ? readdirSync(support) : []) {
    if (!f.endsWith('.ts')) continue
    if (names.includes(f)) continue
    writeFileSync(join(dir, f), readFileSync(join(support, f)))
    names.push(f)
  }
  // Type packages installed for one workspace package only (e.g. @types/passport).
  const paths = {}
  for (const p of existsSync(join(REPO_ROOT, 'packages')) ? readdirSync(join(REPO_ROOT, 'packages')) : []) {
    const types = join(REPO_ROOT, 'packages', p, 'node_modules', '@types')
    for (const t of existsSync(types) ? readdirSync(types) : []) {
      if (t === 'node' || existsSync(join(REPO_ROOT, 'node_modules', '@types', t)) || paths[t]) continue
      const pkg = JSON.parse(readFileSync(join(types, t, 'package.json'), 'utf8'))
      paths[t] = [join(types, t, pkg.types ?? pkg.typings ?? 'index.d.ts')]
    }
  }
  writeFileSync(join(dir, 'package.json'), '{ "type": "module", "private": true }\n')
  writeFileSync(
    join(dir, 'tsconfig.json'),
    `${JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          lib: ['ES2023', 'DOM'],
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          types: ['node'],
          typeRoots: [join(REPO_ROOT, 'node_modules', '@types')],
          strict: true,
          noUncheckedIndexedAccess: true,
          esModuleInterop: true,
          skipLibCheck: true,
          experimentalDecorators: true,
          emitDecoratorMetadata: false,
          noEmit: true,
          isolatedModules: true,
          paths,
        },
        files: names,
      },
      null,
      2,
    )}\n`,
  )
  const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
  const run = await new Promise((done) => {
    const child = spawn(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json'), '--pretty', 'false'], {
      cwd: dir,
    })
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
    })
    child.stderr.on('data', (d) => {
      out += d
    })
    child.on('error', (error) => done({ status: 1, output: out, error }))
    child.on('close', (status) => done({ status, output: out }))
  })
  const output = run.output
  const seen = new Set()
  for (const line of output.split('\n')) {
    const m = /(snippet-\d+\.ts)\((\d+),(\d+)\): error (TS\d+: .*)$/.exec(line)
    if (m) {
      const s = byFile.get(m[1])
      const inBlock = Number(m[2]) - s.preludeLines
      const where =
        inBlock >= 1 ? `${s.file}:${s.line + inBlock - 1}:${m[3]}` : `${s.file}:${s.line} (in its prelude)`
      const msg = `${where}: ${m[4]}`
      if (!seen.has(msg)) problems.push(msg)
      seen.add(msg)
    } else if (/error TS\d+/.test(line)) {
      problems.push(`tsc: ${line.trim()}`)
    }
  }
  if (run.status !== 0 && problems.length === 0) problems.push(`tsc failed: ${output.trim() || run.error}`)
  if (problems.some((p) => p.includes("declaration file for module '@clientcert/")))
    problems.push('the @clientcert/* type declarations are missing: run `pnpm build` first')
  if (process.env.DOCS_CHECK_KEEP) console.error(`docs:check code-blocks: files kept in ${dir}`)
  else rmSync(dir, { recursive: true, force: true })
  return problems
}

// ── (d) relative links and anchors ───────────────────────────────────────────────────────

/** GitHub's heading slug. */
export function slug(heading) {
  return heading
    .replace(/<[^>]+>/g, '')
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-')
}

/** Strips fenced blocks and inline code, keeping line numbers. */
function proseLines(text) {
  const lines = text.split('\n')
  let fence = null
  return lines.map((line) => {
    const f = /^\s*(`{3,}|~{3,})/.exec(line)
    if (fence === null && f) {
      fence = f[1]
      return ''
    }
    if (fence !== null) {
      if (f && line.trim().startsWith(fence) && line.trim() === line.trim().match(/^[`~]+/)[0]) fence = null
      return ''
    }
    return line.replace(/(`+)(?:(?!\1).)+?\1/g, (s) => ' '.repeat(s.length))
  })
}

export function anchorsOf(text) {
  const anchors = new Set()
  const counts = new Map()
  for (const line of proseLines(text)) {
    for (const m of line.matchAll(/<a\s+(?:[^>]*?\s)?(?:id|name)="([^"]+)"/g)) anchors.add(m[1])
  }
  let inFence = false
  for (const line of text.split('\n')) {
    if (/^\s*(`{3,}|~{3,})/.test(line)) inFence = !inFence
    if (inFence) continue
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
    if (h) {
      const base = slug(h[1])
      const n = counts.get(base) ?? 0
      counts.set(base, n + 1)
      anchors.add(n === 0 ? base : `${base}-${n}`)
    }
  }
  return anchors
}

/** Links in a Markdown text: inline `[x](target)` and reference definitions `[x]: target`. */
export function linksOf(text) {
  const links = []
  proseLines(text).forEach((line, i) => {
    for (const m of line.matchAll(/!?\[(?:[^\][]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
      links.push({ target: m[1], line: i + 1 })
    const def = /^\s{0,3}\[[^\]]+\]:\s+<?(\S+?)>?(?:\s+.*)?$/.exec(line)
    if (def) links.push({ target: def[1], line: i + 1 })
  })
  return links
}

export function checkLinks({ root = REPO_ROOT, files } = {}) {
  const problems = []
  const anchorCache = new Map()
  const anchorsFor = (path) => {
    if (!anchorCache.has(path)) anchorCache.set(path, anchorsOf(readFileSync(path, 'utf8')))
    return anchorCache.get(path)
  }
  for (const file of files ?? markdownFiles(root, { includeApi: true })) {
    const rel = toPosix(relative(root, file))
    for (const { target, line } of linksOf(readFileSync(file, 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue // http:, mailto:, ...
      const [rawPath, anchor] = target.split('#', 2)
      let path
      try {
        path = rawPath === '' ? file : resolve(dirname(file), decodeURIComponent(rawPath))
      } catch {
        problems.push(`${rel}:${line}: bad link ${target}`)
        continue
      }
      if (rawPath.startsWith('/')) path = join(root, decodeURIComponent(rawPath))
      if (!existsSync(path)) {
        problems.push(`${rel}:${line}: broken link ${target} (no ${toPosix(relative(root, path))})`)
        continue
      }
      if (anchor === undefined || anchor === '') continue
      if (statSync(path).isDirectory() || !path.endsWith('.md')) continue
      if (/^L\d+(-L\d+)?$/.test(anchor)) continue
      if (!anchorsFor(path).has(decodeURIComponent(anchor).toLowerCase()) && !anchorsFor(path).has(anchor))
        problems.push(
          `${rel}:${line}: broken anchor ${target} (no heading #${anchor} in ${toPosix(relative(root, path))})`,
        )
    }
  }
  return problems
}

// ── command line ─────────────────────────────────────────────────────────────────────────

const CHECKS = {
  'api-sync': () => checkApiSync(),
  'error-pages': () => checkErrorPages(),
  'code-blocks': () => checkCodeBlocks(),
  links: () => checkLinks(),
}

async function main(argv) {
  const cmd = argv[0] ?? 'all'
  if (cmd === 'api-write') {
    const { entryPoints, tsconfig } = apiOptions()
    await generateApi({ entryPoints, tsconfig, out: join(REPO_ROOT, 'docs', 'api') })
    console.log('docs/api regenerated')
    return 0
  }
  const names = cmd === 'all' ? Object.keys(CHECKS) : [cmd]
  const unknown = names.find((n) => !CHECKS[n])
  if (unknown) {
    console.error(`unknown check "${unknown}"; expected ${Object.keys(CHECKS).join(', ')}, all or api-write`)
    return 2
  }
  // The checks are independent: run them concurrently (typedoc in this process, tsc in a child).
  const results = await Promise.all(
    names.map(async (name) => {
      const started = performance.now()
      const problems = await CHECKS[name]()
      return { name, problems, ms: Math.round(performance.now() - started) }
    }),
  )
  let failed = 0
  for (const { name, problems, ms } of results) {
    if (problems.length === 0) console.log(`docs:check ${name}: ok (${ms} ms)`)
    else {
      failed++
      console.error(`docs:check ${name}: ${problems.length} problem(s) (${ms} ms)`)
      for (const p of problems) console.error(`  ${p}`)
    }
  }
  return failed === 0 ? 0 : 1
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    (err) => {
      console.error(err)
      process.exitCode = 1
    },
  )
}
