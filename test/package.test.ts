import { execFile } from 'node:child_process'
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import { promisify } from 'node:util'
import t from 'tap'

// The package as a host installs it: what `npm pack` puts in the tarball, and what its name resolves to.

const run = promisify(execFile)
const root = new URL('../', import.meta.url).pathname
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
const { name } = JSON.parse(await readFile(new URL('package.json', `file://${root}`), 'utf8')) as { name: string }

// What `npm pack` runs first (prepack): the build, declarations included.
t.before(() => run(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root }))

t.test('npm pack holds the build, its declarations, the docs and the changelog: no source or test file', async (t) => {
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root })
  const files = ((JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]?.files ?? []).map((file) => file.path)
  const misplaced = files.filter((path) => !/^(dist|docs)\//.test(path) && !['package.json', 'README.md', 'CHANGELOG.md'].includes(path))
  t.same(misplaced, [], 'nothing outside dist/, docs/ and the three top-level files')
  t.same(files.filter((path) => /\.ts$/.test(path) && !path.endsWith('.d.ts')), [], 'no TypeScript source')
  t.same(files.filter((path) => /(^|\/)test\//.test(path)), [], 'no test')
  for (const path of ['dist/index.js', 'dist/index.d.ts', 'dist/server.js', 'docs/building-on-it.md', 'CHANGELOG.md']) t.ok(files.includes(path), `${path} is in it`)
})

/** The values the entry exports (its types aside). */
const PUBLIC_VALUES = [
  'sessionService',
  'buildApp',
  'loadConfig',
  'ConfigError',
  'RedisUnreachableError',
  'DatabaseUnreachableError',
  'SchemaMismatchError',
  'defineError',
  'errorResponses',
  'answer',
  'NoContent',
  'PUBLIC',
  'SESSION_SECURITY',
]

t.test('the package name resolves to the public entry, and nothing but it', async (t) => {
  const entry = (await import(name)) as Record<string, unknown>
  t.same(Object.keys(entry).sort(), PUBLIC_VALUES.sort())
  // Node says it with a code, tsx's resolver in the message: either way the subpath is not exported.
  const refused = await import(`${name}/dist/app.js`).then(() => 'loaded', (error: Error & { code?: string }) => `${error.code ?? ''} ${error.message}`)
  t.match(refused, /ERR_PACKAGE_PATH_NOT_EXPORTED|not defined by "exports"/, 'internal modules are not reachable by the name')
})

t.test('the example host app, installed from the packed tarball, type-checks and passes its own tests', async (t) => {
  // As a host gets it: the tarball npm pack makes (already built above), installed into a copy of examples/host-app.
  const dir = await mkdtemp(join(tmpdir(), 'host-app-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: root })
  const tarball = join(dir, (JSON.parse(stdout) as Array<{ filename: string }>)[0]!.filename)
  const app = join(dir, 'host-app')
  await cp(join(root, 'examples/host-app'), app, { recursive: true, filter: (path) => !path.includes('node_modules') })
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', tarball], { cwd: app })

  const checked = await run(process.execPath, [tsc, '--noEmit', '-p', app]).then(() => '', (error: { stdout?: string }) => String(error.stdout))
  t.equal(checked, '', 'no type error against the declarations')
  const tested = await run(process.execPath, ['--test', '--test-reporter=tap', 'test/*.test.ts'], { cwd: app }).then(
    ({ stdout }) => ({ passed: true, output: stdout }),
    (error: { stdout?: string; stderr?: string }) => ({ passed: false, output: `${error.stdout ?? ''}${error.stderr ?? ''}` }),
  )
  t.ok(tested.passed, tested.passed ? 'its tests pass' : tested.output)
  t.match(tested.output, /# pass [1-9]/, 'and they ran')
  t.match(tested.output, /# fail 0/)
})
