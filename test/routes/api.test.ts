import t from 'tap'
import { build, loggedIn, sessionIdOf, testRedis, uniquePrefix } from '../support/helper.js'

t.test('GET /api/dashboard welcomes the logged-in user', async (t) => {
  const app = await build(t)
  const cookie = await loggedIn(app, 'ada')
  const response = await app.inject({ url: '/api/dashboard', headers: { cookie } })
  t.equal(response.statusCode, 200)
  t.same(response.json(), { message: 'Welcome ada' })
})

t.test('POST /api/count keeps a counter in the session, starting at 1', async (t) => {
  const app = await build(t)
  const cookie = await loggedIn(app, 'bea')
  const other = await loggedIn(app, 'cid')
  const count = (c: string) => app.inject({ method: 'POST', url: '/api/count', headers: { cookie: c } })
  t.same((await count(cookie)).json(), { views: 1 })
  t.same((await count(cookie)).json(), { views: 2 })
  t.same((await count(other)).json(), { views: 1 }, 'each session has its own counter')
  t.same((await count(cookie)).json(), { views: 3 })
})

t.test('every /api route answers 401 without a session', async (t) => {
  const app = await build(t)
  for (const [method, url] of [['GET', '/api/dashboard'], ['POST', '/api/count']] as const) {
    const response = await app.inject({ method, url })
    t.equal(response.statusCode, 401, `${method} ${url}`)
    t.same(response.json(), {
      statusCode: 401,
      error: 'Unauthorized',
      message: 'Log in to use this route',
      code: 'UNAUTHENTICATED',
    })
  }
})

t.test('an unchanged session is not written back on a read', async (t) => {
  const app = await build(t)
  const cookie = await loggedIn(app, 'dora')
  const redis = (await testRedis()).client(t)
  const writes = async () => {
    const stats = await redis.info('commandstats')
    return [...stats.matchAll(/cmdstat_(set|setex|expire|pexpire|hset|del):calls=(\d+)/g)]
      .filter(([, command]) => command !== 'pexpire') // the global rate limit counter sets its window
      .reduce((sum, [, , calls]) => sum + Number(calls), 0)
  }
  const before = await writes()
  for (let i = 0; i < 20; i++) await app.inject({ url: '/api/dashboard', headers: { cookie } })
  t.equal(await writes(), before, 'no SET, EXPIRE or DEL for 20 reads')
})

t.test('a session survives an app restart: a new app on the same Redis accepts the cookie', async (t) => {
  const env = { REDIS_PREFIX: uniquePrefix() }
  const first = await build(t, env)
  const cookie = await loggedIn(first, 'eve')
  await first.close()
  const second = await build(t, env)
  const response = await second.inject({ url: '/api/dashboard', headers: { cookie } })
  t.equal(response.statusCode, 200)
  t.same(response.json(), { message: 'Welcome eve' })
})

t.test('two instances on one Redis share sessions, in both directions', async (t) => {
  const env = { REDIS_PREFIX: uniquePrefix() }
  const one = await build(t, env)
  const two = await build(t, env)
  const cookie = await loggedIn(one, 'finn')
  t.same((await two.inject({ method: 'POST', url: '/api/count', headers: { cookie } })).json(), { views: 1 })
  t.same((await one.inject({ method: 'POST', url: '/api/count', headers: { cookie } })).json(), { views: 2 })
  await two.inject({ method: 'POST', url: '/auth/logout', headers: { cookie } })
  t.equal((await one.inject({ url: '/api/dashboard', headers: { cookie } })).statusCode, 401, 'logout is seen by both')
})

t.test('a cookie signed with another secret is refused', async (t) => {
  const env = { REDIS_PREFIX: uniquePrefix() }
  const one = await build(t, env)
  const cookie = await loggedIn(one, 'gus')
  const other = await build(t, { ...env, SESSION_SECRET: 'a-completely-different-secret-of-32-chars!' })
  const response = await other.inject({ url: '/api/dashboard', headers: { cookie } })
  t.equal(response.json().code, 'UNAUTHENTICATED')
})

t.test('SESSION_SECRET rotation: the first value signs, every value verifies', async (t) => {
  const oldSecret = 'the-old-secret-that-signed-yesterdays-cookies'
  const newSecret = 'the-new-secret-that-signs-todays-cookies-now'
  const env = { REDIS_PREFIX: uniquePrefix() }
  const before = await build(t, { ...env, SESSION_SECRET: oldSecret })
  const cookie = await loggedIn(before, 'hal')
  const after = await build(t, { ...env, SESSION_SECRET: `${newSecret},${oldSecret}` })
  const response = await after.inject({ url: '/api/dashboard', headers: { cookie } })
  t.equal(response.statusCode, 200)
  const reissued = response.cookies.find((c) => c.name === 'sid')
  t.ok(reissued?.value, 'the cookie is re-issued, not cleared')
  t.equal(reissued?.value.slice(0, reissued.value.lastIndexOf('.')), sessionIdOf(cookie), 'same session')
  t.notOk(reissued?.expires, 'still a browser-session cookie')
  const renewed = `sid=${reissued?.value}`
  const onlyNew = await build(t, { ...env, SESSION_SECRET: newSecret })
  t.equal((await onlyNew.inject({ url: '/api/dashboard', headers: { cookie: renewed } })).statusCode, 200, 'signed with the new secret')
  const again = await after.inject({ url: '/api/dashboard', headers: { cookie: renewed } })
  t.notOk(again.headers['set-cookie'], 'a current cookie is not re-issued')
})
