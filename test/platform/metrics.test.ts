import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { POLL_SECONDS } from '../../src/platform/job-queue/queue.js'
import { METRICS_REQUESTS_PER_MINUTE } from '../../src/platform/metrics.js'
import { build, json, loggedIn, ownRedis, PASSWORD, postLogin, postRegister, sessionCookie, type App } from '../support/helper.js'
import { completeLogin, enrolled, passwordStep, post } from '../support/mfa-helpers.js'
import { totpCode } from '../support/totp.js'

const TOKEN = 'a-metrics-token-of-some-length'

async function scrape(app: App, token?: string): Promise<string> {
  const response = await app.inject({ url: '/metrics', headers: token ? { authorization: `Bearer ${token}` } : {} })
  if (response.statusCode !== 200) throw new Error(`GET /metrics answered ${response.statusCode}: ${response.body}`)
  return response.body
}

/** The value of one sample, e.g. metric(text, 'auth_logins_total', { outcome: 'success' }); 0 when absent. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`)
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!match || match[1] !== name) continue
    const present = match[2]?.split(/,(?=[a-z_]+=)/) ?? []
    if (wanted.every((label) => present.includes(label))) return Number(match[3])
  }
  return 0
}

t.test('GET /metrics: Prometheus text with request durations by route and status', async (t) => {
  const app = await build(t)
  const cookie = await loggedIn(app, 'measured')
  await app.inject({ url: '/api/dashboard', headers: { cookie } })
  await app.inject({ url: '/api/dashboard' })
  await app.inject({ url: '/no-such-page' })
  await app.inject({ method: 'HEAD', url: '/api/dashboard', headers: { cookie } })
  await app.inject({ url: '/metrics' })
  const response = await app.inject({ url: '/metrics' })
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^text\/plain/)
  const text = response.body
  t.equal(metric(text, 'http_request_duration_seconds_count', { route: '/api/dashboard', status_code: '200' }), 1)
  t.equal(metric(text, 'http_request_duration_seconds_count', { route: '/api/dashboard', status_code: '401' }), 1)
  t.equal(metric(text, 'http_request_duration_seconds_count', { status_code: '404' }), 0, 'an unknown URL makes no series')
  t.equal(metric(text, 'http_request_duration_seconds_count', { method: 'HEAD' }), 0, 'nor does a HEAD')
  t.equal(metric(text, 'http_request_duration_seconds_count', { route: '/metrics' }), 0, 'nor the scrapes')
  t.equal(metric(text, 'http_request_duration_seconds_bucket', { route: '/api/dashboard', status_code: '200', le: '+Inf' }), 1, 'a histogram')
  t.ok(metric(text, 'process_resident_memory_bytes') > 0, 'with the process metrics')
  t.ok(metric(text, 'redis_command_duration_seconds_count') > 0, 'and Redis command latency')
})

t.test('logins by outcome, and sessions created, destroyed, revoked, expired and live', async (t) => {
  const app = await build(t, { ACCOUNT_LOCK_THRESHOLD: '2', SESSION_IDLE_TTL: '2', SESSION_TOUCH_INTERVAL: '1' })
  await postRegister(app, 'counted')
  const first = sessionCookie(await postLogin(app, 'counted'))
  const second = sessionCookie(await postLogin(app, 'counted'))
  const third = sessionCookie(await postLogin(app, 'counted'))
  let text = await scrape(app)
  t.equal(metric(text, 'auth_logins_total', { outcome: 'success' }), 3)
  t.equal(metric(text, 'sessions_created_total'), 3)
  t.equal(metric(text, 'sessions_live'), 3, 'three live sessions')

  await app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie: first } })
  await app.inject({ method: 'DELETE', url: '/auth/sessions', headers: { cookie: third } })
  t.equal((await app.inject({ url: '/api/dashboard', headers: { cookie: second } })).statusCode, 401)
  for (let i = 0; i < 3; i++) await postLogin(app, 'counted', 'a wrong password')
  text = await scrape(app)
  t.equal(metric(text, 'sessions_destroyed_total'), 1, 'the logout')
  t.equal(metric(text, 'sessions_revoked_total'), 1, 'the other session, revoked')
  t.equal(metric(text, 'sessions_expired_total', { reason: 'gone' }), 1, 'the request that found it gone')
  t.equal(metric(text, 'auth_logins_total', { outcome: 'failure' }), 2)
  t.equal(metric(text, 'auth_logins_total', { outcome: 'locked' }), 1)
  t.equal(metric(text, 'sessions_live'), 1, 'one left')
  await sleep(2100)
  t.equal(metric(await scrape(app), 'sessions_live'), 0, 'and none once it idled out')
})

t.test('two-factor events, re-authentications, and the sessions two-factor changes end', async (t) => {
  const app = await build(t)
  const user = await enrolled(app, 'factored')
  await completeLogin(app, await passwordStep(app, 'factored'), '000000')
  const second = sessionCookie(await completeLogin(app, await passwordStep(app, 'factored'), totpCode(user.secret, user.lastStep + 1)))
  await post(app, '/auth/reauth', { password: 'a wrong password' }, { cookie: second })
  await post(app, '/auth/reauth', { password: PASSWORD, code: user.recoveryCodes[0] }, { cookie: second })
  const text = await scrape(app)
  t.equal(metric(text, 'auth_mfa_events_total', { event: 'mfa_enabled' }), 1)
  t.equal(metric(text, 'auth_mfa_events_total', { event: 'mfa_challenge' }), 2, 'two password steps')
  t.equal(metric(text, 'auth_mfa_events_total', { event: 'mfa_failed' }), 1)
  t.equal(metric(text, 'auth_mfa_events_total', { event: 'recovery_code_used' }), 1)
  t.equal(metric(text, 'auth_logins_total', { outcome: 'mfa_failure' }), 1)
  t.equal(metric(text, 'auth_logins_total', { outcome: 'success' }), 2, 'the enrolling login and the completed one')
  t.equal(metric(text, 'auth_reauth_total', { outcome: 'success' }), 1)
  t.equal(metric(text, 'auth_reauth_total', { outcome: 'failure' }), 1)
  t.equal(metric(text, 'sessions_revoked_total'), 1, 'the enrolling session, ended by the recovery code')
})

t.test('PostgreSQL queries are timed: a login makes some, authenticated reads none, the job queue\'s apart', async (t) => {
  const app = await build(t, { ADMIN_USERNAME: 'overseer', ADMIN_PASSWORD: PASSWORD })
  const queries = async (source = 'service') => metric(await scrape(app), 'database_query_duration_seconds_count', { source })
  // An idle instance's workers poll the job queue: those statements count, as the queue's.
  const queueBefore = await queries('queue')
  await sleep((POLL_SECONDS + 0.5) * 1000)
  t.ok((await queries('queue')) > queueBefore, 'the queue\'s polling is counted as its own')
  const before = await queries()
  const cookie = await loggedIn(app, 'queried')
  const afterLogin = await queries()
  t.ok(afterLogin > before, `the registration and login ran ${afterLogin - before} queries`)
  for (let i = 0; i < 5; i++) t.equal((await app.inject({ url: '/api/dashboard', headers: { cookie } })).statusCode, 200)
  t.equal(await queries(), afterLogin, 'five authenticated reads: no query')
  t.equal(metric(await scrape(app), 'database_query_errors_total'), 0)
})

t.test('account changes are counted by event', async (t) => {
  const app = await build(t, { ADMIN_USERNAME: 'overseer', ADMIN_PASSWORD: PASSWORD })
  await postRegister(app, 'watched')
  const admin = sessionCookie(await postLogin(app, 'overseer'))
  const patch = (body: object) => app.inject({ method: 'PATCH', url: '/admin/users/watched', ...json(body), headers: { 'cookie': admin, 'content-type': 'application/json' } })
  t.equal((await patch({ disabled: true })).statusCode, 200)
  t.equal((await patch({ disabled: false })).statusCode, 200)
  t.equal((await patch({ roles: ['user', 'auditor'] })).statusCode, 200)
  const text = await scrape(app)
  for (const event of ['account_disabled', 'account_enabled', 'roles_changed']) t.equal(metric(text, 'account_events_total', { event }), 1, event)
  t.equal(metric(text, 'account_events_total', { event: 'account_deleted' }), 0)
})

t.test('requests refused by a rate limit are counted by route', async (t) => {
  const app = await build(t, { LOGIN_RATE_LIMIT_MAX: '1' })
  await postLogin(app, 'nobody')
  t.equal((await postLogin(app, 'nobody')).statusCode, 429)
  t.equal(metric(await scrape(app), 'rate_limited_requests_total', { route: '/auth/login' }), 1)
})

t.test('failed Redis commands are counted', async (t) => {
  const redis = await ownRedis(t)
  const app = await build(t, {}, redis)
  const cookie = await loggedIn(app, 'stranded')
  await redis.halt()
  t.equal((await app.inject({ url: '/api/dashboard', headers: { cookie } })).statusCode, 503)
  t.ok(metric(await scrape(app), 'redis_command_errors_total', { command: 'hgetall' }) >= 1, 'the session read that failed')
})

t.test('METRICS_TOKEN: GET /metrics needs it as a bearer token', async (t) => {
  const app = await build(t, { METRICS_TOKEN: TOKEN })
  for (const authorization of [undefined, 'Bearer wrong-token', `Basic ${TOKEN}`, TOKEN]) {
    const response = await app.inject({ url: '/metrics', headers: authorization ? { authorization } : {} })
    t.equal(response.statusCode, 401, `refused with ${authorization ?? 'no header'}`)
    t.equal(response.json().code, 'UNAUTHENTICATED')
  }
  t.match(await scrape(app, TOKEN), /auth_logins_total/)
})

t.test('lifecycle counters are per app: two apps in one process do not clash', async (t) => {
  const one = await build(t)
  const two = await build(t)
  await postRegister(one, 'solo')
  await postLogin(one, 'solo')
  t.equal(metric(await scrape(one), 'auth_logins_total', { outcome: 'success' }), 1)
  t.equal(metric(await scrape(two), 'auth_logins_total', { outcome: 'success' }), 0)
  t.equal((await two.inject({ method: 'POST', url: '/auth/login', ...json({}) })).statusCode, 400)
})

t.test("METRICS_TOKEN cannot be guessed at length: one address gets a minute's scrapes, then 429", async (t) => {
  const app = await build(t, { METRICS_TOKEN: TOKEN })
  const statuses: number[] = []
  for (let guess = 0; guess < METRICS_REQUESTS_PER_MINUTE + 5; guess++) {
    statuses.push((await app.inject({ url: '/metrics', headers: { authorization: `Bearer guess-${guess}` } })).statusCode)
  }
  t.same(statuses.slice(0, METRICS_REQUESTS_PER_MINUTE), Array(METRICS_REQUESTS_PER_MINUTE).fill(401), 'wrong tokens: 401')
  t.same(statuses.slice(METRICS_REQUESTS_PER_MINUTE), Array(5).fill(429), 'then 429, before the token is looked at')
  const right = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(right.statusCode, 429, 'the right token too, from that address, until the minute is over')
})
