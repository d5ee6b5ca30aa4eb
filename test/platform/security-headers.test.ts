import t from 'tap'
import { build, json, loggedIn, PASSWORD } from '../support/helper.js'

t.test('every /auth and /api response says Cache-Control: no-store, errors included', async (t) => {
  const app = await build(t)
  const cookie = await loggedIn(app, 'nostore')
  const requests = [
    { url: '/auth/me', headers: { cookie } },
    { url: '/api/dashboard', headers: { cookie } },
    { url: '/api/dashboard' },
    { method: 'POST' as const, url: '/auth/login', ...json({ username: 'nostore', password: PASSWORD }) },
    { method: 'POST' as const, url: '/auth/logout', headers: { cookie } },
  ]
  for (const request of requests) {
    const response = await app.inject(request)
    t.equal(response.headers['cache-control'], 'no-store', `${request.method ?? 'GET'} ${request.url} ${response.statusCode}`)
  }
})

t.test('API responses carry the security headers a JSON API needs, and nothing meant for HTML pages', async (t) => {
  const app = await build(t)
  const cookie = await loggedIn(app, 'headers')
  for (const request of [{ url: '/health/live' }, { url: '/api/dashboard', headers: { cookie } }, { url: '/api/dashboard' }, { url: '/nowhere' }]) {
    const response = await app.inject(request)
    const what = `${request.url} ${response.statusCode}`
    t.equal(response.headers['x-content-type-options'], 'nosniff', what)
    t.match(response.headers['strict-transport-security'], /^max-age=31536000/, what)
    t.equal(response.headers['content-security-policy'], "frame-ancestors 'none'", what)
    t.equal(response.headers['x-frame-options'], 'DENY', what)
    t.notOk('cross-origin-opener-policy' in response.headers, `${what}: no HTML-only headers`)
    t.notOk('ratelimit-remaining' in response.headers, `${what}: RateLimit headers only on a 429`)
  }
})

t.test("the /docs pages get helmet's full set for HTML", async (t) => {
  const app = await build(t)
  for (const url of ['/docs/', '/docs/json']) {
    const response = await app.inject({ url })
    t.equal(response.statusCode, 200, url)
    t.match(response.headers['content-security-policy'], /default-src 'self'/, url)
    t.equal(response.headers['x-frame-options'], 'SAMEORIGIN', url)
    t.equal(response.headers['cross-origin-opener-policy'], 'same-origin', url)
  }
})
