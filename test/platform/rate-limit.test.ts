import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { build, commandsDuring, loggedIn, postLogin, postRegister, sessionIdOf, testRedis, uniquePrefix } from '../support/helper.js'
import { redisKeys } from '../../src/lib/keys.js'

// These tests fail logins on purpose: the per-account lock is set out of reach so that only the IP limit is seen.
const NO_ACCOUNT_LOCK = { ACCOUNT_LOCK_THRESHOLD: '1000' }

t.test('the 11th login attempt from one IP within the window answers 429 RATE_LIMITED', async (t) => {
  const app = await build(t, NO_ACCOUNT_LOCK)
  await postRegister(app, 'ann')
  for (let attempt = 1; attempt <= 10; attempt++) {
    const response = await postLogin(app, 'ann', 'wrong password')
    t.equal(response.statusCode, 401, `attempt ${attempt}`)
  }
  const limited = await postLogin(app, 'ann')
  t.equal(limited.statusCode, 429)
  t.equal(limited.json().code, 'RATE_LIMITED')
  t.equal(limited.json().statusCode, 429)
  t.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After')
  t.equal(limited.headers['ratelimit-limit'], '10')
  t.equal(limited.headers['ratelimit-remaining'], '0')
  t.ok(Number(limited.headers['ratelimit-reset']) > 0)
})

t.test('two instances on one Redis share the login limit', async (t) => {
  const env = { ...NO_ACCOUNT_LOCK, REDIS_PREFIX: uniquePrefix() }
  const one = await build(t, env)
  const two = await build(t, env)
  for (let attempt = 0; attempt < 10; attempt++) await postLogin(attempt % 2 ? one : two, 'nobody', 'wrong password')
  t.equal((await postLogin(one, 'nobody', 'wrong password')).statusCode, 429)
  t.equal((await postLogin(two, 'nobody', 'wrong password')).statusCode, 429)
})

t.test('without TRUST_PROXY, X-Forwarded-For does not dodge the limit', async (t) => {
  const app = await build(t, { LOGIN_RATE_LIMIT_MAX: '2' })
  for (let attempt = 0; attempt < 2; attempt++) await postLogin(app, 'nobody', 'wrong password', { 'x-forwarded-for': `10.0.0.${attempt}` })
  const response = await postLogin(app, 'nobody', 'wrong password', { 'x-forwarded-for': '10.0.0.99' })
  t.equal(response.statusCode, 429)
})

t.test('with TRUST_PROXY, each forwarded client has its own limit', async (t) => {
  const app = await build(t, { LOGIN_RATE_LIMIT_MAX: '2', TRUST_PROXY: '1' })
  for (let attempt = 0; attempt < 2; attempt++) await postLogin(app, 'nobody', 'wrong password', { 'x-forwarded-for': '10.0.0.1' })
  t.equal((await postLogin(app, 'nobody', 'wrong password', { 'x-forwarded-for': '10.0.0.1' })).statusCode, 429)
  t.equal((await postLogin(app, 'nobody', 'wrong password', { 'x-forwarded-for': '10.0.0.2' })).statusCode, 401)
})

t.test('the global limit applies to every route but the health checks', async (t) => {
  const app = await build(t, { RATE_LIMIT_MAX: '3' })
  for (let i = 0; i < 3; i++) t.equal((await app.inject({ url: '/api/dashboard' })).statusCode, 401)
  const limited = await app.inject({ url: '/api/dashboard' })
  t.equal(limited.statusCode, 429)
  t.equal(limited.json().code, 'RATE_LIMITED')
  t.equal(limited.headers['ratelimit-limit'], '3')
  for (const url of ['/health/live', '/health/ready']) t.equal((await app.inject({ url })).statusCode, 200, url)
})

t.test('rate-limit counters live in Redis under REDIS_PREFIX', async (t) => {
  const prefix = uniquePrefix()
  const app = await build(t, { REDIS_PREFIX: prefix })
  await postLogin(app, 'nobody', 'wrong password')
  await app.inject({ url: '/api/dashboard' })
  // The global count reaches Redis at the next sync (every 100 ms; later on a busy machine).
  const redis = (await testRedis()).client(t)
  let keys: string[] = []
  for (let attempt = 0; attempt < 30 && keys.length < 2; attempt++) {
    await sleep(100)
    keys = await redis.keys(`${redisKeys(prefix).rateLimitPrefix}*`)
  }
  t.ok(keys.length >= 2, `global and login counters: ${keys.join(', ')}`)
})

t.test('a synced counter expires with its window; after its first flush, a flush is one INCRBY', async (t) => {
  const prefix = uniquePrefix()
  const app = await build(t, { REDIS_PREFIX: prefix, RATE_LIMIT_SYNC_MS: '50' })
  const server = await testRedis()
  // The two flushes must fall in one window (RATE_LIMIT_WINDOW, 60 s from the epoch): a new window's first flush
  // sets its expiry again, which is right but not what this test looks at.
  const windowMs = 60_000
  const leftInWindow = windowMs - (Date.now() % windowMs)
  if (leftInWindow < 5000) await sleep(leftInWindow + 50)
  const flushOf = async () => {
    const commands = await commandsDuring(server, async () => {
      await app.inject({ url: '/api/dashboard' })
      await sleep(200)
    })
    return commands.filter(([, key]) => key?.startsWith(redisKeys(prefix).rateLimitPrefix)).map(([command]) => command).sort()
  }
  t.same(await flushOf(), ['incrby', 'pexpireat'], 'the first flush of the window sets its expiry')
  const keys = await server.client(t).keys(`${redisKeys(prefix).rateLimitPrefix}*`)
  const ttls = await Promise.all(keys.map((key) => server.client(t).pttl(key)))
  t.ok(keys.length === 1 && ttls[0]! > 0, `which ends with the window (${keys}: ${ttls} ms)`)
  t.same(await flushOf(), ['incrby'], 'later flushes only add')
})

t.test('with RATE_LIMIT_SYNC_MS=0 the global limit is exact across instances', async (t) => {
  const env = { REDIS_PREFIX: uniquePrefix(), RATE_LIMIT_MAX: '3', RATE_LIMIT_SYNC_MS: '0' }
  const one = await build(t, env)
  const two = await build(t, env)
  for (const app of [one, two, one]) t.equal((await app.inject({ url: '/api/dashboard' })).statusCode, 401)
  t.equal((await two.inject({ url: '/api/dashboard' })).statusCode, 429)
})

t.test('with a sync interval, instances learn of each other within one interval', async (t) => {
  const env = { REDIS_PREFIX: uniquePrefix(), RATE_LIMIT_MAX: '10', RATE_LIMIT_SYNC_MS: '50' }
  const one = await build(t, env)
  const two = await build(t, env)
  const get = (app: typeof one) => app.inject({ url: '/api/dashboard' }).then((r) => r.statusCode)
  for (let i = 0; i < 6; i++) t.equal(await get(one), 401)
  await sleep(150)
  for (let i = 0; i < 4; i++) t.equal(await get(two), 401, 'the tenth request is still within the limit')
  await sleep(150)
  t.equal(await get(two), 429, 'the second instance has synced the first one’s six requests')
  await get(one) // may pass: the first instance learns of the other's four at its next sync
  await sleep(150)
  t.equal(await get(one), 429, 'after one interval both instances refuse')
  const counted = await (await testRedis()).client(t).keys(`${redisKeys(env.REDIS_PREFIX).rateLimitPrefix}*`)
  t.equal(counted.length, 1, 'one shared counter in Redis')
})

t.test('each session and access token has its own limit too: one credential cannot spend the address budget', async (t) => {
  const env = { REDIS_PREFIX: uniquePrefix(), CREDENTIAL_RATE_LIMIT_MAX: '3', RATE_LIMIT_MAX: '100' }
  const app = await build(t, env)
  const greedy = await loggedIn(app, 'greedy')
  const neighbour = await loggedIn(app, 'neighbour')
  const dashboard = (headers: Record<string, string>) => app.inject({ url: '/api/dashboard', headers })
  for (let i = 0; i < 3; i++) t.equal((await dashboard({ cookie: greedy })).statusCode, 200)
  const limited = await dashboard({ cookie: greedy })
  t.equal(limited.statusCode, 429)
  t.equal(limited.json().code, 'RATE_LIMITED')
  t.equal(limited.headers['ratelimit-limit'], '3')
  t.equal(limited.headers['ratelimit-remaining'], '0')
  t.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After')
  t.equal((await dashboard({ cookie: neighbour })).statusCode, 200, 'another session from the same address still passes')

  const token = (await app.inject({ method: 'POST', url: '/auth/tokens', headers: { 'cookie': neighbour, 'content-type': 'application/json' }, payload: '{"name":"bot","scopes":["read"]}' })).json().token
  for (let i = 0; i < 2; i++) t.equal((await dashboard({ authorization: `Bearer ${token}` })).statusCode, 200)
  t.equal((await dashboard({ authorization: `Bearer ${token}` })).statusCode, 200, 'a token counts apart from its maker')
  t.equal((await dashboard({ authorization: `Bearer ${token}` })).statusCode, 429, 'and has the same limit')
  await sleep(300)
  const counters = await (await testRedis()).client(t).keys(`${redisKeys(env.REDIS_PREFIX).credentialRateLimitPrefix}*`)
  t.ok(counters.length >= 3 && counters.every((key) => !key.includes(sessionIdOf(greedy))), 'counted in Redis by hash, never by the session ID')
})
