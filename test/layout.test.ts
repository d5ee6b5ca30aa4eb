import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import t from 'tap'

// The rules of the folder map (docs/how-it-works.md), checked on the source itself, so that a change that breaks
// one fails here instead of waiting for a reviewer.

const SRC = resolve(import.meta.dirname, '../src')
/** The folders in load order: each may import the ones before it (and the pure ones), never one after it. */
const ORDER = ['platform', 'accounts', 'sessions', 'tokens', 'credentials', 'lifecycle', 'security-events', 'routes']
/** Importable from anywhere: pure code and definitions. */
const PURE = ['lib', 'schemas', 'errors.ts', 'config.ts']

const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? files(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : []))
const sources = files(SRC).map((path) => ({ path: relative(SRC, path), text: readFileSync(path, 'utf8') }))
/** The sources not among `allowed` (a path, or a folder ending in /) that match `pattern`. */
const outside = (allowed: string[], pattern: RegExp) =>
  sources
    .filter(({ path }) => !allowed.some((entry) => path === entry || (entry.endsWith('/') && path.startsWith(entry))))
    .filter(({ text }) => pattern.test(text))
    .map(({ path }) => path)
const folderOf = (path: string) => path.split('/')[0]!
const importsOf = (path: string, text: string) =>
  [...text.matchAll(/from '(\.[^']+)'/g)].map((match) => relative(SRC, resolve(SRC, dirname(path), match[1]!)).replace(/\.js$/, '.ts'))

t.test('no folder imports one that comes after it, and lib/ and schemas/ import only each other', async (t) => {
  const broken: string[] = []
  for (const { path, text } of sources) {
    const from = folderOf(path)
    for (const target of importsOf(path, text)) {
      const to = folderOf(target)
      if (from === to || PURE.includes(to)) continue
      const allowed = ORDER.includes(from) ? ORDER.includes(to) && ORDER.indexOf(to) < ORDER.indexOf(from) : !PURE.includes(from)
      if (!allowed) broken.push(`${path} imports ${target}`)
    }
  }
  t.same(broken, [])
})

t.test('routes import a concern through its index.ts, never a store or a service module', async (t) => {
  const concerns = ORDER.filter((folder) => folder !== 'platform' && folder !== 'routes')
  const reaching = sources
    .filter(({ path }) => folderOf(path) === 'routes')
    .flatMap(({ path, text }) => importsOf(path, text).filter((target) => concerns.includes(folderOf(target)) && !target.endsWith('/index.ts')).map((target) => `${path} imports ${target}`))
  t.same(reaching, [])
})

t.test('pure folders use no Redis, PostgreSQL or Fastify (their types aside)', async (t) => {
  const impure = sources
    .filter(({ path }) => ['lib', 'schemas'].includes(folderOf(path)))
    .filter(({ text }) => /^import (?!type ).*from '(ioredis|kysely|pg|fastify|fastify-plugin)'/m.test(text))
    .map(({ path }) => path)
  t.same(impure, [])
})

t.test('stores and ceremonies take plain data: only bindings, guards and routes see a request', async (t) => {
  const SEES_REQUESTS = ['app.ts', 'platform/', 'routes/', 'sessions/http.ts', 'sessions/service.ts', 'credentials/http.ts', 'credentials/guard.ts', 'credentials/rate-limit.ts', 'security-events/plugin.ts']
  t.same(outside(SEES_REQUESTS, /\bFastify(Request|Reply)\b/), [])
})

t.test('only stores and the platform reach Redis through app.redis', async (t) => {
  const STORES = ['platform/', 'sessions/user-sessions.ts', 'sessions/access-tokens.ts', 'sessions/refresh-families.ts', 'sessions/http.ts', 'credentials/lock.ts', 'credentials/pending-logins.ts', 'credentials/rate-limit.ts', 'accounts/snapshots.ts', 'plugin.ts']
  t.same(outside(STORES, /\bapp\.redis\b/), [])
})

t.test('no source file over 400 lines but config.ts, the one list of every setting', async (t) => {
  const long = sources.filter(({ path, text }) => path !== 'config.ts' && text.split('\n').length > 400).map(({ path }) => path)
  t.same(long, [])
})
