import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
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

t.test('the package name resolves to the public entry, and nothing but it', async (t) => {
  const entry = (await import(name)) as Record<string, unknown>
  t.same(Object.keys(entry).sort(), ['NoContent', 'PUBLIC', 'SESSION_SECURITY', 'answer', 'buildApp', 'ConfigError', 'defineError', 'errorResponses', 'loadConfig', 'sessionService'].sort())
  // Node says it with a code, tsx's resolver in the message: either way the subpath is not exported.
  const refused = await import(`${name}/dist/app.js`).then(() => 'loaded', (error: Error & { code?: string }) => `${error.code ?? ''} ${error.message}`)
  t.match(refused, /ERR_PACKAGE_PATH_NOT_EXPORTED|not defined by "exports"/, 'internal modules are not reachable by the name')
})

t.test("a host's file type-checks against the declarations: typed guards, request.user, errors in the service's shape", async (t) => {
  // test/package/host.ts imports only by the package's name, and holds a @ts-expect-error that must stay an error.
  const checked = await run(process.execPath, [tsc, '-p', 'test/package/tsconfig.json'], { cwd: root }).then(() => '', (error: { stdout?: string }) => String(error.stdout))
  t.equal(checked, '', 'no type error')
})
