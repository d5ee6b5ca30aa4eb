import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { build, commandsDuring, expectSessionExpired, json, loggedIn, loginRemembered, PASSWORD, postLogin, postRegister, sessionCookie, sessionIdOf, sessionKey, testRedis, uniquePrefix, type App } from '../support/helper.js'
import { handleOf, redisKeys } from '../../src/lib/keys.js'

const dashboard = (app: App, cookie: string) => app.inject({ url: '/api/dashboard', headers: { cookie } })
const me = (app: App, cookie: string) => app.inject({ url: '/auth/me', headers: { cookie } })
const REDIS_WRITES = new Set(['set', 'setex', 'hset', 'hdel', 'hincrby', 'pexpire', 'expire', 'pexpireat', 'zadd', 'del', 'unlink'])

/** Reads until `ms` have passed, one every `everyMs`; returns the status codes. */
async function keepReading(app: App, cookie: string, ms: number, everyMs: number): Promise<number[]> {
  const statuses: number[] = []
  for (const end = Date.now() + ms; Date.now() < end; await sleep(everyMs)) statuses.push((await dashboard(app, cookie)).statusCode)
  return statuses
}

t.test('idle timeout: use slides the expiry, and a session left alone for SESSION_IDLE_TTL ends', async (t) => {
  const app = await build(t, { SESSION_IDLE_TTL: '2', SESSION_TOUCH_INTERVAL: '1' })
  const cookie = await loggedIn(app, 'idle')
  const statuses = await keepReading(app, cookie, 3500, 400)
  t.ok(statuses.every((status) => status === 200), 'alive after 3.5 s of use, well past one idle period')
  await sleep(2100)
  expectSessionExpired(t, await dashboard(app, cookie))
})

t.test('absolute timeout: a session in constant use still ends SESSION_ABSOLUTE_TTL after login', async (t) => {
  const prefix = uniquePrefix()
  const app = await build(t, { REDIS_PREFIX: prefix, SESSION_IDLE_TTL: '2', SESSION_TOUCH_INTERVAL: '1', SESSION_ABSOLUTE_TTL: '3' })
  const cookie = await loggedIn(app, 'absolute')
  const statuses = await keepReading(app, cookie, 2600, 300)
  t.ok(statuses.every((status) => status === 200), 'alive while used within the absolute limit')
  const ttl = await (await testRedis()).client(t).pttl(sessionKey(prefix, cookie))
  t.ok(ttl > 0 && ttl <= 500, `the Redis TTL never reaches past creation + absolute (${ttl} ms left)`)
  await sleep(600)
  expectSessionExpired(t, await dashboard(app, cookie))
})

t.test('absolute timeout is also checked against the stored login time, not only the Redis TTL', async (t) => {
  const prefix = uniquePrefix()
  const before = await build(t, { REDIS_PREFIX: prefix })
  const cookie = await loggedIn(before, 'lowered')
  await sleep(1100)
  // The operator lowers the limit: sessions older than the new one end at once, whatever their TTL says.
  const after = await build(t, { REDIS_PREFIX: prefix, SESSION_ABSOLUTE_TTL: '1' })
  expectSessionExpired(t, await dashboard(after, cookie))
  t.equal(await (await testRedis()).client(t).exists(sessionKey(prefix, cookie)), 0, 'and it is deleted from Redis')
  const metrics = (await after.inject({ url: '/metrics' })).body
  t.match(metrics, /\nsessions_expired_total\{reason="absolute"\} 1\n/, 'counted as ended by the absolute limit')
})

t.test('sliding costs no write within a touch interval: 100 reads, no write', async (t) => {
  const prefix = uniquePrefix()
  const app = await build(t, { REDIS_PREFIX: prefix, SESSION_TOUCH_INTERVAL: '60' })
  const cookie = await loggedIn(app, 'reader')
  const commands = await commandsDuring(await testRedis(), async () => {
    for (let i = 0; i < 100; i++) t.equal((await dashboard(app, cookie)).statusCode, 200)
  })
  const key = sessionKey(prefix, cookie)
  const onSession = commands.filter((args) => args.includes(key))
  t.same([...new Set(onSession.map(([command]) => command))], ['hgetall'], '100 reads of the session: one HGETALL each, nothing else (no PTTL)')
  t.equal(onSession.length, 100)
  t.same(commands.filter(([command]) => command === 'evalsha' || command === 'eval'), [], 'and no script, which costs Redis far more CPU')
  t.same(onSession.filter(([command]) => REDIS_WRITES.has(command!)), [], 'no write to it')
  t.same(commands.filter(([command, k]) => command === 'zadd' && k?.startsWith(redisKeys(prefix).userSessions(''))), [], 'nor to the index')
})

t.test('once a touch interval has passed, 100 reads make one expiry refresh and one last-seen update', async (t) => {
  const prefix = uniquePrefix()
  const app = await build(t, { REDIS_PREFIX: prefix, SESSION_IDLE_TTL: '30', SESSION_TOUCH_INTERVAL: '1' })
  const cookie = await loggedIn(app, 'toucher')
  const loggedInAt = Date.now()
  await sleep(1100)
  const commands = await commandsDuring(await testRedis(), async () => {
    for (let i = 0; i < 100; i++) t.equal((await dashboard(app, cookie)).statusCode, 200)
  })
  const key = sessionKey(prefix, cookie)
  const writes = commands.filter(([command]) => REDIS_WRITES.has(command!))
  const sessionWrites = writes.filter((args) => args.includes(key))
  t.same(sessionWrites.map(([command]) => command), ['pexpire', 'hset'], 'one expiry refresh, not a rewrite')
  t.ok(Number(sessionWrites[0]![2]) > 29_000, 'to a full idle period from now')
  t.same(sessionWrites[1]!.slice(1, 3), [key, '@e'], 'stored beside it (one field), for the reads to know it without a PTTL')
  const indexWrites = writes.filter(([, k]) => k?.startsWith(redisKeys(prefix).userSessions('')))
  t.same(indexWrites.map(([command, , flag]) => [command, flag]), [['zadd', 'XX']], 'one last-seen update')

  const [listed] = (await app.inject({ url: '/auth/sessions', headers: { cookie } })).json().sessions
  const lastSeen = Date.parse(listed.lastSeenAt)
  t.ok(lastSeen >= loggedInAt + 1000, 'GET /auth/sessions shows the new last-seen time')
  t.ok(lastSeen > Date.parse(listed.createdAt))
})

t.test('without "remember me" the cookie ends with the browser, while the server-side idle timeout applies', async (t) => {
  const prefix = uniquePrefix()
  const app = await build(t, { REDIS_PREFIX: prefix, SESSION_IDLE_TTL: '600' })
  await postRegister(app, 'forgetful')
  const response = await postLogin(app, 'forgetful')
  const cookie = response.cookies.find((c) => c.name === 'sid')
  t.notOk(cookie?.expires, 'no Expires')
  t.notOk(cookie?.maxAge, 'no Max-Age')
  const ttl = await (await testRedis()).client(t).ttl(sessionKey(prefix, sessionCookie(response)))
  t.ok(ttl > 590 && ttl <= 600, `Redis TTL is SESSION_IDLE_TTL (${ttl})`)
})

t.test('"remember me": REMEMBER_IDLE_TTL and a persistent cookie, capped by REMEMBER_ABSOLUTE_TTL', async (t) => {
  const prefix = uniquePrefix()
  const app = await build(t, { REDIS_PREFIX: prefix, REMEMBER_IDLE_TTL: '86400', REMEMBER_ABSOLUTE_TTL: '172800' })
  await postRegister(app, 'remembered')
  const response = await loginRemembered(app, 'remembered')
  t.equal(response.statusCode, 200)
  const cookie = response.cookies.find((c) => c.name === 'sid')!
  t.ok(Math.abs(cookie.maxAge! - 86400) <= 1, `Max-Age is REMEMBER_IDLE_TTL (${cookie.maxAge})`)
  t.ok(Math.abs(cookie.expires!.getTime() - Date.now() - 86_400_000) < 2000, 'Expires matches')
  const header = sessionCookie(response)
  const ttl = await (await testRedis()).client(t).ttl(sessionKey(prefix, header))
  t.ok(ttl > 86_390 && ttl <= 86_400, `Redis TTL is REMEMBER_IDLE_TTL (${ttl})`)
  const { session } = (await me(app, header)).json()
  t.equal(session.remember, true)
  t.ok(Math.abs(Date.parse(session.expiresAt) - Date.now() - 86_400_000) < 2000, 'GET /auth/me reports the same expiry')

  const capped = await build(t, { REDIS_PREFIX: prefix, REMEMBER_IDLE_TTL: '86400', REMEMBER_ABSOLUTE_TTL: '3600' })
  const cappedCookie = (await loginRemembered(capped, 'remembered')).cookies.find((c) => c.name === 'sid')
  t.ok(Math.abs(cappedCookie!.maxAge! - 3600) <= 1, 'never past the absolute limit')
})

t.test('a remembered session\'s cookie is re-issued with the slid expiry; other cookies are left alone', async (t) => {
  const app = await build(t, { REMEMBER_IDLE_TTL: '20', SESSION_IDLE_TTL: '20', SESSION_TOUCH_INTERVAL: '1' })
  const browserOnly = await loggedIn(app, 'transient')
  await postRegister(app, 'persistent')
  const remembered = sessionCookie(await loginRemembered(app, 'persistent'))
  t.notOk((await dashboard(app, remembered)).headers['set-cookie'], 'no cookie on a read within the touch interval')
  await sleep(1100)
  const slid = (await dashboard(app, remembered)).cookies.find((c) => c.name === 'sid')
  t.equal(slid?.value, decodeURIComponent(remembered.slice('sid='.length)), 'the same session')
  t.ok(slid?.expires && slid.expires.getTime() > Date.now() + 19_000, 'expiring a full idle period from now')
  t.notOk((await dashboard(app, browserOnly)).headers['set-cookie'], 'a browser-session cookie is not re-sent')
})

t.test('MAX_SESSIONS_PER_USER ends the least recently seen session, not the oldest', async (t) => {
  const app = await build(t, { MAX_SESSIONS_PER_USER: '2', SESSION_TOUCH_INTERVAL: '1' })
  const oldest = await loggedIn(app, 'juggler')
  const middle = sessionCookie(await postLogin(app, 'juggler'))
  await sleep(1100)
  t.equal((await dashboard(app, oldest)).statusCode, 200, 'the oldest session is used again')
  const newest = sessionCookie(await postLogin(app, 'juggler'))
  t.equal((await dashboard(app, middle)).json().code, 'SESSION_EXPIRED', 'the least recently seen one ended')
  t.equal((await dashboard(app, oldest)).statusCode, 200)
  t.equal((await dashboard(app, newest)).statusCode, 200)
})

t.test('a password change keeps "remember me" on the re-issued session', async (t) => {
  const app = await build(t, { REMEMBER_IDLE_TTL: '86400' })
  await postRegister(app, 'changer')
  const cookie = sessionCookie(await loginRemembered(app, 'changer'))
  const changed = await app.inject({
    method: 'PUT',
    url: '/auth/password',
    headers: { cookie, 'content-type': 'application/json' },
    payload: JSON.stringify({ currentPassword: PASSWORD, newPassword: 'a brand new password' }),
  })
  t.equal(changed.statusCode, 204)
  const reissued = changed.cookies.find((c) => c.name === 'sid')!
  t.ok(Math.abs(reissued.maxAge! - 86400) <= 1, 'still a persistent cookie')
  t.equal((await me(app, `sid=${reissued.value}`)).json().session.remember, true)
})

t.test('"remember" must be a boolean', async (t) => {
  const app = await build(t)
  await postRegister(app, 'strict')
  const response = await app.inject({
    method: 'POST',
    url: '/auth/login',
    ...json({ username: 'strict', password: PASSWORD, remember: 'yes' }),
  })
  t.equal(response.statusCode, 400)
  t.equal(response.json().code, 'VALIDATION')
})

t.test('the session list shows which sessions are remembered', async (t) => {
  const app = await build(t)
  await postRegister(app, 'lister')
  const remembered = sessionCookie(await loginRemembered(app, 'lister'))
  await postLogin(app, 'lister')
  const { sessions } = (await app.inject({ url: '/auth/sessions', headers: { cookie: remembered } })).json()
  const current = sessions.find((s: { current: boolean }) => s.current)
  t.equal(current.remember, true)
  t.equal(current.id, handleOf(sessionIdOf(remembered)))
  t.equal(sessions.filter((s: { remember: boolean }) => !s.remember).length, 1)
})
