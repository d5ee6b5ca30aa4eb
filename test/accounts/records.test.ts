import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import t from 'tap'
import { createDatabase } from '../../src/platform/database/connection.js'
import { userRecords } from '../../src/accounts/records.js'
import { instancePairs } from '../support/app-process.js'
import { injected } from '../support/client.js'
import { enrolled, logIn, loggedIn, passwordStep, PASSWORD, register } from '../support/flows.js'
import { build, ownPostgres, ownRedis, storedAccount, testRedis, uniquePrefix } from '../support/helper.js'
import { completeLogin } from '../support/mfa-helpers.js'
import { totpCode } from '../support/totp.js'

// Accounts live in PostgreSQL, sessions and counters in Redis: what happens to one store never loses the other's.

t.test('accounts survive a FLUSHALL of Redis and a restart: same id, roles, password and authenticator app', async (t) => {
  const redis = await ownRedis(t)
  const env = { REDIS_PREFIX: uniquePrefix(), ADMIN_USERNAME: 'keeper', ADMIN_PASSWORD: PASSWORD }
  const before = await build(t, env, redis)
  const user = await enrolled(injected(before), 'kept')
  const me = (await injected(before).call('GET', '/auth/me', { cookie: user.cookie })).body
  await before.close()

  await redis.client(t).flushall()
  const after = await build(t, env, redis)
  const done = await completeLogin(after, await passwordStep(injected(after), 'kept'), totpCode(user.secret, user.lastStep + 1))
  t.equal(done.statusCode, 200, 'the password and the authenticator app still log in')
  t.same(done.json().user, me.user, 'the same account: id, name, roles, creation time')
  t.equal((await storedAccount(after, 'kept'))?.recoveryCodeHashes.length, 10, 'its recovery codes kept')
  t.equal((await injected(after).call('POST', '/auth/login', { body: { username: 'keeper', password: PASSWORD } })).status, 200, 'the admin too')
  t.equal((await injected(after).call('GET', '/auth/me', { cookie: user.cookie })).status, 401, 'sessions, which Redis held, are gone: failing closed')
})

t.test('PostgreSQL down: routes that need it answer 503 with Retry-After at once, session reads go on, it recovers', async (t) => {
  const postgres = await ownPostgres(t)
  const app = await build(t, { DATABASE_URL: await postgres.createDatabase('outage') })
  const cookie = await loggedIn(injected(app), 'steady')
  await postgres.halt()

  const started = Date.now()
  const login = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'steady', password: PASSWORD } })
  t.ok(Date.now() - started < 1000, `answered in ${Date.now() - started} ms`)
  t.equal(login.statusCode, 503)
  t.equal(login.json().code, 'STORE_UNAVAILABLE')
  t.equal(login.headers['retry-after'], '2')
  const registration = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'newcomer', password: PASSWORD } })
  t.equal(registration.statusCode, 503, 'a registration too')
  t.equal((await app.inject({ url: '/api/dashboard', headers: { cookie } })).statusCode, 200, 'an authenticated read never touches PostgreSQL')
  t.equal((await app.inject({ method: 'POST', url: '/api/count', headers: { cookie } })).statusCode, 200, 'nor does a write to the session')
  await sleep(1100)
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 503, '/health/ready reports it')

  await postgres.resume()
  await sleep(1100)
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200, 'ready again')
  t.equal((await injected(app).call('POST', '/auth/login', { body: { username: 'steady', password: PASSWORD } })).status, 200, 'logins work again, no restart')
  t.equal((await injected(app).call('POST', '/auth/register', { body: { username: 'newcomer', password: PASSWORD } })).status, 201, 'nothing was half-written')
})

t.test('PostgreSQL gone while connections are in use: those statements fail, the process goes on', async (t) => {
  const postgres = await ownPostgres(t)
  const app = await build(t, { DATABASE_URL: await postgres.createDatabase('gone_in_use') })
  await register(injected(app), 'survivor')
  // One connection runs a statement, another sits in a transaction between two: node-postgres reports the loss of
  // each as an 'error' event on its client as well as to the statement, and an event nobody listens to ends a process.
  const running = t.rejects(sql`SELECT pg_sleep(5)`.execute(app.db), 'the running statement fails')
  const between = t.rejects(app.db.transaction().execute(async (trx) => {
    await sql`SELECT 1`.execute(trx)
    await sleep(1000)
    await sql`SELECT 1`.execute(trx)
  }), 'the transaction fails')
  await sleep(300)
  await postgres.halt()
  await Promise.all([running, between])
  await postgres.resume()
  const login = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'survivor', password: PASSWORD } })
  t.equal(login.statusCode, 200, 'and the same process logs in once PostgreSQL is back')
})

t.test('a hung PostgreSQL: a login is answered 503 within the statement timeout, never left waiting', async (t) => {
  const postgres = await ownPostgres(t)
  const app = await build(t, { DATABASE_URL: await postgres.createDatabase('hung'), DATABASE_STATEMENT_TIMEOUT_MS: '300' })
  await register(injected(app), 'patient')
  // A lock held by another session makes every statement on the table wait, as a hung or overloaded server would.
  const blocker = createDatabase({ url: postgres.url('hung'), poolSize: 1, statementTimeoutMs: 0 })
  const holding = await blocker.pool.connect()
  try {
    await holding.query('BEGIN')
    await holding.query('LOCK TABLE redis_session_api.users IN ACCESS EXCLUSIVE MODE')
    const started = Date.now()
    const login = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'patient', password: PASSWORD } })
    const took = Date.now() - started
    t.equal(login.statusCode, 503)
    t.equal(login.json().code, 'STORE_UNAVAILABLE')
    t.ok(took < 1500, `answered in ${took} ms`)
  } finally {
    await holding.query('ROLLBACK')
    holding.release()
    await blocker.db.destroy()
  }
  t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'patient', password: PASSWORD } })).statusCode, 200, 'and logs in once it answers')
})

t.test('of concurrent registrations of one name in any letter case on two instances, exactly one succeeds', async (t) => {
  const redis = await testRedis()
  // Every registration derives a key before it inserts: at OWASP's cost, 16 at once on a busy 2-core machine wait past
  // the queue's bound (503 OVERLOADED, password-hashing.test.ts). What races here is the INSERT, at any cost.
  const cheapHashing = { PASSWORD_HASH_COST: '10' }
  const [one, two] = await instancePairs(t, { REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix(), RATE_LIMIT_MAX: '100000', LOGIN_RATE_LIMIT_MAX: '100000', ...cheapHashing })()
  for (let round = 0; round < 5; round++) {
    const name = `Twin${round}`
    const spellings = [name, name.toLowerCase(), name.toUpperCase(), `${name[0]!.toLowerCase()}${name.slice(1).toUpperCase()}`]
    const replies = await Promise.all(
      Array.from({ length: 16 }, (_, i) => [one!, two!][i % 2]!.call('POST', '/auth/register', { body: { username: spellings[i % 4], password: PASSWORD } })),
    )
    const statuses = replies.map(({ status }) => status)
    t.equal(statuses.filter((status) => status === 201).length, 1, `round ${round}: one 201`)
    t.equal(statuses.filter((status) => status === 409).length, 15, `round ${round}: fifteen 409 USERNAME_TAKEN`)
  }
})

t.test('the invariants of the account store hold under concurrency, statement by statement', async (t) => {
  const app = await build(t, { DATABASE_POOL_SIZE: '20' })
  const records = userRecords(app.db)
  const user = { id: crypto.randomUUID(), username: 'Concurrent', roles: ['user'], createdAt: new Date().toISOString() }
  t.ok(await records.create(user, 'scrypt$hash', null))
  t.notOk(await records.create({ ...user, id: crypto.randomUUID(), username: 'CONCURRENT' }, 'scrypt$other', null), 'the name in another case is taken')
  const codes = Array.from({ length: 10 }, (_, i) => `code-hash-${i}`)
  t.ok(await records.enableTotp(user.id, 'v1.sealed', 100, codes))
  const epochOn = await records.loginEpoch(user.id)
  t.equal(epochOn, 1, 'turning the second factor on moved the login epoch, in the same statement')

  const steps = await Promise.all(Array.from({ length: 20 }, () => records.useTotpStep(user.id, 'v1.sealed', 101, null)))
  t.equal(steps.filter(Boolean).length, 1, 'one TOTP step, twenty concurrent uses: accepted once')
  t.notOk(await records.useTotpStep(user.id, 'v1.sealed', 100, null), 'an earlier step is refused')
  const later = await Promise.all([102, 103, 104].map((step) => records.useTotpStep(user.id, 'v1.sealed', step, null)))
  t.ok(later.some(Boolean), 'later steps pass')

  const spent = await Promise.all(Array.from({ length: 20 }, () => records.useRecoveryCode(user.id, 'code-hash-3')))
  t.same(spent.filter((left) => left !== null), [9], 'one recovery code, twenty concurrent uses: spent once, 9 left')
  const different = await Promise.all(codes.filter((code) => code !== 'code-hash-3').map((code) => records.useRecoveryCode(user.id, code)))
  t.same(different.map(Number).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8], 'nine different codes at once: each spent, none lost')

  const changes = await Promise.all(Array.from({ length: 10 }, (_, i) => records.setPassword(user.id, `scrypt$new${i}`, epochOn!)))
  t.same(changes.filter((epoch) => epoch !== null), [epochOn! + 1], 'ten changes proving one epoch at once: one lands, with the next epoch')
  t.equal(await records.loginEpoch(user.id), epochOn! + 1, 'a password change moved the epoch in the same statement')
  t.equal(await records.setPassword(user.id, 'scrypt$stale', epochOn!), null, 'a change that proved an older epoch changes nothing')
  t.not((await records.findById(user.id))?.passwordHash, 'scrypt$stale')
  const raised = await Promise.all(Array.from({ length: 10 }, () => records.raiseLoginEpoch(user.id)))
  t.ok(raised.every(Boolean))
  t.equal(await records.loginEpoch(user.id), epochOn! + 11, 'ten concurrent raises: none lost')
  t.ok(await records.disableTotp(user.id))
  t.equal(await records.loginEpoch(user.id), epochOn! + 12, 'turning it off moved it too')
  t.notOk(await records.useTotpStep(user.id, 'v1.sealed', 200, null), 'no step passes with the second factor off')
})

t.test('every account change is written through to PostgreSQL at once: a second instance sees it', async (t) => {
  const env = { REDIS_PREFIX: uniquePrefix() }
  const one = await build(t, env)
  const two = await build(t, env)
  const cookie = await loggedIn(injected(one), 'shared')
  const changed = await injected(one).call('PUT', '/auth/password', { cookie, body: { currentPassword: PASSWORD, newPassword: 'a brand new password' } })
  t.equal(changed.status, 204)
  t.equal((await injected(two).call('POST', '/auth/login', { body: { username: 'shared', password: PASSWORD } })).status, 401, 'the old password is refused on the other')
  t.ok(await logIn(injected(two), 'shared', 'a brand new password'), 'the new one logs in')
})
