// Tests of the documentation checks themselves (scripts/docs-check.mjs): each check is run
// against a small fixture tree where it must pass, and against broken variants where it must fail.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'

interface DocsCheck {
  checkApiSync(o: { root: string; packages: string[]; tsconfig: string }): Promise<string[]>
  generateApi(o: { entryPoints: string[]; tsconfig: string; out: string }): Promise<void>
  apiOptions(root: string, packages: string[]): { entryPoints: string[]; tsconfig: string }
  checkErrorPages(o: { root: string; codes: string[] }): Promise<string[]>
  checkCodeBlocks(o: { root: string }): Promise<string[]>
  checkLinks(o: { root: string }): string[]
}

// A computed specifier: the script is plain JavaScript without declarations.
const scriptUrl = new URL('../../scripts/docs-check.mjs', import.meta.url).href
const docsCheck = (): Promise<DocsCheck> => import(scriptUrl) as Promise<DocsCheck>

const roots: string[] = []
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true })
})

/** A fixture tree: { 'docs/a.md': '...' } written under a fresh temp directory. */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'docs-check-fixture-'))
  roots.push(root)
  for (const [path, text] of Object.entries(files)) write(root, path, text)
  return root
}

function write(root: string, path: string, text: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true })
  writeFileSync(join(root, path), text)
}

const fence = '```'

describe('api-sync: the committed API reference matches the TSDoc', () => {
  const project = (): string =>
    tree({
      'tsconfig.json': JSON.stringify({
        compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022' },
        include: ['packages/*/src'],
      }),
      'packages/demo/package.json': JSON.stringify({
        name: '@fixture/demo',
        version: '1.0.0',
        type: 'module',
      }),
      'packages/demo/src/index.ts':
        '/** Adds two numbers. */\nexport function add(a: number, b: number): number {\n  return a + b\n}\n',
      'packages/other/package.json': JSON.stringify({
        name: '@fixture/other',
        version: '1.0.0',
        type: 'module',
      }),
      'packages/other/src/index.ts': '/** A constant. */\nexport const ANSWER = 42\n',
    })
  const packages = ['demo', 'other']

  it('passes when docs/api was generated from the current source, fails when stale', async () => {
    const { apiOptions, checkApiSync, generateApi } = await docsCheck()
    const root = project()
    const tsconfig = join(root, 'tsconfig.json')
    const { entryPoints } = apiOptions(root, packages)
    await generateApi({ entryPoints, tsconfig, out: join(root, 'docs', 'api') })
    const page = join(root, 'docs', 'api', '@fixture', 'demo.md')
    expect(readFileSync(page, 'utf8')).toContain('Adds two numbers.')

    expect(await checkApiSync({ root, packages, tsconfig })).toEqual([])

    // The source changed (a new export, new TSDoc) but docs/api was not regenerated.
    write(
      root,
      'packages/demo/src/index.ts',
      `${readFileSync(join(root, 'packages/demo/src/index.ts'), 'utf8')}\n/** Subtracts. */\nexport const sub = (a: number, b: number): number => a - b\n`,
    )
    const stale = await checkApiSync({ root, packages, tsconfig })
    expect(stale).toContainEqual(expect.stringMatching(/^docs\/api\/@fixture\/demo\.md: stale/))

    // A hand edit of a generated page, a deleted page and a leftover page are reported too.
    await generateApi({ entryPoints, tsconfig, out: join(root, 'docs', 'api') })
    writeFileSync(page, `${readFileSync(page, 'utf8')}\nhand edit\n`)
    rmSync(join(root, 'docs', 'api', 'README.md'))
    write(root, 'docs/api/old.md', '# old\n')
    const problems = await checkApiSync({ root, packages, tsconfig })
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^docs\/api\/@fixture\/demo\.md: stale/),
        expect.stringMatching(/^docs\/api\/README\.md: missing/),
        expect.stringMatching(/^docs\/api\/old\.md: not generated/),
      ]),
    )
  }, 120_000)
})

describe('error-pages: every error code has a page, listed in the index', () => {
  const codes = ['ERR_CLIENT_CERT_ONE', 'ERR_CLIENT_CERT_TWO']
  const complete = (): Record<string, string> => ({
    'docs/errors/README.md': '# Errors\n\n- [one](ERR_CLIENT_CERT_ONE.md)\n- [two](ERR_CLIENT_CERT_TWO.md)\n',
    'docs/errors/ERR_CLIENT_CERT_ONE.md': '# ERR_CLIENT_CERT_ONE\n',
    'docs/errors/ERR_CLIENT_CERT_TWO.md': '# ERR_CLIENT_CERT_TWO\n',
  })

  it('passes when every code has a page and an index entry', async () => {
    const { checkErrorPages } = await docsCheck()
    expect(await checkErrorPages({ root: tree(complete()), codes })).toEqual([])
  })

  it('fails for a code without a page', async () => {
    const { checkErrorPages } = await docsCheck()
    const files = complete()
    delete files['docs/errors/ERR_CLIENT_CERT_TWO.md']
    expect(await checkErrorPages({ root: tree(files), codes })).toEqual([
      'docs/errors/ERR_CLIENT_CERT_TWO.md: missing page for ERR_CLIENT_CERT_TWO',
    ])
  })

  it('fails for a page the index does not list, and for a page of an unknown code', async () => {
    const { checkErrorPages } = await docsCheck()
    const files = complete()
    files['docs/errors/README.md'] = '# Errors\n\n- [one](ERR_CLIENT_CERT_ONE.md)\n'
    files['docs/errors/ERR_CLIENT_CERT_GONE.md'] = '# gone\n'
    expect(await checkErrorPages({ root: tree(files), codes })).toEqual([
      'docs/errors/README.md: does not link ERR_CLIENT_CERT_TWO.md',
      'docs/errors/ERR_CLIENT_CERT_GONE.md: no such code in CLIENT_CERT_ERROR_CODES',
    ])
  })
})

describe('code-blocks: TypeScript blocks in the docs type-check', () => {
  it('passes for blocks that compile, with a prelude for a fragment, and skips no-check blocks', async () => {
    const { checkCodeBlocks } = await docsCheck()
    const root = tree({
      'docs/guide.md': [
        '# Guide',
        '',
        `${fence}ts`,
        "import { createHash } from 'node:crypto'",
        "const digest: string = createHash('sha256').update('x').digest('hex')",
        `${fence}`,
        '',
        '<!-- prelude: greeting -->',
        `${fence}ts`,
        'const length: number = greeting.length',
        `${fence}`,
        '',
        '<!-- no-check -->',
        `${fence}ts`,
        'pseudo code (principal) => { ... }',
        `${fence}`,
        '',
        `${fence}js`,
        'not TypeScript, not checked (',
        `${fence}`,
        '',
      ].join('\n'),
      'docs/.snippets/greeting.ts': 'declare const greeting: string\n',
      'README.md': `# Fixture\n\n${fence}typescript\nconst n: number = 1\n${fence}\n`,
    })
    expect(await checkCodeBlocks({ root })).toEqual([])
  }, 60_000)

  it('fails with file:line for a type error, and for an unknown prelude', async () => {
    const { checkCodeBlocks } = await docsCheck()
    const root = tree({
      'docs/guide.md': [
        '# Guide', // 1
        '', // 2
        `${fence}ts`, // 3
        'const ok: number = 1', // 4
        "const wrong: number = 'one'", // 5
        `${fence}`, // 6
        '', // 7
        '<!-- prelude: missing -->', // 8
        `${fence}ts`, // 9
        'export const x = 1', // 10
        `${fence}`,
        '',
      ].join('\n'),
      'packages/demo/README.md': `# Demo\n\n${fence}ts\nundeclaredName()\n${fence}\n`,
    })
    const problems = await checkCodeBlocks({ root })
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^docs\/guide\.md:5:\d+: TS2322: Type 'string' is not assignable to type 'number'/,
        ),
        expect.stringMatching(/^docs\/guide\.md:8: prelude "missing" not found/),
        expect.stringMatching(/^packages\/demo\/README\.md:4:1: TS2304: Cannot find name 'undeclaredName'/),
      ]),
    )
    expect(problems).toHaveLength(3)
  }, 60_000)

  it('maps errors inside a fragment with a prelude to the line of the block', async () => {
    const { checkCodeBlocks } = await docsCheck()
    const root = tree({
      'docs/a.md': `# A\n\n<!-- prelude: two-lines -->\n${fence}ts\nconst s: string = n\n${fence}\n`,
      'docs/.snippets/two-lines.ts': '// a prelude\ndeclare const n: number\n',
    })
    expect(await checkCodeBlocks({ root })).toEqual([
      expect.stringMatching(/^docs\/a\.md:5:7: TS2322: Type 'number' is not assignable to type 'string'/),
    ])
  }, 60_000)
})

describe('links: relative links and anchors resolve', () => {
  const base = (): Record<string, string> => ({
    'docs/README.md': [
      '# Docs',
      '',
      '- [Guide](guide/a.md), [its second part](guide/a.md#part-two-the-rest), [code](guide/a.md#clientcertoptions)',
      '- [Here](#docs), [home](../README.md), [a folder](guide), [the web](https://example.org/x.md)',
      '- `[not a link](nowhere.md)` in code',
      '',
      `${fence}md`,
      '[also not a link](nowhere.md)',
      `${fence}`,
      '',
      '[ref]: guide/a.md#part-one',
      '',
    ].join('\n'),
    'docs/guide/a.md': '# A\n\n## Part one\n\n## Part two: the rest\n\n## `ClientCertOptions`\n',
    'README.md': '# Project\n\nSee [the docs](docs/README.md#docs).\n',
  })

  it('passes when every link and anchor resolves (code spans and fenced blocks are not links)', async () => {
    const { checkLinks } = await docsCheck()
    expect(checkLinks({ root: tree(base()) })).toEqual([])
  })

  it('fails for a link to a missing file', async () => {
    const { checkLinks } = await docsCheck()
    const files = base()
    files['docs/guide/a.md'] += '\nSee [the policies](policies.md).\n'
    expect(checkLinks({ root: tree(files) })).toEqual([
      'docs/guide/a.md:9: broken link policies.md (no docs/guide/policies.md)',
    ])
  })

  it('fails for an anchor that names no heading, in another file or the same one', async () => {
    const { checkLinks } = await docsCheck()
    const files = base()
    files['README.md'] = '# Project\n\n[x](docs/guide/a.md#part-three) and [y](#nowhere)\n'
    expect(checkLinks({ root: tree(files) })).toEqual([
      'README.md:3: broken anchor docs/guide/a.md#part-three (no heading #part-three in docs/guide/a.md)',
      'README.md:3: broken anchor #nowhere (no heading #nowhere in README.md)',
    ])
  })
})
