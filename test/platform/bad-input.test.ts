import fc from 'fast-check'
import type { InjectOptions } from 'fastify'
import t, { type Test } from 'tap'
import { build, json, loggedIn, PASSWORD, sessionKey, testRedis, uniquePrefix } from '../support/helper.js'
import { redisKeys } from '../../src/lib/keys.js'

const ERROR_SHAPE_KEYS = ['code', 'error', 'message', 'statusCode']

function assertErrorShape(t: Test, body: string, status: number) {
  const parsed = JSON.parse(body)
  t.same(Object.keys(parsed).sort(), ERROR_SHAPE_KEYS)
  t.equal(parsed.statusCode, status)
  t.type(parsed.code, 'string')
}

const register = (payload: string, contentType = 'application/json'): InjectOptions => ({
  method: 'POST',
  url: '/auth/register',
  headers: { 'content-type': contentType },
  payload,
})

t.test('bad input answers a 4xx with the error shape and writes nothing to Redis', async (t) => {
  const prefix = uniquePrefix()
  const app = await build(t, { REDIS_PREFIX: prefix, RATE_LIMIT_MAX: '10000', LOGIN_RATE_LIMIT_MAX: '10000' })
  const redis = (await testRedis()).client(t)
  const cookie = await loggedIn(app, 'victim')
  await redis.del(sessionKey(prefix, cookie))
  const dataKeys = async () => (await redis.keys(`${prefix}*`)).filter((key) => !key.startsWith(redisKeys(prefix).rateLimitPrefix)).sort()
  const keysBefore = await dataKeys()

  const cases: Array<[string, InjectOptions, number, string]> = [
    ['malformed JSON', register('{"username": "bad",'), 400, 'INVALID_JSON'],
    ['an empty JSON body', register(''), 400, 'INVALID_JSON'],
    ['a wrong content type', register('username=abc&password=12345678', 'application/x-www-form-urlencoded'), 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['text/plain', register('hello', 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['a body over 1 MiB', register(JSON.stringify({ username: 'big', password: 'x'.repeat(1024 * 1024) })), 413, 'PAYLOAD_TOO_LARGE'],
    ['a JSON array', register('[]'), 400, 'VALIDATION'],
    ['JSON null', register('null'), 400, 'VALIDATION'],
    ['a missing field', register('{"username":"someone"}'), 400, 'VALIDATION'],
    ['an extra field', register(JSON.stringify({ username: 'someone', password: PASSWORD, admin: true })), 400, 'VALIDATION'],
    ['a wrongly typed field', register(JSON.stringify({ username: ['someone'], password: PASSWORD })), 400, 'VALIDATION'],
    ['an over-long string', register(JSON.stringify({ username: 'u'.repeat(10_000), password: PASSWORD })), 400, 'VALIDATION'],
    ['a __proto__ key', register('{"username":"someone","password":"12345678","__proto__":{"roles":["admin"]}}'), 400, 'INVALID_JSON'],
    ['a constructor.prototype key', register('{"username":"someone","password":"12345678","constructor":{"prototype":{"x":1}}}'), 400, 'INVALID_JSON'],
    ['a tampered cookie', { url: '/api/dashboard', headers: { cookie: `${cookie}x` } }, 401, 'UNAUTHENTICATED'],
    ['an unsigned cookie', { url: '/api/dashboard', headers: { cookie: 'sid=abc' } }, 401, 'UNAUTHENTICATED'],
    ['a huge cookie header', { url: '/api/dashboard', headers: { cookie: `sid=${'a'.repeat(15_000)}` } }, 401, 'UNAUTHENTICATED'],
    ['many cookies', { url: '/api/dashboard', headers: { cookie: Array.from({ length: 500 }, (_, i) => `c${i}=${i}`).join('; ') } }, 401, 'UNAUTHENTICATED'],
    ['a signed cookie whose session is gone', { url: '/api/dashboard', headers: { cookie } }, 401, 'SESSION_EXPIRED'],
    ['a login with a gone session', { method: 'POST', url: '/api/count', headers: { cookie } }, 401, 'SESSION_EXPIRED'],
    ['an unknown route', { url: '/api/nothing-here' }, 404, 'NOT_FOUND'],
    ['a wrong method', { method: 'DELETE', url: '/auth/login' }, 404, 'NOT_FOUND'],
  ]
  for (const [name, request, status, code] of cases) {
    const response = await app.inject(request)
    t.equal(response.statusCode, status, `${name}: status`)
    t.equal(response.json().code, code, `${name}: code`)
    assertErrorShape(t, response.body, status)
  }
  t.same(await dataKeys(), keysBefore, 'no user or session key was written')
})

// Values that can travel in an HTTP header (printable ASCII).
const headerText = fc.string({ unit: 'grapheme-ascii', maxLength: 200 })

t.test('1,000 generated requests across the routes never get a 5xx', async (t) => {
  const app = await build(t, { RATE_LIMIT_MAX: '100000', LOGIN_RATE_LIMIT_MAX: '100000' })
  const cookie = await loggedIn(app, 'fuzzed')
  const route = fc.constantFrom(
    ['POST', '/auth/register'],
    ['POST', '/auth/login'],
    ['POST', '/auth/logout'],
    ['GET', '/auth/me'],
    ['GET', '/api/dashboard'],
    ['POST', '/api/count'],
    ['GET', '/health/live'],
    ['PUT', '/api/count'],
    ['POST', '/auth/login/mfa'],
    ['POST', '/auth/reauth'],
    ['POST', '/auth/mfa/totp'],
    ['POST', '/auth/mfa/totp/confirm'],
    ['DELETE', '/auth/mfa/totp'],
    ['POST', '/auth/mfa/recovery-codes'],
  )
  const body = fc.oneof(
    fc.jsonValue().map((value) => JSON.stringify(value)),
    fc.record({ username: fc.string({ maxLength: 40 }), password: fc.string({ maxLength: 300 }) }, { requiredKeys: [] }).map((value) => JSON.stringify(value)),
    fc
      .record({ code: fc.oneof(fc.stringMatching(/^\d{6}$/), fc.string({ maxLength: 80 })), mfaToken: fc.string({ maxLength: 80 }) }, { requiredKeys: [] })
      .map((value) => JSON.stringify(value)),
    fc.string({ maxLength: 300 }),
    fc.constant(''),
  )
  const contentType = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', '')
  const cookieHeader = fc.oneof(
    fc.constant(cookie),
    headerText,
    headerText.map((value) => `sid=${value}`),
    fc.nat({ max: cookie.length - 1 }).map((cut) => cookie.slice(0, cut)),
    headerText.map((value) => `${cookie}${value}`),
    headerText.map((value) => `sid-mfa=${value}`),
  )
  await fc.assert(
    fc.asyncProperty(route, body, contentType, cookieHeader, headerText, async ([method, url], payload, type, cookies, forwarded) => {
      const headers: Record<string, string> = { 'cookie': cookies, 'x-forwarded-for': forwarded, 'origin': forwarded }
      if (type) headers['content-type'] = type
      const response = await app.inject({ method: method as 'GET', url, headers, ...(method === 'GET' ? {} : { payload }) })
      if (response.statusCode >= 500) return false
      if (response.statusCode >= 400) {
        const parsed = JSON.parse(response.body)
        return typeof parsed.code === 'string' && typeof parsed.message === 'string' && parsed.statusCode === response.statusCode
      }
      return true
    }),
    { numRuns: 1000 },
  )
  t.pass('no 5xx and every error has the error shape')
})

t.test('the service still works after the generated requests', async (t) => {
  const app = await build(t)
  const cookie = await loggedIn(app, 'survivor')
  t.equal((await app.inject({ url: '/api/dashboard', headers: { cookie } })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/auth/login', ...json({ username: 'survivor', password: PASSWORD }) })).statusCode, 200)
})
