import { randomUUID } from 'node:crypto'
import t from 'tap'
import { hashPassword, MAX_QUEUE_WAIT_MS, needsRehash, verifyPassword } from '../../src/lib/password.js'
import { userRecords } from '../../src/accounts/records.js'
import { build, PASSWORD, postLogin, postRegister, sessionCookie, storedAccount } from '../support/helper.js'

// How passwords are stored (scrypt at OWASP's parameters), how older hashes move up to them, and how the queue of key
// derivations keeps a flood of guesses from making every login wait.

const OWASP_SCRYPT = /^scrypt\$17\$8\$1\$[\w-]{22}\$[\w-]{43}$/
const OLDER_COST = { costLog2: 15, blockSize: 8, parallelism: 1 }

t.test("new passwords are stored under scrypt at OWASP's parameters: N=2^17, r=8, p=1", async (t) => {
  const app = await build(t)
  await postRegister(app, 'fresh')
  t.match((await storedAccount(app, 'fresh'))?.passwordHash, OWASP_SCRYPT)
  t.notOk(needsRehash((await storedAccount(app, 'fresh'))!.passwordHash))
  t.ok(needsRehash(await hashPassword(PASSWORD, OLDER_COST)), 'a hash under N=2^15 is due for an upgrade')
})

t.test('a hash under an older cost is stored again under the current one at the next login, and nothing else changes', async (t) => {
  const app = await build(t)
  const records = userRecords(app.db)
  const user = { id: randomUUID(), username: 'veteran', roles: ['user'], createdAt: new Date().toISOString() }
  const older = await hashPassword(PASSWORD, OLDER_COST)
  t.ok(await records.create(user, older, null))
  t.equal((await postLogin(app, 'veteran', 'not the password')).statusCode, 401)
  t.equal((await storedAccount(app, 'veteran'))?.passwordHash, older, 'a wrong password upgrades nothing')

  const session = sessionCookie(await postLogin(app, 'veteran'))
  const stored = await storedAccount(app, 'veteran')
  t.match(stored?.passwordHash, OWASP_SCRYPT, 'the login upgraded the hash')
  t.equal(stored?.loginEpoch, 0, 'the login epoch stays: what a login must prove is the same')
  t.equal((await app.inject({ url: '/api/dashboard', headers: { cookie: session } })).statusCode, 200, 'the session goes on')
  t.equal((await postLogin(app, 'veteran')).statusCode, 200, 'the same password logs in under the new hash')
  t.equal((await postLogin(app, 'veteran', 'not the password')).statusCode, 401)

  t.notOk(await records.upgradeHash(user.id, older, await hashPassword(PASSWORD)), 'an upgrade of a hash since replaced writes nothing')
  t.equal((await storedAccount(app, 'veteran'))?.passwordHash, stored?.passwordHash)
})

t.test('a flood of logins at unknown names is refused at once past the queue bound, with Retry-After; the rest are judged', async (t) => {
  const app = await build(t, { LOGIN_RATE_LIMIT_MAX: '10000', MAX_EVENT_LOOP_DELAY_MS: '0' })
  const answers: Array<{ status: number; retryAfter: string | undefined; order: number }> = []
  let answered = 0
  await Promise.all(
    Array.from({ length: 60 }, async (_, i) => {
      const response = await postLogin(app, `unknown-${i}`, 'a guess at nothing')
      answers.push({ status: response.statusCode, retryAfter: response.headers['retry-after'] as string | undefined, order: answered++ })
      if (response.statusCode === 503) t.equal(response.json().code, 'OVERLOADED')
    }),
  )
  const refused = answers.filter((answer) => answer.status === 503)
  const judged = answers.filter((answer) => answer.status === 401)
  t.equal(refused.length + judged.length, 60, 'each is judged (401) or refused (503), nothing else')
  t.ok(refused.length > 0, `${refused.length} refused`)
  t.ok(judged.length > 0, `${judged.length} judged`)
  t.ok(refused.every((answer) => Number(answer.retryAfter) >= 1 && Number(answer.retryAfter) <= Math.ceil(MAX_QUEUE_WAIT_MS / 1000) + 1), 'each with Retry-After')
  const lastJudged = Math.max(...judged.map((answer) => answer.order))
  t.ok(refused.every((answer) => answer.order < lastJudged), 'refused at once: before the queue drained')
  await postRegister(app, 'afterwards')
  t.equal((await postLogin(app, 'afterwards')).statusCode, 200, 'once it drains, logins are judged again')
})

t.test('a derivation whose turn comes after its deadline is not run: an attempt is never judged once the lock has let it go', async (t) => {
  const hash = await hashPassword(PASSWORD)
  const late = await verifyPassword(PASSWORD, hash, Date.now() - 1).catch((error: unknown) => error)
  t.match(late, { code: 'OVERLOADED', statusCode: 503, retryAfterSeconds: Number }, 'refused, unjudged, with when to retry')
  t.ok(await verifyPassword(PASSWORD, hash, Date.now() + 60_000), 'in time, it is judged')
  t.notOk(await verifyPassword('not it', hash))
})
