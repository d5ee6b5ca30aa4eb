import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { READY_CHECK_TTL_MS } from '../../src/platform/health.js'
import { build, commandsDuring, json, loggedIn, ownRedis, PASSWORD, type App } from '../support/helper.js'

const storeRequests = (cookie: string) =>
  [
    { method: 'GET', url: '/api/dashboard', headers: { cookie } },
    { method: 'POST', url: '/api/count', headers: { cookie } },
    { method: 'GET', url: '/auth/me', headers: { cookie } },
    { method: 'POST', url: '/auth/login', ...json({ username: 'someone', password: PASSWORD }) },
    { method: 'POST', url: '/auth/register', ...json({ username: 'someone', password: PASSWORD }) },
    { method: 'GET', url: '/health/ready' },
  ] as const

async function expectStoreUnavailableFast(t: Test, app: App, cookie: string) {
  for (const request of storeRequests(cookie)) {
    const started = performance.now()
    const response = await app.inject(request)
    const elapsed = performance.now() - started
    t.equal(response.statusCode, 503, `${request.method} ${request.url}`)
    t.equal(response.json().code, 'STORE_UNAVAILABLE')
    t.ok(Number(response.headers['retry-after']) > 0, 'Retry-After')
    t.ok(elapsed < 1000, `answered in ${elapsed.toFixed(0)} ms`)
  }
}

t.test('with Redis stopped, store routes answer 503 within a second and the process stays up', async (t) => {
  const redis = await ownRedis(t)
  const app = await build(t, {}, redis)
  const cookie = await loggedIn(app, 'olive')
  await redis.halt()
  await expectStoreUnavailableFast(t, app, cookie)
  t.equal((await app.inject({ url: '/health/live' })).statusCode, 200, 'liveness is not readiness')
})

t.test('service resumes by itself within five seconds of Redis coming back', async (t) => {
  const redis = await ownRedis(t)
  const app = await build(t, {}, redis)
  await redis.halt()
  await sleep(1500) // long enough for the client to back off to its longest reconnect delay
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 503)
  await redis.resume()
  const started = performance.now()
  let status = 0
  while (performance.now() - started < 5000) {
    status = (await app.inject({ url: '/health/ready' })).statusCode
    if (status === 200) break
    await sleep(50)
  }
  t.equal(status, 200, `ready again after ${(performance.now() - started).toFixed(0)} ms`)
  const cookie = await loggedIn(app, 'pablo')
  t.equal((await app.inject({ url: '/api/dashboard', headers: { cookie } })).statusCode, 200, 'logins work again')
})

t.test('a hung Redis (frozen process) answers 503 within a second instead of hanging', async (t) => {
  const redis = await ownRedis(t)
  const app = await build(t, {}, redis)
  const cookie = await loggedIn(app, 'quentin')
  redis.freeze()
  t.teardown(() => redis.thaw())
  await expectStoreUnavailableFast(t, app, cookie)
})

t.test('readiness costs Redis at most one PING a second, however often it is asked', async (t) => {
  const redis = await ownRedis(t)
  const app = await build(t, {}, redis)
  const started = performance.now()
  let elapsed = 0
  const commands = await commandsDuring(redis, async () => {
    for (let burst = 0; burst < 5; burst++) {
      const answers = await Promise.all(Array.from({ length: 50 }, () => app.inject({ url: '/health/ready' })))
      t.same([...new Set(answers.map((answer) => answer.statusCode))], [200], `burst ${burst}: 50 × 200`)
    }
    elapsed = performance.now() - started
  })
  const pings = commands.filter(([command]) => command === 'ping').length
  t.ok(pings >= 1 && pings <= Math.ceil(elapsed / READY_CHECK_TTL_MS), `250 answers in ${elapsed.toFixed(0)} ms: ${pings} PING`)
  await sleep(READY_CHECK_TTL_MS)
  const later = await commandsDuring(redis, () => app.inject({ url: '/health/ready' }))
  t.equal(later.filter(([command]) => command === 'ping').length, 1, 'a second later, Redis is asked again')
})
