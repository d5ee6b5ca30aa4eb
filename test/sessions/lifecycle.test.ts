import t from 'tap'
import { handleOf, redisKeys } from '../../src/lib/keys.js'
import { build, commandsDuring, json, loggedIn, postLogin, sessionCookie, sessionIdOf, testRedis, uniquePrefix } from '../support/helper.js'

// What the sessions service (src/sessions/service.ts) owns beyond what the route tests show: the index stays in
// step with the sessions, and every Redis script runs by its SHA.

t.test('a login that replaces a live session leaves only the new session listed', async (t) => {
  const prefix = uniquePrefix()
  const app = await build(t, { REDIS_PREFIX: prefix })
  const first = await loggedIn(app, 'relogger')
  const second = sessionCookie(await postLogin(app, 'relogger', undefined, { cookie: first }))
  t.not(second, first, 'a new session ID')
  const { user } = (await app.inject({ url: '/auth/me', headers: { cookie: second } })).json()
  const listed = await (await testRedis()).client(t).zrange(redisKeys(prefix).userSessions(user.id), 0, -1)
  t.same(listed, [handleOf(sessionIdOf(second))], 'the replaced session was unlisted as it ended, not left for pruning')
})

t.test("once Redis knows a script, it runs by its SHA: no request sends a script's text", async (t) => {
  const app = await build(t)
  const exercise = async (username: string) => {
    await app.inject({ method: 'POST', url: '/auth/register', ...json({ username, password: 'correct horse battery' }) })
    await postLogin(app, username, 'a wrong password')
    const cookie = sessionCookie(await postLogin(app, username))
    await app.inject({ method: 'POST', url: '/api/count', headers: { cookie } })
    const change = json({ theme: 'dark' })
    await app.inject({ method: 'PATCH', url: '/api/preferences', payload: change.payload, headers: { ...change.headers, cookie } })
  }
  // The first use of each script may send its text once (ioredis answers NOSCRIPT with EVAL, then keeps the SHA).
  await exercise('first-user')
  const commands = await commandsDuring(await testRedis(), () => exercise('second-user'))
  const scripts = commands.filter(([command]) => command === 'eval' || command === 'evalsha')
  t.ok(scripts.length >= 4, 'registration, the failure count, the session creation and the changes are scripts')
  t.same(scripts.filter(([command]) => command === 'eval'), [], 'each sent by its SHA')
})

t.test('an ended session clears its __Host- cookies with the attributes they were set with', async (t) => {
  const app = await build(t, { COOKIE_NAME: '__Host-sid', COOKIE_SECURE: 'true', TRUST_PROXY: 'true' })
  const overHttps = { 'x-forwarded-proto': 'https' }
  const send = (method: 'GET' | 'POST', url: string, cookie: string, body?: unknown) => {
    const headers = { ...overHttps, cookie, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }
    return app.inject({ method, url, headers, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) })
  }
  const clearing = (response: { headers: Record<string, unknown> }, name: string) =>
    [response.headers['set-cookie'] ?? []].flat().map(String).filter((line) => line.startsWith(`${name}=;`))
  const expectCleared = (lines: string[], what: string) => {
    t.equal(lines.length, 1, `${what}: one clearing line`)
    t.match(lines[0], /; Max-Age=0; Path=\/; .*HttpOnly; Secure; SameSite=(Lax|Strict)/, `${what}: Secure, Path=/, HttpOnly and SameSite`)
  }

  await send('POST', '/auth/register', '', { username: 'host', password: 'correct horse battery' })
  const login = await send('POST', '/auth/login', '', { username: 'host', password: 'correct horse battery' })
  const cookie = sessionCookie(login, '__Host-sid')
  const logout = await send('POST', '/auth/logout', cookie)
  t.equal(logout.statusCode, 204)
  expectCleared(clearing(logout, '__Host-sid'), 'logout')
  const expired = await send('GET', '/api/dashboard', cookie)
  t.equal(expired.json().code, 'SESSION_EXPIRED')
  expectCleared(clearing(expired, '__Host-sid'), 'SESSION_EXPIRED')
  const noPending = await send('POST', '/auth/login/mfa', '__Host-sid-mfa=gone', { code: '123456' })
  t.equal(noPending.json().code, 'MFA_LOGIN_EXPIRED')
  expectCleared(clearing(noPending, '__Host-sid-mfa'), 'a pending login that is gone')
})
