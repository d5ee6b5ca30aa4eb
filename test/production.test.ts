import t from 'tap'
import { startInstance, startServer, type Instance } from './support/app-process.js'
import { PASSWORD, TEST_SECRET, testRedis, uniquePrefix } from './support/helper.js'
import { redisKeys } from '../src/lib/keys.js'

// The service as an operator starts it with NODE_ENV=production: a real process, requests over real (plain) HTTP.
const METRICS_TOKEN = 'metrics-token-for-the-tests'
const redis = await testRedis()

function production(extra: Record<string, string> = {}) {
  return {
    NODE_ENV: 'production',
    REDIS_URL: redis.url,
    REDIS_PREFIX: uniquePrefix(),
    METRICS_TOKEN,
    TRUST_PROXY: '1',
    PUBLIC_URL: 'https://app.example.com',
    LOG_LEVEL: 'info',
    ...extra,
  }
}

async function send(instance: Instance, method: string, path: string, { body, headers = {} }: { body?: unknown; headers?: Record<string, string> } = {}) {
  const response = await fetch(instance.url + path, {
    method,
    headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  const json = response.headers.get('content-type')?.startsWith('application/json')
  const answer = (json ? await response.json() : {}) as { code?: string; message?: string; user?: { username: string } }
  return { status: response.status, body: answer, setCookie: response.headers.getSetCookie() }
}

const credentials = (username: string, password = PASSWORD) => ({ username, password })
/** What the service keeps in Redis under a prefix, but for rate-limit counters (which count every attempt). */
const storedUnder = async (prefix: string) => (await redis.client(t).keys(`${prefix}*`)).filter((key) => !key.startsWith(redisKeys(prefix).rateLimitPrefix)).sort()
const warningsIn = (instance: Instance, pattern: RegExp) =>
  instance.server.stdout().split('\n').filter((line) => line.includes('"level":40') && pattern.test(line))

t.test('without METRICS_TOKEN the start fails, unless METRICS_PUBLIC=true says the port is not public', async (t) => {
  const refused = startServer(t, { SESSION_SECRET: TEST_SECRET, NODE_ENV: 'production', REDIS_URL: redis.url })
  t.not(await refused.exited, 0)
  t.match(refused.stderr().trim(), /^Invalid configuration: METRICS_TOKEN is required in production/)
  const { METRICS_TOKEN: _token, ...withoutToken } = production()
  const open = await startInstance(t, { ...withoutToken, METRICS_PUBLIC: 'true' })
  t.equal((await send(open, 'GET', '/metrics')).status, 200, 'METRICS_PUBLIC=true serves it without a token')
})

t.test('Secure cookies without TRUST_PROXY: the start fails with one line naming it (no request could be HTTPS)', async (t) => {
  const { TRUST_PROXY: _proxy, ...direct } = production()
  const refused = startServer(t, { SESSION_SECRET: TEST_SECRET, ...direct })
  t.not(await refused.exited, 0)
  t.match(refused.stderr().trim(), /^Invalid configuration: COOKIE_SECURE is on but TRUST_PROXY is unset/)
  t.equal(refused.stderr().trim().split('\n').length, 1, 'one line')
})

t.test('a request that did not come over HTTPS cannot log in: nothing is written, one warning is logged', async (t) => {
  const prefix = uniquePrefix()
  const instance = await startInstance(t, production({ REDIS_PREFIX: prefix }))
  t.equal((await send(instance, 'POST', '/auth/register', { body: credentials('operator') })).status, 201)
  const before = await storedUnder(prefix)

  const plain = await send(instance, 'POST', '/auth/login', { body: credentials('operator') })
  t.equal(plain.status, 400)
  t.equal(plain.body.code, 'INSECURE_TRANSPORT')
  t.match(plain.body.message, /HTTPS.*TRUST_PROXY.*COOKIE_SECURE/)
  t.same(plain.setCookie, [], 'no cookie')
  const forwarded = await send(instance, 'POST', '/auth/login', { body: credentials('operator'), headers: { 'x-forwarded-proto': 'http' } })
  t.equal(forwarded.body.code, 'INSECURE_TRANSPORT', 'the proxy says plain HTTP')
  const wrongPassword = await send(instance, 'POST', '/auth/login', { body: credentials('operator', 'wrong password!') })
  t.equal(wrongPassword.body.code, 'INSECURE_TRANSPORT', 'refused before the password is checked')

  t.same(await storedUnder(prefix), before, 'nothing written to Redis: no session, no index entry, no failure count')
  t.equal(warningsIn(instance, /session was refused because the request is not HTTPS/).length, 1, 'one warning for the process, not one per request')

  t.equal((await send(instance, 'GET', '/metrics')).status, 401, '/metrics needs the token')
  t.equal((await send(instance, 'GET', '/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status, 200)
  t.equal((await send(instance, 'GET', '/docs/json')).status, 404, 'no API documentation by default in production')
})

t.test('behind a TLS proxy with TRUST_PROXY=1: the __Host-sid cookie is set and works', async (t) => {
  const instance = await startInstance(t, production())
  const viaProxy = { 'x-forwarded-proto': 'https' }
  await send(instance, 'POST', '/auth/register', { body: credentials('proxied') })
  const login = await send(instance, 'POST', '/auth/login', { body: credentials('proxied'), headers: viaProxy })
  t.equal(login.status, 200)
  const setCookie = login.setCookie.find((line) => line.startsWith('__Host-sid='))
  t.match(setCookie, /^__Host-sid=[^;]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/, 'Secure, Path=/, no Domain: what __Host- requires')
  const device = login.setCookie.find((line) => line.startsWith('__Host-sid-device='))
  t.match(device, /^__Host-sid-device=[^;]+; Max-Age=31536000; Path=\/; HttpOnly; Secure; SameSite=Strict$/, 'the device cookie obeys the same prefix')
  const cookie = setCookie!.split(';')[0]!
  const me = await send(instance, 'GET', '/auth/me', { headers: { ...viaProxy, cookie } })
  t.equal(me.status, 200)
  t.equal(me.body.user?.username, 'proxied')

  const change = { currentPassword: PASSWORD, newPassword: `${PASSWORD}!` }
  const plainChange = await send(instance, 'PUT', '/auth/password', { body: change, headers: { cookie } })
  t.equal(plainChange.body.code, 'INSECURE_TRANSPORT', 'a password change (which re-issues the cookie) over plain HTTP is refused')
  t.equal((await send(instance, 'GET', '/auth/me', { headers: { ...viaProxy, cookie } })).status, 200, 'and changed nothing: the session lives')
  t.equal((await send(instance, 'PUT', '/auth/password', { body: change, headers: { ...viaProxy, cookie } })).status, 204)
})

t.test('a PASSWORD_HASH_COST below OWASP\'s minimum starts, with a warning naming it', async (t) => {
  const instance = await startInstance(t, production({ PASSWORD_HASH_COST: '16' }))
  t.equal(warningsIn(instance, /PASSWORD_HASH_COST=16 is below 17, OWASP's minimum for scrypt/).length, 1)
  t.equal(warningsIn(await startInstance(t, production()), /PASSWORD_HASH_COST/).length, 0, 'none at the default')
})
