import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { instancePairs, type Instance } from './app-process.js'
import { call, type HttpReply } from './http-client.js'
import { PASSWORD, testRedis, uniquePrefix } from './helper.js'
import { logIn, RACE_ENV, register } from './session-races.js'
import { steadyStep, totpCode } from './totp.js'

// Two-factor login across two instances (each its own process, one Redis, real HTTP), with the requests that race
// sent at once, half to each instance.
t.setTimeout(300_000)

const redis = await testRedis()
const prefix = uniquePrefix()
const env = { REDIS_URL: redis.url, REDIS_PREFIX: prefix, ...RACE_ENV, MAX_SESSIONS_PER_USER: '0' }
const [one, two] = (await instancePairs(t, env)()) as [Instance, Instance]
const ROUNDS = 8

interface Enrolled {
  cookie: string
  secret: string
  recoveryCodes: string[]
  /** Steps above this are unused. */
  lastStep: number
}

/** Registers and logs in on instance one, and turns two-factor login on with the code of the step before now. */
async function enrolled(username: string): Promise<Enrolled> {
  await register(one, username)
  const cookie = await logIn(one, username)
  const { secret } = (await call(one.url, 'POST', '/auth/mfa/totp', { cookie })).body as { secret: string }
  const lastStep = (await steadyStep()) - 1
  const confirmed = await call(two.url, 'POST', '/auth/mfa/totp/confirm', { cookie, body: { code: totpCode(secret, lastStep) } })
  if (confirmed.status !== 200) throw new Error(`confirm: ${confirmed.status} ${JSON.stringify(confirmed.body)}`)
  return { cookie, secret, recoveryCodes: confirmed.body.recoveryCodes as string[], lastStep }
}

async function passwordStep(via: Instance, username: string): Promise<string> {
  const reply = await call(via.url, 'POST', '/auth/login', { body: { username, password: PASSWORD } })
  if (reply.status !== 200 || !reply.cookies['sid-mfa']) throw new Error(`password step: ${reply.status} ${JSON.stringify(reply.body)}`)
  return reply.cookies['sid-mfa']
}

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

/**
 * Logins with the password alone, on both instances, started one every 25 ms around `change` (run on one of them after
 * `changeAfterMs`), so that some read the credentials before the change and create their session after it (a login
 * waits its turn for a key derivation in between): whatever the interleaving, no session proved by the old
 * credentials outlives the change.
 */
async function loginsDuring(username: string, changeAfterMs: number, change: () => Promise<HttpReply>, keep: () => string) {
  const logins = Array.from({ length: 12 }, async (_, i) => {
    await sleep(i * 25)
    return call([one, two][i % 2]!.url, 'POST', '/auth/login', { body: { username, password: PASSWORD } })
  })
  await sleep(changeAfterMs)
  const changed = await change()
  const replies = await Promise.all(logins)
  const made = replies.filter(({ cookie }) => cookie !== null)
  const stillLive = await Promise.all(made.map(({ cookie }) => call(two.url, 'GET', '/auth/me', { cookie: cookie! })))
  return { changed, replies, made: made.length, survivors: stillLive.filter(({ status }) => status === 200).length, listed: await liveSessions(keep()) }
}

t.test('two-factor login turned on while password-only logins are in flight: none of their sessions survives', async (t) => {
  const tally = { sessions: 0, refused: 0, mfaRequired: 0 }
  for (let round = 0; round < ROUNDS; round++) {
    const username = `enable-race-${round}`
    await register(one, username)
    const cookie = await logIn(one, username)
    const { secret } = (await call(one.url, 'POST', '/auth/mfa/totp', { cookie })).body as { secret: string }
    const step = await steadyStep()
    const confirm = () => call(two.url, 'POST', '/auth/mfa/totp/confirm', { cookie, body: { code: totpCode(secret, step) } })
    const outcome = await loginsDuring(username, 100, confirm, () => cookie)
    t.equal(outcome.changed.status, 200, `round ${round}: turned on`)
    t.equal(outcome.survivors, 0, `round ${round}: of ${outcome.made} password-only sessions, none answers`)
    t.equal(outcome.listed, 1, `round ${round}: only the enabling session is listed`)
    tally.sessions += outcome.made
    tally.refused += outcome.replies.filter(({ body }) => body.code === 'CREDENTIALS_CHANGED').length
    tally.mfaRequired += outcome.replies.filter(({ body }) => body.mfaRequired === true).length
  }
  t.comment(`password-only logins racing the change: ${JSON.stringify(tally)}`)
})

t.test('a password change while logins with the old password are in flight: none of their sessions survives', async (t) => {
  const tally = { sessions: 0, refused: 0, wrongPassword: 0 }
  for (let round = 0; round < ROUNDS; round++) {
    const username = `password-race-${round}`
    await register(one, username)
    let cookie = await logIn(one, username)
    // The change takes two key derivations of its own (the current password, the new one's hash): started first.
    const outcome = await loginsDuring(
      username,
      0,
      async () => {
        const reply = await call(two.url, 'PUT', '/auth/password', { cookie, body: { currentPassword: PASSWORD, newPassword: `new password ${round}` } })
        cookie = reply.cookie ?? cookie
        return reply
      },
      () => cookie,
    )
    t.equal(outcome.changed.status, 204, `round ${round}: changed`)
    t.equal(outcome.survivors, 0, `round ${round}: of ${outcome.made} old-password sessions, none answers`)
    t.equal(outcome.listed, 1, `round ${round}: only the changing session is listed`)
    tally.sessions += outcome.made
    tally.refused += outcome.replies.filter(({ body }) => body.code === 'CREDENTIALS_CHANGED').length
    tally.wrongPassword += outcome.replies.filter(({ body }) => body.code === 'INVALID_CREDENTIALS').length
  }
  t.comment(`old-password logins racing the change: ${JSON.stringify(tally)}`)
})
