import fc from 'fast-check'
import t, { type Test } from 'tap'
import { handleOf, redisKeys } from '../../src/lib/keys.js'
import { build, json, PASSWORD, postRegister, testRedis, uniquePrefix, type App } from '../support/helper.js'

// Clients that are not browsers: the same sessions, carried as `Authorization: Bearer <token>` instead of a cookie.

async function tokenLogin(t: Test, app: App, username: string, extra: object = {}) {
  const response = await app.inject({ method: 'POST', url: '/auth/login', ...json({ username, password: PASSWORD, transport: 'token', ...extra }) })
  t.equal(response.statusCode, 200, 'token login')
  return response
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const tokenOf = (response: { json(): { token: string } }) => response.json().token

t.test('a login with transport "token" answers the token and its expiry, and sets no cookie', async (t) => {
  const prefix = uniquePrefix()
  const app = await build(t, { REDIS_PREFIX: prefix, SESSION_IDLE_TTL: '600' })
  await postRegister(app, 'script')
  const started = Date.now()
  const response = await tokenLogin(t, app, 'script')
  const body = response.json()
  t.same(Object.keys(body).sort(), ['expiresAt', 'token', 'user'])
  t.equal(body.user.username, 'script')
  const [sessionId] = body.token.split('.')
  t.ok(Buffer.from(sessionId, 'base64url').length >= 16, 'at least 128 random bits')
  const expiresAt = Date.parse(body.expiresAt)
  t.ok(expiresAt >= started + 600_000 && expiresAt <= Date.now() + 600_000, 'the idle timeout from now')
  t.same(response.cookies, [], 'no cookie')
  t.notOk(response.headers['set-cookie'])

  const redis = (await testRedis()).client(t)
  t.equal(await redis.exists(redisKeys(prefix).session(handleOf(sessionId))), 1, 'stored under the hash of its ID, as a cookie session')
  const everything = JSON.stringify(await Promise.all((await redis.keys(`${prefix}*`)).map((key) => redis.dump(key))))
  t.notMatch(everything, sessionId, 'the token is nowhere in Redis')
})

t.test('the token works on every guarded route a cookie works on, and no answer sets a cookie', async (t) => {
  const app = await build(t, { ADMIN_USERNAME: 'boss', ADMIN_PASSWORD: PASSWORD })
  await postRegister(app, 'worker')
  const token = tokenOf(await tokenLogin(t, app, 'worker'))
  const admin = tokenOf(await tokenLogin(t, app, 'boss'))
  const requests = [
    { method: 'GET', url: '/auth/me', headers: bearer(token) },
    { method: 'GET', url: '/api/dashboard', headers: bearer(token) },
    { method: 'POST', url: '/api/count', headers: bearer(token) },
    { method: 'GET', url: '/api/preferences', headers: bearer(token) },
    { method: 'PATCH', url: '/api/preferences', headers: { ...bearer(token), 'content-type': 'application/json' }, payload: '{"theme":"dark"}' },
    { method: 'GET', url: '/auth/sessions', headers: bearer(token) },
    { method: 'DELETE', url: '/auth/sessions', headers: bearer(token) },
    { method: 'GET', url: '/admin/users/worker/sessions', headers: bearer(admin) },
  ] as const
  for (const request of requests) {
    const response = await app.inject(request)
    t.equal(response.statusCode, 200, `${request.method} ${request.url}`)
    t.notOk(response.headers['set-cookie'], `${request.method} ${request.url}: no cookie`)
  }
  const { sessions } = (await app.inject({ url: '/auth/sessions', headers: bearer(token) })).json()
  t.equal(sessions.filter((session: { current: boolean }) => session.current).length, 1, 'listed as the current session')
  t.equal((await app.inject({ url: '/api/preferences', headers: bearer(token) })).json().preferences.theme, 'dark', 'changes are kept')
  t.equal((await app.inject({ method: 'POST', url: '/api/count', headers: bearer(token) })).json().views, 2)
})

t.test('CSRF checks do not apply: a bearer token is no ambient credential', async (t) => {
  const app = await build(t)
  await postRegister(app, 'crossing')
  const token = tokenOf(await tokenLogin(t, app, 'crossing'))
  const response = await app.inject({ method: 'POST', url: '/api/count', headers: { ...bearer(token), 'origin': 'https://elsewhere.example', 'sec-fetch-site': 'cross-site' } })
  t.equal(response.statusCode, 200)
})

t.test('a cookie and a bearer token on one request: 400 AMBIGUOUS_CREDENTIALS', async (t) => {
  const app = await build(t)
  await postRegister(app, 'both')
  const token = tokenOf(await tokenLogin(t, app, 'both'))
  const response = await app.inject({ url: '/auth/me', headers: { ...bearer(token), cookie: `sid=${token}` } })
  t.equal(response.statusCode, 400)
  t.equal(response.json().code, 'AMBIGUOUS_CREDENTIALS')
})

t.test('tampered, logged-out and revoked tokens answer 401 with the cookie codes, and never set a cookie', async (t) => {
  const app = await build(t)
  await postRegister(app, 'ender')
  const token = tokenOf(await tokenLogin(t, app, 'ender'))
  const tampered = await app.inject({ url: '/auth/me', headers: bearer(`${token.slice(0, -2)}xx`) })
  t.equal(tampered.statusCode, 401)
  t.equal(tampered.json().code, 'UNAUTHENTICATED')

  const logout = await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(token) })
  t.equal(logout.statusCode, 204)
  t.notOk(logout.headers['set-cookie'], 'logout clears no cookie it never set')
  const after = await app.inject({ url: '/auth/me', headers: bearer(token) })
  t.equal(after.statusCode, 401)
  t.equal(after.json().code, 'SESSION_EXPIRED')
  t.notOk(after.headers['set-cookie'])

  const revoked = tokenOf(await tokenLogin(t, app, 'ender'))
  const other = tokenOf(await tokenLogin(t, app, 'ender'))
  const handle = handleOf(revoked.split('.')[0]!)
  t.equal((await app.inject({ method: 'DELETE', url: `/auth/sessions/${handle}`, headers: bearer(other) })).statusCode, 204)
  t.equal((await app.inject({ url: '/api/dashboard', headers: bearer(revoked) })).json().code, 'SESSION_EXPIRED')
})

t.test('a password change gives a bearer client its new token; the old one has ended', async (t) => {
  const app = await build(t)
  await postRegister(app, 'changer')
  const old = tokenOf(await tokenLogin(t, app, 'changer'))
  const change = await app.inject({
    method: 'PUT',
    url: '/auth/password',
    headers: { ...bearer(old), 'content-type': 'application/json' },
    payload: JSON.stringify({ currentPassword: PASSWORD, newPassword: `${PASSWORD}!` }),
  })
  t.equal(change.statusCode, 200)
  t.notOk(change.headers['set-cookie'])
  const renewed = change.json().token
  t.not(renewed, old)
  t.equal((await app.inject({ url: '/auth/me', headers: bearer(old) })).statusCode, 401)
  t.equal((await app.inject({ url: '/auth/me', headers: bearer(renewed) })).statusCode, 200)
})

t.test('a token from one instance works on another, and its logout holds on both at once', async (t) => {
  const env = { REDIS_PREFIX: uniquePrefix() }
  const one = await build(t, env)
  const two = await build(t, env)
  await postRegister(one, 'roamer')
  const token = tokenOf(await tokenLogin(t, one, 'roamer'))
  t.equal((await two.inject({ url: '/auth/me', headers: bearer(token) })).statusCode, 200)
  await two.inject({ method: 'POST', url: '/auth/logout', headers: bearer(token) })
  t.equal((await one.inject({ url: '/auth/me', headers: bearer(token) })).statusCode, 401)
})

t.test('a remembered token session gets the longer limits', async (t) => {
  const app = await build(t, { REMEMBER_IDLE_TTL: '86400' })
  await postRegister(app, 'keeper')
  const expiresAt = Date.parse((await tokenLogin(t, app, 'keeper', { remember: true })).json().expiresAt)
  t.ok(expiresAt > Date.now() + 86_000_000, 'a day, not half an hour')
})

t.test('random Authorization headers never get a 5xx', async (t) => {
  const app = await build(t)
  await postRegister(app, 'fuzzed')
  const token = tokenOf(await tokenLogin(t, app, 'fuzzed'))
  const header = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.string({ maxLength: 300 }).map((value) => `Bearer ${value}`),
    fc.constantFrom(`Bearer ${token}`, `bearer  ${token}`, `Bearer ${token}x`, 'Bearer', 'Bearer ', `Basic ${token}`),
  )
  await fc.assert(
    fc.asyncProperty(header, fc.constantFrom('/auth/me', '/api/count', '/auth/logout'), async (authorization, url) => {
      const method = url === '/auth/me' ? 'GET' : 'POST'
      const response = await app.inject({ method, url, headers: { authorization: authorization.replace(/[\r\n]/g, '') } })
      return response.statusCode < 500
    }),
    { numRuns: 300 },
  )
  t.pass('300 requests, no 5xx')
})
