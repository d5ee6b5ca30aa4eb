import t from 'tap'
import { build, login, register, testRedis, uniquePrefix } from './helper.js'

t.test('the 11th login attempt from one IP within the window answers 429 RATE_LIMITED', async (t) => {
  const app = await build(t)
  await register(app, 'ann')
  for (let attempt = 1; attempt <= 10; attempt++) {
    const response = await login(app, 'ann', 'wrong password')
    t.equal(response.statusCode, 401, `attempt ${attempt}`)
  }
  const limited = await login(app, 'ann')
  t.equal(limited.statusCode, 429)
  t.equal(limited.json().code, 'RATE_LIMITED')
  t.equal(limited.json().statusCode, 429)
  t.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After')
  t.equal(limited.headers['ratelimit-limit'], '10')
  t.equal(limited.headers['ratelimit-remaining'], '0')
  t.ok(Number(limited.headers['ratelimit-reset']) > 0)
})

t.test('two instances on one Redis share the login limit', async (t) => {
  const env = { REDIS_PREFIX: uniquePrefix() }
  const one = await build(t, env)
  const two = await build(t, env)
  for (let attempt = 0; attempt < 10; attempt++) await login(attempt % 2 ? one : two, 'nobody', 'wrong password')
  t.equal((await login(one, 'nobody', 'wrong password')).statusCode, 429)
  t.equal((await login(two, 'nobody', 'wrong password')).statusCode, 429)
})

t.test('without TRUST_PROXY, X-Forwarded-For does not dodge the limit', async (t) => {
  const app = await build(t, { LOGIN_RATE_LIMIT_MAX: '2' })
  for (let attempt = 0; attempt < 2; attempt++) await login(app, 'nobody', 'wrong password', { 'x-forwarded-for': `10.0.0.${attempt}` })
  const response = await login(app, 'nobody', 'wrong password', { 'x-forwarded-for': '10.0.0.99' })
  t.equal(response.statusCode, 429)
})

t.test('with TRUST_PROXY, each forwarded client has its own limit', async (t) => {
  const app = await build(t, { LOGIN_RATE_LIMIT_MAX: '2', TRUST_PROXY: '1' })
  for (let attempt = 0; attempt < 2; attempt++) await login(app, 'nobody', 'wrong password', { 'x-forwarded-for': '10.0.0.1' })
  t.equal((await login(app, 'nobody', 'wrong password', { 'x-forwarded-for': '10.0.0.1' })).statusCode, 429)
  t.equal((await login(app, 'nobody', 'wrong password', { 'x-forwarded-for': '10.0.0.2' })).statusCode, 401)
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
  await login(app, 'nobody', 'wrong password')
  await app.inject({ url: '/api/dashboard' })
  const keys = await (await testRedis()).client(t).keys(`${prefix}rl:*`)
  t.ok(keys.length >= 2, `global and login counters: ${keys.join(', ')}`)
})
