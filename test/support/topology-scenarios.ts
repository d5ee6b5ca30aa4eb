import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import { build, postLogin, postRegister, sessionCookie, type App } from './helper.js'
import { waitFor, type TopologyEnv } from './redis-topologies.js'

/** What the Cluster and Sentinel suites run against their topology. */

export const dashboard = (app: App, cookie: string) => app.inject({ url: '/api/dashboard', headers: { cookie } })

/** The representative part of the API: accounts, sessions, their list and revocation, rate limits, metrics. */
export async function exerciseApi(t: Test, env: TopologyEnv) {
  // Two logins below, then three failures within the limit of five, then one over it.
  const app = await build(t, { ...env, LOGIN_RATE_LIMIT_MAX: '5', RATE_LIMIT_MAX: '1000' })
  t.equal((await postRegister(app, 'ada')).statusCode, 201, 'register')
  t.equal((await postRegister(app, 'ADA')).statusCode, 409, 'usernames stay unique')
  const cookie = sessionCookie(await postLogin(app, 'ada'))
  const me = await app.inject({ url: '/auth/me', headers: { cookie } })
  t.equal(me.json().user.username, 'ada', 'me')
  for (const views of [1, 2]) {
    t.same((await app.inject({ method: 'POST', url: '/api/count', headers: { cookie } })).json(), { views }, 'count')
  }
  const other = sessionCookie(await postLogin(app, 'ada'))
  const { sessions } = (await app.inject({ url: '/auth/sessions', headers: { cookie } })).json()
  t.equal(sessions.length, 2, 'sessions: both listed')
  t.same((await app.inject({ method: 'DELETE', url: '/auth/sessions', headers: { cookie } })).json(), { revoked: 1 })
  t.equal((await dashboard(app, other)).json().code, 'SESSION_EXPIRED', 'the revoked session is dead')
  t.match((await app.inject({ url: '/metrics' })).body, /\nsessions_live 1\n/, 'one live session')
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie } })).statusCode, 204, 'logout')
  t.equal((await dashboard(app, cookie)).statusCode, 401)
  const attempts = []
  for (let i = 0; i < 4; i++) attempts.push((await postLogin(app, 'ada', 'wrong password')).statusCode)
  t.same(attempts, [401, 401, 401, 429], 'the login rate limit counts in this Redis too')
}

/**
 * Reads and writes the session every 100 ms until the failover is `done()` and both work again; every answer must be
 * 200 or 503, and none may be slow.
 */
export async function useThroughFailover(t: Test, app: App, cookie: string, done: () => Promise<boolean>) {
  const statuses = new Map<number, number>()
  let slowest = 0
  const unexpected: string[] = []
  const timed = async (request: Promise<{ statusCode: number; body: string }>) => {
    const started = Date.now()
    const { statusCode, body } = await request
    slowest = Math.max(slowest, Date.now() - started)
    statuses.set(statusCode, (statuses.get(statusCode) ?? 0) + 1)
    if (statusCode !== 200 && statusCode !== 503) unexpected.push(body)
    return statusCode
  }
  await waitFor('the failover to finish and the session to work again', async () => {
    const read = await timed(dashboard(app, cookie))
    const write = await timed(app.inject({ method: 'POST', url: '/api/count', headers: { cookie } }))
    await sleep(100)
    return read === 200 && write === 200 && (await done())
  }, 30_000)
  t.same(unexpected, [], `only 200 or 503 during the switch: ${JSON.stringify([...statuses])}`)
  t.ok(slowest < 2000, `no request hung (slowest ${slowest} ms)`)
}
