import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { instancePairs, type Instance } from '../support/app-process.js'
import { loggedIn, logIn, passwordStep, PASSWORD } from '../support/flows.js'
import { build, linkOf, ownPostgres, PostgresServer, testMail, testRedis, uniquePrefix, type App } from '../support/helper.js'
import { steadyStep, totpCode } from '../support/totp.js'

// GET /auth/me answers from the account's snapshot in Redis (accounts/snapshots.ts): no PostgreSQL query once it is
// filled, and never the account as it was before a change that has been answered.

const me = async (app: App, cookie: string) => (await app.inject({ url: '/auth/me', headers: { cookie } })).json() as Record<string, unknown>

t.test('GET /auth/me sends no PostgreSQL query once the snapshot is filled', async (t) => {
  // PostgreSQL's own statement log, filtered to the account's row: the app's query count would include its
  // background work (the mail queue's polls), which is not the read's.
  const postgres = await PostgresServer.start({ logStatements: true })
  t.teardown(() => postgres.stop())
  const prefix = uniquePrefix()
  const app = await build(t, { DATABASE_URL: await postgres.createDatabase('snapshot_reads'), REDIS_PREFIX: prefix })
  const cookie = await loggedIn(app, 'reader')
  const { id } = (await me(app, cookie)).user as { id: string }
  // Gone, so that the first read below fills it again.
  await app.redis.del(`${prefix}account:${id}`)
  const reads: string[] = []
  const stop = postgres.onStatement((statement, parameters) => {
    if (statement.includes('"users"') && parameters.includes(id)) reads.push(statement)
  })
  t.teardown(stop)
  const settle = () => sleep(500)

  const first = await me(app, cookie)
  await settle()
  t.ok(reads.length > 0, 'the watch sees the read that fills the snapshot')
  reads.length = 0
  for (let i = 0; i < 20; i++) t.same(await me(app, cookie), first)
  await settle()
  t.same(reads, [], '20 reads, no query of the account')
})

t.test('while PostgreSQL is down, GET /auth/me answers from the snapshot; a miss answers 503 with Retry-After', async (t) => {
  const postgres = await ownPostgres(t)
  const prefix = uniquePrefix()
  const app = await build(t, { DATABASE_URL: await postgres.createDatabase('snapshots_down'), REDIS_PREFIX: prefix })
  const filled = await loggedIn(app, 'filled')
  const unfilled = await loggedIn(app, 'unfilled')
  const before = await me(app, filled)
  const unfilledId = ((await me(app, unfilled)).user as { id: string }).id
  // Its snapshot gone (as after its TTL), that user's next read must go to PostgreSQL.
  await app.redis.del(`${prefix}account:${unfilledId}`)

  await postgres.halt()
  t.teardown(() => postgres.resume())
  const during = await app.inject({ url: '/auth/me', headers: { cookie: filled } })
  t.equal(during.statusCode, 200, 'a filled snapshot answers')
  t.same(during.json(), before, 'the same account')
  const miss = await app.inject({ url: '/auth/me', headers: { cookie: unfilled } })
  t.equal(miss.statusCode, 503)
  t.equal(miss.json().code, 'STORE_UNAVAILABLE')
  t.ok(Number(miss.headers['retry-after']) > 0, 'with Retry-After')
})

t.test('once an instance has seen a session, GET /auth/me reads it and the account in one round trip to Redis', async (t) => {
  const app = await build(t, { REDIS_PREFIX: uniquePrefix() })
  await loggedIn(app, 'one_trip')
  const cookies = [await logIn(app, 'one_trip'), await logIn(app, 'one_trip'), await logIn(app, 'one_trip'), await logIn(app, 'one_trip')]
  // Redis counts the reads of its connections (each a batch of commands that arrived together); INFO is one more.
  const readsOfRedis = async () => Number(/total_reads_processed:(\d+)/.exec(await app.redis.info('stats'))![1])
  async function readsPerRequest(): Promise<{ reads: number; answers: unknown[] }> {
    const before = await readsOfRedis()
    const answers = []
    for (const cookie of cookies) answers.push(await me(app, cookie))
    return { reads: (await readsOfRedis() - before - 1) / cookies.length, answers }
  }
  const firstUse = await readsPerRequest()
  const known = await readsPerRequest()
  t.ok(firstUse.reads >= 2, `a cookie the instance has not seen: the session, then the account (${firstUse.reads} reads a request)`)
  t.ok(known.reads < 1.5, `a cookie it has seen: both at once (${known.reads} reads a request)`)
  t.same(known.answers, firstUse.answers, 'the same answers')
})

t.test('an account read started beside a session that has ended answers 401 and leaves nothing unhandled', async (t) => {
  const postgres = await ownPostgres(t)
  const prefix = uniquePrefix()
  const app = await build(t, { DATABASE_URL: await postgres.createDatabase('ended_beside'), REDIS_PREFIX: prefix })
  const ending = await loggedIn(app, 'ended_beside')
  const other = await logIn(app, 'ended_beside')
  const { id } = (await me(app, ending)).user as { id: string }
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie: ending } })).statusCode, 204)
  // The read started beside the session must go to PostgreSQL, and fail there.
  await app.redis.del(`${prefix}account:${id}`)
  await postgres.halt()
  t.teardown(() => postgres.resume())
  const refused = await app.inject({ url: '/auth/me', headers: { cookie: ending } })
  t.equal(refused.statusCode, 401)
  t.equal(refused.json().code, 'SESSION_EXPIRED')
  // The same fill for a live session: by its answer the one above has failed too, and the process is still here.
  t.equal((await app.inject({ url: '/auth/me', headers: { cookie: other } })).statusCode, 503)
  await sleep(100)
  await postgres.resume()
  t.equal((await app.inject({ url: '/auth/me', headers: { cookie: other } })).statusCode, 200, 'and answers once PostgreSQL is back')
})

t.test('a fill that read PostgreSQL before a change and writes after it changes nothing', async (t) => {
  const prefix = uniquePrefix()
  const app = await build(t, { REDIS_PREFIX: prefix })
  const cookie = await loggedIn(app, 'late_fill')
  const old = await me(app, cookie)
  const key = `${prefix}account:${(old.user as { id: string }).id}`
  const stored = (await app.redis.get(key))!
  const [oldVersion, oldData] = [stored.slice(0, stored.indexOf('|')), stored.slice(stored.indexOf('|') + 1)]

  const changed = await app.inject({ method: 'PUT', url: '/auth/email', headers: { cookie }, payload: { email: 'late@example.test' } })
  t.equal(changed.statusCode, 202)
  // The late fill: the version and data it read before the change, written now.
  const kept = await app.redis.writeAccountSnapshot(key, Number(oldVersion), oldData, 3600)
  t.match(kept, '"late@example.test"', 'the script answers what the key holds: the newer version')
  t.match(await me(app, cookie), { email: 'late@example.test' }, 'and reads show it')

  const deleted = await app.inject({ method: 'DELETE', url: '/auth/account', headers: { cookie }, payload: { password: 'correct horse battery' } })
  t.equal(deleted.statusCode, 204)
  t.match(await app.redis.writeAccountSnapshot(key, Number(oldVersion) + 1, oldData, 3600), /^\d+\|$/, 'a deleted account keeps its tombstone')
})

const ADMIN = { username: 'root', password: 'an admin passphrase' }

/** Two instances as processes over real HTTP, one user logged in on both (one Redis, one PostgreSQL). */
async function pair(t: Test) {
  const prefix = uniquePrefix()
  const [changer, reader] = await instancePairs(t, {
    REDIS_URL: (await testRedis()).url,
    REDIS_PREFIX: prefix,
    SMTP_URL: (await testMail()).url,
    LOGIN_RATE_LIMIT_MAX: '1000',
    CREDENTIAL_RATE_LIMIT_MAX: '10000',
    RATE_LIMIT_MAX: '10000',
    // What is tested is the snapshot, not the hash: a cheap one keeps logins from queueing behind a busy machine.
    PASSWORD_HASH_COST: '10',
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_PASSWORD: ADMIN.password,
  })()
  return { changer: changer!, reader: reader!, prefix }
}

const meOn = async (instance: Instance, cookie: string) => (await instance.call('GET', '/auth/me', { cookie })).body

t.test('every change is on the other instance at once: the read right after its answer never shows the old value', async (t) => {
  const { changer, reader } = await pair(t)
  const cookie = await loggedIn(changer, 'two_nodes')
  t.match(await meOn(reader, cookie), { email: null, mfa: { enabled: false } }, 'filled on the reader')

  const mail = await testMail()
  const verify = async () => {
    const [link] = await mail.waitFor('second@example.test')
    return (await changer.call('POST', '/auth/email/verify', { body: { token: linkOf(link!).token } })).status
  }
  const steps: Array<[string, () => Promise<number>, Record<string, unknown>]> = [
    ['an address asked for', async () => (await changer.call('PUT', '/auth/email', { cookie, body: { email: 'first@example.test' } })).status, { email: 'first@example.test', emailVerified: false }],
    ['the address taken back', async () => (await changer.call('DELETE', '/auth/email/pending', { cookie })).status, { email: null }],
    ['another asked for', async () => (await changer.call('PUT', '/auth/email', { cookie, body: { email: 'second@example.test' } })).status, { email: 'second@example.test', emailVerified: false }],
    ['its link followed', verify, { email: 'second@example.test', emailVerified: true }],
  ]
  for (const [what, change, expected] of steps) {
    t.ok((await change()) < 300, `${what}: answered`)
    t.match(await meOn(reader, cookie), expected, `${what}: shown at once on the other instance`)
  }

  const started = await changer.call('POST', '/auth/mfa/totp', { cookie })
  const secret = started.body.secret as string
  const confirmed = await changer.call('POST', '/auth/mfa/totp/confirm', { cookie, body: { code: totpCode(secret, await steadyStep()) } })
  t.equal(confirmed.status, 200)
  t.match(await meOn(reader, cookie), { mfa: { enabled: true, recoveryCodesLeft: 10 } }, 'two-factor on: shown at once')
  const recoveryCodes = confirmed.body.recoveryCodes as string[]
  const pending = await passwordStep(changer, 'two_nodes')
  const withCode = await changer.call('POST', '/auth/login/mfa', { cookie: pending, body: { code: recoveryCodes[1] } })
  t.equal(withCode.status, 200, 'a login with a recovery code')
  // That login's session from here on (a login with a recovery code ends the others).
  const session = withCode.cookie!
  t.match(await meOn(reader, session), { mfa: { recoveryCodesLeft: 9 } }, 'a recovery code used: shown at once')
  const replaced = await changer.call('POST', '/auth/mfa/recovery-codes', { cookie: session, body: { code: recoveryCodes[2] } })
  t.equal(replaced.status, 200)
  t.match(await meOn(reader, session), { mfa: { recoveryCodesLeft: 10 } }, 'the codes replaced: shown at once')
  const fresh = replaced.body.recoveryCodes as string[]
  const offWithCode = await changer.call('DELETE', '/auth/mfa/totp', { cookie: session, body: { code: fresh[0] } })
  t.equal(offWithCode.status, 200)
  t.match(await meOn(reader, session), { mfa: { enabled: false, recoveryCodesLeft: 0 } }, 'two-factor off: shown at once')

  // An admin's change of roles ends the user's sessions; the next login, read on the other instance, has the new ones.
  const admin = await logIn(changer, ADMIN.username, ADMIN.password)
  const changed = await changer.call('PATCH', '/admin/users/two_nodes', { cookie: admin, body: { roles: ['user', 'editor'] } })
  t.equal(changed.status, 200)
  const again = await logIn(changer, 'two_nodes', PASSWORD)
  t.match(await meOn(reader, again), { user: { roles: ['user', 'editor'] } }, 'new roles: shown at once')
})

t.test('a change raced against 50 reads that miss, in rounds: never the old value once it is answered', async (t) => {
  const { changer, reader, prefix } = await pair(t)
  const cookie = await loggedIn(changer, 'raced')
  const userId = ((await meOn(reader, cookie)).user as { id: string }).id
  const redis = (await testRedis()).connect()
  t.teardown(() => redis.disconnect())
  for (let round = 0; round < 8; round++) {
    const email = `round${round}@example.test`
    await redis.del(`${prefix}account:${userId}`)
    const misses = Array.from({ length: 50 }, () => meOn(reader, cookie))
    const change = changer.call('PUT', '/auth/email', { cookie, body: { email } })
    t.equal((await change).status, 202, `round ${round}: the change answered`)
    const afterAnswer = await Promise.all([meOn(reader, cookie), meOn(changer, cookie)])
    await Promise.all(misses)
    const settled = await Promise.all([meOn(reader, cookie), meOn(changer, cookie)])
    t.same([...afterAnswer, ...settled].map((answer) => answer.email), [email, email, email, email], `round ${round}: the new address on both, at once and after the misses`)
  }
})
