import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { BROWSER_USER_AGENT, build, json, loggedIn, PASSWORD, postLogin, postRegister, sessionCookie, sessionIdOf, sessionKey, testRedis, uniquePrefix, type App } from '../support/helper.js'
import { handleOf, redisKeys } from '../../src/lib/keys.js'
import { decodeFields } from '../../src/sessions/records.js'
import { RECORD_CREATION_WINDOW_MS } from '../../src/sessions/store.js'

const list = (app: App, cookie: string) => app.inject({ url: '/auth/sessions', headers: { cookie } })
const dashboard = (app: App, cookie: string) => app.inject({ url: '/api/dashboard', headers: { cookie } }).then((r) => r.statusCode)

/** A browser's User-Agent (over 64 bytes, so stored in chunks), told apart per login. */
const agent = (i: number) => `${BROWSER_USER_AGENT} device-${i}`

/** Registers `username` and logs in `count` times with different user agents; returns the cookies, oldest first. */
async function sessionsOf(app: App, username: string, count: number): Promise<string[]> {
  await postRegister(app, username)
  const cookies: string[] = []
  for (let i = 0; i < count; i++) {
    cookies.push(sessionCookie(await postLogin(app, username, PASSWORD, { 'user-agent': agent(i) })))
    await sleep(5) // distinct login times
  }
  return cookies
}

t.test('GET /auth/sessions lists my live sessions, newest first, with handles that are not cookies', async (t) => {
  const app = await build(t)
  const [first, second, third] = await sessionsOf(app, 'lister', 3)
  await sessionsOf(app, 'someone-else', 1)
  const response = await list(app, second!)
  t.equal(response.statusCode, 200)
  const { sessions } = response.json()
  t.equal(sessions.length, 3)
  t.same(sessions.map((s: { userAgent: string }) => s.userAgent), [agent(2), agent(1), agent(0)], 'each User-Agent whole')
  t.same(sessions.map((s: { current: boolean }) => s.current), [false, true, false])
  t.equal(sessions[1].ip, '127.0.0.1')
  t.ok(Date.parse(sessions[0].createdAt) >= Date.parse(sessions[1].createdAt))
  for (const [session, cookie] of [[sessions[0], third], [sessions[2], first]] as const) {
    t.equal(session.id, handleOf(sessionIdOf(cookie!)))
    t.equal(await dashboard(app, `sid=${session.id}`), 401, 'a handle is no cookie')
  }
})

t.test('the list prunes sessions that expired, sparing entries of sessions still being created', async (t) => {
  const prefix = uniquePrefix()
  const app = await build(t, { REDIS_PREFIX: prefix })
  const [gone, kept] = await sessionsOf(app, 'pruner', 2)
  const redis = (await testRedis()).client(t)
  const indexKey = (await redis.keys(redisKeys(prefix).userSessions('*')))[0]!
  const goneHandle = handleOf(sessionIdOf(gone!))
  await redis.del(sessionKey(prefix, gone!))
  // A login lists its session first and creates it a moment later: a fresh entry without a session is one of those.
  await redis.zadd(indexKey, Date.now(), 'being-created')
  t.equal((await list(app, kept!)).json().sessions.length, 1, 'only live sessions are listed')
  t.same((await redis.zrange(indexKey, 0, -1)).sort(), [goneHandle, 'being-created', handleOf(sessionIdOf(kept!))].sort(), 'fresh entries are kept')
  const settled = Date.now() - RECORD_CREATION_WINDOW_MS - 1
  await redis.zadd(indexKey, 'XX', settled, goneHandle, settled, 'being-created')
  t.equal((await list(app, kept!)).json().sessions.length, 1)
  t.same(await redis.zrange(indexKey, 0, -1), [handleOf(sessionIdOf(kept!))], 'entries older than the creation window are pruned')
})

t.test('DELETE /auth/sessions/:id ends that session on every instance', async (t) => {
  const env = { REDIS_PREFIX: uniquePrefix() }
  const one = await build(t, env)
  const two = await build(t, env)
  const [phone, laptop] = await sessionsOf(one, 'revoker', 2)
  const handle = handleOf(sessionIdOf(phone!))
  const response = await two.inject({ method: 'DELETE', url: `/auth/sessions/${handle}`, headers: { cookie: laptop! } })
  t.equal(response.statusCode, 204)
  t.equal(await dashboard(one, phone!), 401, 'dead on the other instance')
  t.equal(await dashboard(two, laptop!), 200, 'mine still works')
  const again = await two.inject({ method: 'DELETE', url: `/auth/sessions/${handle}`, headers: { cookie: laptop! } })
  t.equal(again.json().code, 'SESSION_NOT_FOUND')
})

t.test("DELETE /auth/sessions/:id answers 404 SESSION_NOT_FOUND for someone else's session", async (t) => {
  const app = await build(t)
  const [mine] = await sessionsOf(app, 'mallory', 1)
  const [theirs] = await sessionsOf(app, 'alice2', 1)
  const handle = handleOf(sessionIdOf(theirs!))
  const response = await app.inject({ method: 'DELETE', url: `/auth/sessions/${handle}`, headers: { cookie: mine! } })
  t.equal(response.statusCode, 404)
  t.equal(response.json().code, 'SESSION_NOT_FOUND')
  t.equal(await dashboard(app, theirs!), 200, 'their session is untouched')
  const malformed = await app.inject({ method: 'DELETE', url: '/auth/sessions/not-a-handle', headers: { cookie: mine! } })
  t.equal(malformed.json().code, 'VALIDATION')
})

t.test('DELETE /auth/sessions ends my other sessions and keeps this one', async (t) => {
  const app = await build(t)
  const cookies = await sessionsOf(app, 'cleaner', 4)
  const current = cookies[1]!
  const response = await app.inject({ method: 'DELETE', url: '/auth/sessions', headers: { cookie: current } })
  t.same(response.json(), { revoked: 3 })
  for (const cookie of cookies) t.equal(await dashboard(app, cookie), cookie === current ? 200 : 401)
})

t.test('POST /auth/logout {everywhere: true} ends all my sessions, this one included', async (t) => {
  const app = await build(t)
  const cookies = await sessionsOf(app, 'leaver', 3)
  const body = json({ everywhere: true })
  const response = await app.inject({ method: 'POST', url: '/auth/logout', ...body, headers: { ...body.headers, cookie: cookies[0]! } })
  t.equal(response.statusCode, 204)
  for (const cookie of cookies) t.equal(await dashboard(app, cookie), 401)
  const bad = await app.inject({ method: 'POST', url: '/auth/logout', ...json({ everywhere: 'yes' }) })
  t.equal(bad.json().code, 'VALIDATION')
})

t.test('MAX_SESSIONS_PER_USER: a login beyond it ends the least recently seen session (none used since: the oldest)', async (t) => {
  const app = await build(t, { MAX_SESSIONS_PER_USER: '2', LOGIN_RATE_LIMIT_MAX: '100' })
  const [oldest, middle, newest] = await sessionsOf(app, 'capped', 3)
  t.equal(await dashboard(app, oldest!), 401, 'the oldest was ended')
  t.equal(await dashboard(app, middle!), 200)
  t.equal(await dashboard(app, newest!), 200)
  t.equal((await list(app, newest!)).json().sessions.length, 2)
})

t.test('MAX_SESSIONS_PER_USER=0 sets no limit', async (t) => {
  const app = await build(t, { MAX_SESSIONS_PER_USER: '0', LOGIN_RATE_LIMIT_MAX: '100' })
  const cookies = await sessionsOf(app, 'unlimited', 12)
  for (const cookie of cookies) t.equal(await dashboard(app, cookie), 200)
})

t.test('/auth/sessions needs a session', async (t) => {
  const app = await build(t)
  t.equal((await app.inject({ url: '/auth/sessions' })).json().code, 'UNAUTHENTICATED')
  t.equal((await app.inject({ method: 'DELETE', url: '/auth/sessions' })).json().code, 'UNAUTHENTICATED')
  const cookie = await loggedIn(app, 'checker')
  t.equal((await list(app, cookie)).statusCode, 200)
})

t.test('upgrading: a session stored whole (one JSON string) by an earlier version still works and becomes a hash', async (t) => {
  const prefix = uniquePrefix()
  const app = await build(t, { REDIS_PREFIX: prefix })
  const cookie = await loggedIn(app, 'upgrader')
  const redis = (await testRedis()).client(t)
  const key = sessionKey(prefix, cookie)
  const attributes = decodeFields(await redis.hgetall(key))
  await redis.del(key)
  await redis.set(key, JSON.stringify({ ...attributes, views: 4 }), 'PX', 600_000)
  t.equal((await app.inject({ url: '/auth/me', headers: { cookie } })).json().user.username, 'upgrader', 'still logged in')
  t.equal(await redis.type(key), 'hash', 'converted on its first read')
  t.ok((await redis.pttl(key)) > 590_000, 'keeping its TTL')
  t.same((await app.inject({ method: 'POST', url: '/api/count', headers: { cookie } })).json(), { views: 5 }, 'and its data')
})

t.test('upgrading from 0.2: a session without its stored expiry, its values whole, reads as before; its first slide stores it', async (t) => {
  const prefix = uniquePrefix()
  const app = await build(t, { REDIS_PREFIX: prefix, SESSION_IDLE_TTL: '600', SESSION_TOUCH_INTERVAL: '1' })
  const cookie = await loggedIn(app, 'olderlayout')
  const redis = (await testRedis()).client(t)
  const key = sessionKey(prefix, cookie)
  const { user, createdAt } = decodeFields(await redis.hgetall(key))
  await redis.del(key)
  // As 0.2 wrote it: one JSON value per attribute, whatever its length, and the expiry only as the TTL.
  await redis.hset(key, { user: JSON.stringify(user), createdAt: String(createdAt), ip: '"127.0.0.1"', userAgent: JSON.stringify('x'.repeat(120)), remember: 'false' })
  await redis.pexpire(key, 300_000)
  const [listed] = (await app.inject({ url: '/auth/sessions', headers: { cookie } })).json().sessions
  t.equal(listed.userAgent, 'x'.repeat(120), 'listed with its User-Agent')
  // Its TTL (5 minutes left of 10) makes a slide due: the read learnt it from the TTL.
  const me = (await app.inject({ url: '/auth/me', headers: { cookie } })).json()
  t.equal(me.user.username, 'olderlayout', 'still logged in')
  t.ok(Math.abs(Date.parse(me.session.expiresAt) - Date.now() - 600_000) < 5000, 'its idle period slid')
  t.ok(Math.abs(Number(await redis.hget(key, '@e')) - Date.parse(me.session.expiresAt)) < 1000, 'and stored beside it')
})
