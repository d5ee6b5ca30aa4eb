import { readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { brotliDecompressSync, gunzipSync } from 'node:zlib'
import Fastify from 'fastify'
import t from 'tap'
import { ConfigError } from '../../src/config.js'
import { WEB_APP_PAGES } from '../../src/lib/web-pages.js'
import webAppPlugin, { WEB_APP_DIR } from '../../src/platform/http/web-app.js'
import securityHeadersPlugin from '../../src/platform/http/security-headers.js'
import sessionService from '../../src/plugin.js'
import { build, testConfig } from '../support/helper.js'

// How the service serves the web app (npm run build:web must have run: npm test does it first).

const WEB = { WEB_APP: 'true' }
// The entry script (the pages' own chunks load from it).
const script = readdirSync(join(WEB_APP_DIR, 'assets')).find((name) => /^index-.*\.js$/.test(name))!

t.test('every page path answers the app: HTML revalidated on each load, under a policy that allows no inline script', async (t) => {
  const app = await build(t, WEB)
  for (const path of Object.values(WEB_APP_PAGES)) {
    const page = await app.inject({ url: path })
    t.equal(page.statusCode, 200, path)
    t.match(page.headers['content-type'], /^text\/html/, `${path} is HTML`)
    t.equal(page.headers['cache-control'], 'no-cache', `${path} is revalidated`)
  }
  const { headers, body } = await app.inject({ url: WEB_APP_PAGES.login })
  t.match(body, `<script type="module" crossorigin src="/assets/${script}">`, 'the hashed script')
  t.notMatch(body, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script in the HTML')
  const policy = String(headers['content-security-policy'])
  t.match(policy, "script-src 'self'")
  t.match(policy, "style-src 'self'")
  t.match(policy, "frame-ancestors 'none'")
  t.notMatch(policy, 'unsafe-inline', 'nothing inline, scripts or styles')
  t.notMatch(policy, 'upgrade-insecure-requests', 'PUBLIC_URL is http here: nothing to upgrade')
  t.equal(headers['x-frame-options'], 'DENY')
  t.equal(headers['referrer-policy'], 'no-referrer', 'a mailed token in the address never leaves in a Referer')
})

t.test('hashed assets are cached for a year, sent compressed where the browser accepts it, and not rate-limited', async (t) => {
  const app = await build(t, { ...WEB, RATE_LIMIT_MAX: '2' })
  const brotli = await app.inject({ url: `/assets/${script}`, headers: { 'accept-encoding': 'br, gzip' } })
  t.equal(brotli.statusCode, 200)
  t.equal(brotli.headers['cache-control'], 'public, max-age=31536000, immutable')
  t.equal(brotli.headers['content-encoding'], 'br', 'the brotli file written at build time')
  const plain = await app.inject({ url: `/assets/${script}` })
  t.equal(plain.headers['content-encoding'], undefined, 'uncompressed for a client that asks for nothing')
  t.ok(plain.rawPayload.length > brotli.rawPayload.length * 2, `${plain.rawPayload.length} bytes plain, ${brotli.rawPayload.length} in brotli`)
  for (let i = 0; i < 5; i++) t.equal((await app.inject({ url: `/assets/${script}` })).statusCode, 200, `asset request ${i + 1} of a limit of 2`)
})

t.test('the compressed copies hold exactly the built files', async (t) => {
  // Written after Vite's last rewrite of a chunk: an earlier copy kept its preload placeholders, and the lazy pages
  // failed to load in every browser that accepts Brotli.
  const assets = join(WEB_APP_DIR, 'assets')
  const built = readdirSync(assets).filter((name) => /\.(js|css)$/.test(name))
  t.ok(built.length > 1, `${built.length} files`)
  for (const name of built) {
    const original = readFileSync(join(assets, name))
    t.ok(brotliDecompressSync(readFileSync(join(assets, `${name}.br`))).equals(original), `${name}.br`)
    t.ok(gunzipSync(readFileSync(join(assets, `${name}.gz`))).equals(original), `${name}.gz`)
  }
})

t.test('API paths and unknown paths keep their JSON answers, 404s included', async (t) => {
  const app = await build(t, WEB)
  for (const path of ['/nope', '/login/extra', '/auth/nope', '/assets/missing.js', '/assets/../package.json', '/index.html']) {
    const answer = await app.inject({ url: path })
    t.equal(answer.statusCode, 404, path)
    t.match(answer.json(), { code: 'NOT_FOUND' }, `${path}: the error shape`)
  }
  t.equal((await app.inject({ url: '/auth/me' })).json().code, 'UNAUTHENTICATED', 'an API route answers as ever')
})

t.test('WEB_APP=false serves no page: the paths answer the JSON 404', async (t) => {
  const app = await build(t, { WEB_APP: 'false' })
  for (const path of ['/', WEB_APP_PAGES.login, `/assets/${script}`]) t.equal((await app.inject({ url: path })).statusCode, 404, path)
})

t.test('a start with the web app on and no build of it, or with moved routes, says what to do', async (t) => {
  const empty = await mkdtemp(join(tmpdir(), 'web-'))
  t.teardown(() => rm(empty, { recursive: true, force: true }))
  const bare = Fastify()
  await bare.register(securityHeadersPlugin)
  const unbuilt = new ConfigError(`WEB_APP is on but the web app is not built (no ${empty}/index.html): run npm run build, or set WEB_APP=false`)
  await t.rejects(async () => {
    await bare.register(webAppPlugin, { dir: `${empty}/`, secure: false }).ready()
  }, unbuilt)

  const host = Fastify()
  t.teardown(() => host.close())
  const config = await testConfig(WEB)
  await t.rejects(async () => {
    await host.register(sessionService, { config, mount: { auth: '/identity' } }).ready()
  }, /WEB_APP needs the route groups at \/auth, \/api and \/admin/)
})

t.test('with an https PUBLIC_URL the pages ask the browser to upgrade every request', async (t) => {
  const app = await build(t, { ...WEB, PUBLIC_URL: 'https://login.example' })
  t.match((await app.inject({ url: '/' })).headers['content-security-policy'], 'upgrade-insecure-requests')
})
