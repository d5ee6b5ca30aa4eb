import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { instancePairs, type Instance } from '../support/app-process.js'
import { call, type HttpReply } from '../support/client.js'
import { PASSWORD, PostgresServer, testRedis, uniquePrefix } from '../support/helper.js'
import { enrolled as enrolledVia, logIn, passwordStep, register } from '../support/flows.js'
import { ADMIN, RACE_ENV } from '../support/session-races.js'
import { steadyStep, totpCode } from '../support/totp.js'

// Two-factor login across two instances (each its own process, one Redis, real HTTP), with the requests that race
// sent at once, half to each instance.
t.setTimeout(300_000)

const redis = await testRedis()
// A PostgreSQL that logs every statement, so a test can wait until logins have read an account.
const postgres = await PostgresServer.start({ logStatements: true })
t.teardown(() => postgres.stop())
const prefix = uniquePrefix()
const env = { REDIS_URL: redis.url, REDIS_PREFIX: prefix, DATABASE_URL: postgres.url(), ...RACE_ENV, MAX_SESSIONS_PER_USER: '0' }
const [one, two] = (await instancePairs(t, env)()) as [Instance, Instance]
const ROUNDS = 8

/** Registers and logs in on instance one, and turns two-factor login on. */
const enrolled = (username: string) => enrolledVia(one, username)

const completeLogin = (via: Instance, pending: string, code: string) => call(via.url, 'POST', '/auth/login/mfa', { cookie: pending, body: { code } })
const statuses = (replies: HttpReply[]) => replies.map(({ status }) => status).sort()
const liveSessions = async (cookie: string) => ((await call(one.url, 'GET', '/auth/sessions', { cookie })).body.sessions as unknown[]).length

t.test('a pending login started on one instance completes on the other', async (t) => {
  const user = await enrolled('across')
  const pending = await passwordStep(one, 'across')
  const done = await completeLogin(two, pending, totpCode(user.secret, user.lastStep + 1))
  t.equal(done.status, 200)
  t.equal((await call(one.url, 'GET', '/auth/me', { cookie: done.cookie! })).status, 200, 'the session works on the first')
})

t.test('one TOTP code sent to two logins at once, one per instance: exactly one logs in', async (t) => {
  for (let round = 0; round < ROUNDS; round++) {
    const username = `same-code-${round}`
    const user = await enrolled(username)
    const pendings = await Promise.all([passwordStep(one, username), passwordStep(two, username)])
    const code = totpCode(user.secret, user.lastStep + 1)
    const replies = await Promise.all([completeLogin(one, pendings[0], code), completeLogin(two, pendings[1], code)])
    t.same(statuses(replies), [200, 401], `round ${round}: one 200, one 401`)
    t.equal(replies.find(({ status }) => status === 401)?.body.code, 'INVALID_MFA_CODE')
  }
})

t.test('one pending login completed twice at once with two right codes: one session, not two', async (t) => {
  for (let round = 0; round < ROUNDS; round++) {
    const username = `twice-${round}`
    const user = await enrolled(username)
    const pending = await passwordStep(one, username)
    const replies = await Promise.all([
      completeLogin(one, pending, totpCode(user.secret, user.lastStep + 1)),
      completeLogin(two, pending, user.recoveryCodes[0]!),
    ])
    const created = replies.filter(({ cookie }) => cookie !== null)
    t.equal(created.length, 1, `round ${round}: one session (${statuses(replies).join(', ')})`)
    const sessions = await liveSessions(created[0]!.cookie!)
    // The enrolling session may have been ended by the recovery code (it ends every other one); never more than two.
    t.ok(sessions === 1 || sessions === 2, `round ${round}: ${sessions} sessions listed`)
  }
})

t.test('one recovery code sent to two logins at once: exactly one logs in', async (t) => {
  for (let round = 0; round < ROUNDS; round++) {
    const username = `recovery-${round}`
    const user = await enrolled(username)
    const pendings = await Promise.all([passwordStep(one, username), passwordStep(two, username)])
    const code = user.recoveryCodes[round % 10]!
    const replies = await Promise.all([completeLogin(one, pendings[0], code), completeLogin(two, pendings[1], code)])
    t.same(statuses(replies), [200, 401], `round ${round}`)
  }
})

interface LoginRace {
  username: string
  /** When logins start: one every `staggerMs`, 12 in all, alternating between the instances. */
  staggerMs: number
  /** The change is sent once this resolves (made before the logins start). */
  changeWhen: Promise<unknown>
  change: () => Promise<HttpReply>
}

/**
 * Logins with the password alone on both instances while `change` runs, so that some read the credentials before the
 * change and create their session after it (a login waits its turn for a key derivation in between). Answers what
 * came of them, and how many of the sessions they made still answer once everything has settled.
 */
async function loginsDuring({ username, staggerMs, changeWhen, change }: LoginRace) {
  const logins = Array.from({ length: 12 }, async (_, i) => {
    await sleep(i * staggerMs)
    return call([one, two][i % 2]!.url, 'POST', '/auth/login', { body: { username, password: PASSWORD } })
  })
  await changeWhen
  const changed = await change()
  const replies = await Promise.all(logins)
  const made = replies.filter(({ cookie }) => cookie !== null)
  const stillLive = await Promise.all(made.map(({ cookie }) => call(two.url, 'GET', '/auth/me', { cookie: cookie! })))
  const count = (code: string) => replies.filter(({ body }) => body.code === code).length
  return { changed, replies, made: made.length, survivors: stillLive.filter(({ status }) => status === 200).length, interrupted: count('LOGIN_INTERRUPTED'), count }
}

const adminCookie = logIn(one, ADMIN.ADMIN_USERNAME)
/** Every live session of the user, as an admin sees them. */
const listedFor = async (username: string) =>
  ((await call(one.url, 'GET', `/admin/users/${username}/sessions`, { cookie: await adminCookie })).body.sessions as unknown[]).length

t.test('two-factor login turned on while password-only logins are in flight: none of their sessions survives', async (t) => {
  const tally = { sessions: 0, refused: 0, mfaRequired: 0 }
  for (let round = 0; round < ROUNDS; round++) {
    const username = `enable-race-${round}`
    await register(one, username)
    const cookie = await logIn(one, username)
    const { secret } = (await call(one.url, 'POST', '/auth/mfa/totp', { cookie })).body as { secret: string }
    const step = await steadyStep()
    const confirm = () => call(two.url, 'POST', '/auth/mfa/totp/confirm', { cookie, body: { code: totpCode(secret, step) } })
    const outcome = await loginsDuring({ username, staggerMs: 25, changeWhen: sleep(100), change: confirm })
    t.equal(outcome.changed.status, 200, `round ${round}: turned on`)
    t.equal(outcome.survivors, 0, `round ${round}: of ${outcome.made} password-only sessions, none answers`)
    t.equal(await listedFor(username), 1, `round ${round}: only the enabling session is listed`)
    tally.sessions += outcome.made
    tally.refused += outcome.interrupted
    tally.mfaRequired += outcome.replies.filter(({ body }) => body.mfaRequired === true).length
  }
  t.comment(`password-only logins racing the change: ${JSON.stringify(tally)}`)
})

t.test('a password change while logins with the old password are in flight: none of their sessions survives', async (t) => {
  const tally = { sessions: 0, refused: 0, wrongPassword: 0 }
  for (let round = 0; round < ROUNDS; round++) {
    const username = `password-race-${round}`
    await register(one, username)
    const cookie = await logIn(one, username)
    // The change takes two key derivations of its own (the current password, the new one's hash): started first.
    const outcome = await loginsDuring({
      username,
      staggerMs: 25,
      changeWhen: sleep(0),
      change: () => call(two.url, 'PUT', '/auth/password', { cookie, body: { currentPassword: PASSWORD, newPassword: `new password ${round}` } }),
    })
    t.equal(outcome.changed.status, 204, `round ${round}: changed`)
    t.equal(outcome.survivors, 0, `round ${round}: of ${outcome.made} old-password sessions, none answers`)
    t.equal(await listedFor(username), 1, `round ${round}: only the changing session is listed`)
    tally.sessions += outcome.made
    tally.refused += outcome.interrupted
    tally.wrongPassword += outcome.count('INVALID_CREDENTIALS')
  }
  t.comment(`old-password logins racing the change: ${JSON.stringify(tally)}`)
})

/**
 * `done`: a promise that resolves when PostgreSQL has served `count` reads of the user's account by name, as its log
 * shows them: each login reads it once, before it waits its turn for a key derivation.
 */
function userReads(username: string, count: number): { done: Promise<void> } {
  let seen = 0
  let stop = () => {}
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`saw ${seen} of ${count} reads of ${username}'s account`)), 20_000)
    stop = postgres.onStatement((statement, parameters) => {
      if (!statement.includes('lower(username) =') || !parameters.includes(`'${username.toLowerCase()}'`) || ++seen < count) return
      clearTimeout(timer)
      resolve()
    })
  })
  return { done: done.finally(() => stop()) }
}

/**
 * Every way of ending all of a user's sessions, raced against 12 logins that have all read the credentials before it
 * is sent (PostgreSQL's log shows their reads) and wait in the key-derivation queue while it runs: none of their sessions
 * survives, so "ended everywhere" holds for logins in flight too.
 */
const endings: [string, (username: string, cookie: string) => Promise<HttpReply>, number][] = [
  ['logout everywhere', (_username, cookie) => call(two.url, 'POST', '/auth/logout', { cookie, body: { everywhere: true } }), 0],
  ['ending all my other sessions', (_username, cookie) => call(two.url, 'DELETE', '/auth/sessions', { cookie }), 1],
  ["an admin's end", async (username) => call(two.url, 'DELETE', `/admin/users/${username}/sessions`, { cookie: await adminCookie }), 0],
]
for (const [ending, end, keptSessions] of endings) {
  t.test(`${ending} while logins are in flight: none of their sessions survives`, async (t) => {
    const tally = { sessions: 0, refused: 0 }
    for (let round = 0; round < ROUNDS; round++) {
      const username = `${ending.replace(/\W+/g, '-')}-${round}`.slice(0, 32)
      await register(one, username)
      const cookie = await logIn(one, username)
      const allRead = userReads(username, 12)
      const outcome = await loginsDuring({ username, staggerMs: 0, changeWhen: allRead.done, change: () => end(username, cookie) })
      t.ok(outcome.changed.status < 300, `round ${round}: ended (${outcome.changed.status})`)
      t.equal(outcome.survivors, 0, `round ${round}: of ${outcome.made} sessions made by logins in flight, none answers`)
      t.equal(await listedFor(username), keptSessions, `round ${round}: ${keptSessions} listed`)
      tally.sessions += outcome.made
      tally.refused += outcome.interrupted
    }
    t.comment(`logins racing ${ending}: ${JSON.stringify(tally)}`)
  })
}
