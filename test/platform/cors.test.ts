import t from 'tap'
import { build, loggedIn } from '../support/helper.js'

const ALLOWED = 'https://app.example'

t.test('an allowed origin gets CORS with credentials, preflight included', async (t) => {
  const app = await build(t, { CORS_ORIGINS: `${ALLOWED}, https://admin.example` })
  const cookie = await loggedIn(app, 'corsy')
  const response = await app.inject({ url: '/api/dashboard', headers: { origin: ALLOWED, cookie } })
  t.equal(response.statusCode, 200)
  t.equal(response.headers['access-control-allow-origin'], ALLOWED)
  t.equal(response.headers['access-control-allow-credentials'], 'true')
  const preflight = await app.inject({
    method: 'OPTIONS',
    url: '/api/count',
    headers: { 'origin': ALLOWED, 'access-control-request-method': 'POST' },
  })
  t.equal(preflight.statusCode, 204)
  t.equal(preflight.headers['access-control-allow-origin'], ALLOWED)
})

t.test('another origin gets no CORS headers', async (t) => {
  const app = await build(t, { CORS_ORIGINS: ALLOWED })
  const response = await app.inject({ url: '/health/live', headers: { origin: 'https://evil.example' } })
  t.notOk(response.headers['access-control-allow-origin'])
})

t.test('without CORS_ORIGINS no origin gets CORS headers', async (t) => {
  const app = await build(t)
  const response = await app.inject({ url: '/health/live', headers: { origin: ALLOWED } })
  t.notOk(response.headers['access-control-allow-origin'])
  t.notOk(response.headers['access-control-allow-credentials'])
})
