import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { build, loggedIn, ownRedis, testRedis, uniquePrefix, type App } from './helper.js'
import type { Redis } from 'ioredis'

const CACHE = { SESSION_CACHE_SIZE: '1000' }

async function sessionGets(redis: Redis): Promise<number> {
  const stats = await redis.info('commandstats')
  return Number(stats.match(/cmdstat_hgetall:calls=(\d+)/)?.[1] ?? 0)
}

const dashboard = (app: App, cookie: string) => app.inject({ url: '/api/dashboard', headers: { cookie } })

t.test('repeated reads of a session are served from the cache', async (t) => {
  const app = await build(t, CACHE)
  const cookie = await loggedIn(app, 'cached')
  const redis = (await testRedis()).client(t)
  const before = await sessionGets(redis)
  for (let i = 0; i < 50; i++) t.equal((await dashboard(app, cookie)).statusCode, 200)
  // The first read may cross the announcement of the login's own write, and is then not kept.
  t.ok((await sessionGets(redis)) - before <= 2, '50 reads, at most two HGETALLs')
})

t.test('SESSION_CACHE_SIZE=0 reads every session from Redis', async (t) => {
  const app = await build(t, { SESSION_CACHE_SIZE: '0' })
  const cookie = await loggedIn(app, 'uncached')
  const redis = (await testRedis()).client(t)
  const before = await sessionGets(redis)
  for (let i = 0; i < 10; i++) await dashboard(app, cookie)
  t.equal(await sessionGets(redis), before + 10)
})

t.test('a session logged out on one instance fails on another within 100 ms', async (t) => {
  const env = { ...CACHE, REDIS_PREFIX: uniquePrefix() }
  const one = await build(t, env)
  const two = await build(t, env)
  const cookie = await loggedIn(one, 'revoked')
  t.equal((await dashboard(two, cookie)).statusCode, 200, 'cached on the second instance')
  t.equal((await dashboard(two, cookie)).statusCode, 200)
  await one.inject({ method: 'POST', url: '/auth/logout', headers: { cookie } })
  const started = performance.now()
  let status = 200
  while (status === 200 && performance.now() - started < 100) {
    status = (await dashboard(two, cookie)).statusCode
    if (status === 200) await sleep(2)
  }
  t.equal(status, 401, `refused after ${(performance.now() - started).toFixed(1)} ms`)
})

t.test('a change on one instance is read by the other at once', async (t) => {
  const env = { ...CACHE, REDIS_PREFIX: uniquePrefix() }
  const one = await build(t, env)
  const two = await build(t, env)
  const cookie = await loggedIn(one, 'counter')
  const count = (app: App) => app.inject({ method: 'POST', url: '/api/count', headers: { cookie } }).then((r) => r.json().views)
  t.equal(await count(two), 1)
  t.equal(await count(one), 2)
  await sleep(20) // the announcement crosses a second connection
  t.equal(await count(two), 3)
  t.equal(await count(one), 4)
})

t.test('a session deleted straight from Redis is not served from the cache', async (t) => {
  const prefix = uniquePrefix()
  const app = await build(t, { ...CACHE, REDIS_PREFIX: prefix })
  const cookie = await loggedIn(app, 'deleted')
  await dashboard(app, cookie)
  const redis = (await testRedis()).client(t)
  await redis.del(...(await redis.keys(`${prefix}sess:*`)))
  await sleep(20)
  t.equal((await dashboard(app, cookie)).json().code, 'SESSION_EXPIRED')
})

t.test('an expired session is not served from the cache and leaves nothing behind', async (t) => {
  const prefix = uniquePrefix()
  const app = await build(t, { ...CACHE, REDIS_PREFIX: prefix, SESSION_IDLE_TTL: '2', SESSION_TOUCH_INTERVAL: '1' })
  const cookie = await loggedIn(app, 'expiring')
  t.equal((await dashboard(app, cookie)).statusCode, 200)
  await sleep(2100)
  t.equal((await dashboard(app, cookie)).json().code, 'SESSION_EXPIRED')
  t.same(await (await testRedis()).client(t).keys(`${prefix}sess:*`), [], 'no session was written back')
})

t.test('the cache is dropped when the connection to Redis is lost', async (t) => {
  const redis = await ownRedis(t)
  const app = await build(t, CACHE, redis)
  const cookie = await loggedIn(app, 'disconnected')
  t.equal((await dashboard(app, cookie)).statusCode, 200, 'cached')
  await redis.halt()
  await sleep(50)
  t.equal((await dashboard(app, cookie)).statusCode, 503, 'not answered from the cache while Redis is away')
  await redis.resume()
  let status = 503
  for (let i = 0; i < 100 && status === 503; i++) {
    await sleep(50)
    status = (await dashboard(app, cookie)).statusCode
  }
  t.equal(status, 401, 'after Redis came back empty, the session is gone everywhere')
})
