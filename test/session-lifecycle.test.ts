import t from 'tap'
import { handleOf } from '../src/lib/keys.js'
import { build, commandsDuring, json, login, loggedIn, sessionCookie, sessionIdOf, testRedis, uniquePrefix } from './support/helper.js'

// What the sessions service (src/plugins/app/sessions.ts) owns beyond what the route tests show: the index stays in
// step with the sessions, and every Redis script runs by its SHA.

t.test('a login that replaces a live session leaves only the new session listed', async (t) => {
  const prefix = uniquePrefix()
  const app = await build(t, { REDIS_PREFIX: prefix })
  const first = await loggedIn(app, 'relogger')
  const second = sessionCookie(await login(app, 'relogger', undefined, { cookie: first }))
  t.not(second, first, 'a new session ID')
  const { user } = (await app.inject({ url: '/auth/me', headers: { cookie: second } })).json()
  const listed = await (await testRedis()).client(t).zrange(`${prefix}user-sessions:${user.id}`, 0, -1)
  t.same(listed, [handleOf(sessionIdOf(second))], 'the replaced session was unlisted as it ended, not left for pruning')
})

t.test("once Redis knows a script, it runs by its SHA: no request sends a script's text", async (t) => {
  const app = await build(t)
  const exercise = async (username: string) => {
    await app.inject({ method: 'POST', url: '/auth/register', ...json({ username, password: 'correct horse battery' }) })
    await login(app, username, 'a wrong password')
    const cookie = sessionCookie(await login(app, username))
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
