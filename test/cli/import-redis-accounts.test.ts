import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { hashPassword } from '../../src/lib/password.js'
import { newRecoveryCodes, recoveryCodeHashes } from '../../src/lib/recovery-codes.js'
import { secretBox } from '../../src/lib/secret-box.js'
import { newTotpSecret } from '../../src/lib/totp.js'
import { startServer } from '../support/app-process.js'
import { injected } from '../support/client.js'
import { logIn, passwordStep, PASSWORD, register } from '../support/flows.js'
import { build, databaseFor, storedAccount, TEST_SECRET, testRedis, uniquePrefix } from '../support/helper.js'
import { completeLogin } from '../support/mfa-helpers.js'
import { steadyStep, totpCode } from '../support/totp.js'
import { redisKeys } from '../../src/lib/keys.js'

// `npm run accounts:import-redis` on accounts as the version before PostgreSQL stored them: one hash per user under
// REDIS_PREFIX + "user:" + the lower-cased name, written here field by field as that version wrote them.

const redis = (await testRedis()).connect()
t.teardown(() => redis.disconnect())
const prefix = uniquePrefix()
const env = { SESSION_SECRET: TEST_SECRET, REDIS_URL: (await testRedis()).url, REDIS_PREFIX: prefix, DATABASE_URL: await databaseFor(prefix) }

interface LegacyAccount {
  id: string
  username: string
  roles: string[]
  createdAt: string
  secret?: string
  recoveryCodes?: string[]
  lastStep?: number
}

/** Writes an account as the previous version did: its registration, then (with `secret`) two-factor login turned on. */
async function storeLegacy({ id, username, roles, createdAt, secret, recoveryCodes, lastStep }: LegacyAccount, password = PASSWORD): Promise<void> {
  const key = redisKeys(prefix).user(username)
  await redis.hset(key, { id, username, passwordHash: await hashPassword(password), roles: roles.join(','), createdAt })
  if (!secret) return
  const sealed = secretBox([TEST_SECRET], 'totp secrets').seal(secret)
  await redis.hset(key, { totpSecret: sealed, totpLastStep: String(lastStep), totpEnabledAt: String(Date.now() - 60_000), loginEpoch: '1' })
  for (const hash of recoveryCodeHashes(recoveryCodes!)) await redis.hset(key, `recovery:${hash}`, '1')
}

async function runImport(t: Test): Promise<string> {
  const run = startServer(t, env, 'src/cli/import-redis-accounts.ts')
  t.equal(await run.exited, 0, `the import exits 0 ${run.stderr()}`)
  return run.stdout()
}

const step = await steadyStep()
const alice: LegacyAccount = { id: randomUUID(), username: 'alice', roles: ['user'], createdAt: '2026-01-02T03:04:05.000Z' }
const bob: LegacyAccount = {
  id: randomUUID(),
  username: 'Bob',
  roles: ['user'],
  createdAt: '2026-02-03T04:05:06.000Z',
  secret: newTotpSecret(),
  recoveryCodes: newRecoveryCodes(),
  lastStep: step - 1,
}
const root: LegacyAccount = { id: randomUUID(), username: 'root', roles: ['admin', 'user'], createdAt: '2026-03-04T05:06:07.000Z' }

t.test('the first run copies every account; users log in as before, with the same password and authenticator app', async (t) => {
  for (const account of [alice, bob, root]) await storeLegacy(account)
  await redis.hset(redisKeys(prefix).user('broken'), { note: 'not an account' })
  const output = await runImport(t)
  t.match(output, 'Accounts in Redis: 3 copied, 0 already in PostgreSQL, 0 changed since, 0 with a name taken, 1 unreadable hashes skipped.')

  const app = await build(t, { REDIS_PREFIX: prefix })
  const login = await injected(app).call('POST', '/auth/login', { body: { username: 'alice', password: PASSWORD } })
  t.equal(login.status, 200, 'alice logs in with her password')
  t.same(login.body.user, { id: alice.id, username: 'alice', roles: ['user'], createdAt: alice.createdAt }, 'the same id, roles and creation time')
  t.same((await injected(app).call('POST', '/auth/login', { body: { username: 'root', password: PASSWORD } })).body.user, { id: root.id, username: 'root', roles: ['admin', 'user'], createdAt: root.createdAt }, 'roles kept')

  const replayed = await completeLogin(app, await passwordStep(injected(app), 'bob'), totpCode(bob.secret!, bob.lastStep!))
  t.equal(replayed.statusCode, 401, 'the last step used before the upgrade is still spent')
  const done = await completeLogin(app, await passwordStep(injected(app), 'bob'), totpCode(bob.secret!, bob.lastStep! + 1))
  t.equal(done.statusCode, 200, 'Bob logs in with his authenticator app')
  t.equal(done.json().user.id, bob.id)
  const recovered = await completeLogin(app, await passwordStep(injected(app), 'BOB'), bob.recoveryCodes![4]!)
  t.equal(recovered.statusCode, 200, 'and with a recovery code')
  t.equal((await storedAccount(app, 'bob'))?.recoveryCodeHashes.length, 9, 'which is then spent')
  t.equal((await storedAccount(app, 'bob'))?.loginEpoch, 1, 'the login epoch carried over')
})

t.test('a second run, while the new version serves, copies only what is new and overwrites nothing', async (t) => {
  const app = await build(t, { REDIS_PREFIX: prefix })
  // Registered on the new version, and on an old instance under the same name meanwhile.
  await register(injected(app), 'carol')
  await storeLegacy({ id: randomUUID(), username: 'Carol', roles: ['user'], createdAt: new Date().toISOString() })
  // Registered on an old instance after the first run.
  const dave: LegacyAccount = { id: randomUUID(), username: 'dave', roles: ['user'], createdAt: new Date().toISOString() }
  await storeLegacy(dave)
  // alice changed her password on an old instance after the first run.
  await storeLegacy(alice, 'a password set on the old version')

  const output = await runImport(t)
  t.match(output, 'Accounts in Redis: 1 copied, 2 already in PostgreSQL, 1 changed since, 1 with a name taken, 1 unreadable hashes skipped.')
  t.match(output, /not copied: alice \(changed since it was copied; PostgreSQL's version kept\)/)
  t.match(output, /not copied: Carol \(the name belongs to another account in PostgreSQL\)/)
  t.ok(await logIn(injected(app), 'dave'), 'dave, new in Redis, logs in')
  t.ok(await logIn(injected(app), 'alice'), "alice's account in PostgreSQL is the one kept")
  t.ok(await logIn(injected(app), 'carol'), 'carol of the new version keeps her name')
  t.equal((await storedAccount(app, 'bob'))?.recoveryCodeHashes.length, 9, "Bob's spent recovery code stays spent")

  t.match(await runImport(t), 'Accounts in Redis: 0 copied, 3 already in PostgreSQL, 1 changed since, 1 with a name taken', 'a third run changes nothing')
})
