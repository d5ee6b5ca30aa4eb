import t from 'tap'
import { build, json, loggedIn, PASSWORD } from './helper.js'

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

t.test('responses carry helmet security headers', async (t) => {
  const app = await build(t)
  for (const url of ['/health/live', '/api/dashboard', '/nowhere']) {
    const response = await app.inject({ url })
    t.equal(response.headers['x-content-type-options'], 'nosniff', url)
    t.match(response.headers['strict-transport-security'], /max-age=/, url)
    t.match(response.headers['content-security-policy'], /default-src 'self'/, url)
    t.equal(response.headers['x-frame-options'], 'SAMEORIGIN', url)
  }
})
