import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { instancePairs, type Instance } from '../support/app-process.js'
import { logIn, PASSWORD, register, registerWithEmail } from '../support/flows.js'
import { linkOf, testMail, testRedis, uniquePrefix } from '../support/helper.js'

// A password change in flight against what an admin or the owner does meanwhile, on two instances run as separate
// processes: the change proved the account as it was, so a disable, a demotion or a reset that lands first wins, and
// the change answers as a request after it would (401), changing nothing and leaving no session behind.

const NEW_PASSWORD = 'the thief wants this one'
const ADMIN = { username: 'root', password: 'an admin passphrase' }

async function setup(t: Test) {
  const mail = await testMail()
  const env = {
    REDIS_URL: (await testRedis()).url,
    REDIS_PREFIX: uniquePrefix(),
    SMTP_URL: mail.url,
    PUBLIC_URL: 'https://app.example.test',
    LOGIN_RATE_LIMIT_MAX: '1000',
    ACCOUNT_LOCK_THRESHOLD: '100',
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_PASSWORD: ADMIN.password,
  }
  const [slow, other] = await instancePairs(t, env)()
  const admin = await logIn(other!, ADMIN.username, ADMIN.password)
  return { slow: slow!, other: other!, admin, mail }
}

/**
 * Fills the instance's queue of key derivations with logins at unknown names (each its own name, so no lock stops
 * them), so that a password check sent next waits its turn: the window in which another instance acts, made long.
 */
function occupyHashing(instance: Instance): Promise<unknown> {
  const names = Array.from({ length: 8 }, (_, i) => `nobody-${i}-${Math.random().toString(36).slice(2, 8)}`)
  return Promise.all(names.map((username) => instance.call('POST', '/auth/login', { body: { username, password: 'not a password' } })))
}

/**
 * Sends the password change behind a full queue and, once it is surely waiting there (its session loaded, its
 * password not yet checked), runs `meanwhile` elsewhere; the change's answer, checked to have come after.
 */
async function changeWhile(t: Test, instance: Instance, cookie: string, meanwhile: () => Promise<void>) {
  const queue = occupyHashing(instance)
  await sleep(50)
  let answeredAt = 0
  const change = instance.call('PUT', '/auth/password', { cookie, body: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD } })
    .then((answer) => ((answeredAt = performance.now()), answer))
  await sleep(200)
  await meanwhile()
  const doneAt = performance.now()
  const [answer] = await Promise.all([change, queue])
  t.ok(answeredAt > doneAt, 'the change was still in flight when the other change answered')
  return answer
}

const loginStatus = async (via: Instance, username: string, password: string) => (await via.call('POST', '/auth/login', { body: { username, password } })).status

t.test('an admin disables the account while its password change is in flight: the disable wins', async (t) => {
  const { slow, other, admin } = await setup(t)
  await register(slow, 'mallory')
  const cookie = await logIn(slow, 'mallory')
  const change = await changeWhile(t, slow, cookie, async () => {
    t.equal((await other.call('PATCH', '/admin/users/mallory', { cookie: admin, body: { disabled: true } })).status, 200, 'the disable answers first')
  })
  t.match(change, { status: 401, body: { code: 'SESSION_EXPIRED' } }, 'the change answers as if it came after the disable')
  for (const session of [cookie, change.cookie].filter((value) => value !== null)) {
    t.equal((await other.call('GET', '/auth/me', { cookie: session })).status, 401, 'no session of the disabled account lives')
  }
  t.equal((await other.call('POST', '/auth/tokens', { cookie: change.cookie ?? cookie, body: { name: 'stay', scopes: ['read'] } })).status, 401, 'and none makes a token')
  t.equal(await loginStatus(other, 'mallory', NEW_PASSWORD), 401, 'the new password was never set')
  t.equal(await loginStatus(other, 'mallory', PASSWORD), 403, 'the old one still meets the disable (ACCOUNT_DISABLED)')
})

t.test('an admin demotes an admin whose password change is in flight: the demotion wins', async (t) => {
  const { slow, other, admin } = await setup(t)
  await register(slow, 'deputy')
  t.equal((await other.call('PATCH', '/admin/users/deputy', { cookie: admin, body: { roles: ['admin', 'user'] } })).status, 200)
  const cookie = await logIn(slow, 'deputy')
  t.equal((await slow.call('GET', '/admin/users', { cookie })).status, 200, 'an admin for now')
  const change = await changeWhile(t, slow, cookie, async () => {
    t.equal((await other.call('PATCH', '/admin/users/deputy', { cookie: admin, body: { roles: ['user'] } })).status, 200, 'the demotion answers first')
  })
  t.match(change, { status: 401, body: { code: 'SESSION_EXPIRED' } })
  const kept = change.cookie ?? cookie
  t.equal((await other.call('PATCH', '/admin/users/deputy', { cookie: kept, body: { roles: ['admin', 'user'] } })).status, 401, 'no session left to promote itself back')
  t.equal(await loginStatus(other, 'deputy', NEW_PASSWORD), 401, 'the new password was never set')
  const again = await logIn(other, 'deputy')
  t.equal((await other.call('GET', '/admin/users', { cookie: again })).status, 403, 'a new login carries the new roles')
})

t.test("the owner's reset lands while a thief's password change is in flight: the owner's password is the one that works", async (t) => {
  const { slow, other, mail } = await setup(t)
  await registerWithEmail(other, 'olive', 'olive@example.test')
  const [confirm] = await mail.waitFor('olive@example.test', 1, /Confirm your/)
  t.equal((await other.call('POST', '/auth/email/verify', { body: { token: linkOf(confirm!).token } })).status, 200)
  const stolen = await logIn(slow, 'olive')
  t.equal((await other.call('POST', '/auth/password/forgot', { body: { email: 'olive@example.test' } })).status, 202)
  const [resetMail] = await mail.waitFor('olive@example.test', 1, /Reset your/)
  const change = await changeWhile(t, slow, stolen, async () => {
    const reset = await other.call('POST', '/auth/password/reset', { body: { token: linkOf(resetMail!).token, newPassword: 'the owner chose this one' } })
    t.equal(reset.status, 204, 'the reset answers first')
  })
  t.match(change, { status: 401, body: { code: 'SESSION_EXPIRED' } }, "the thief's change is refused")
  t.equal((await other.call('GET', '/auth/me', { cookie: change.cookie ?? stolen })).status, 401, 'and the thief has no session')
  t.equal(await loginStatus(other, 'olive', 'the owner chose this one'), 200, "the owner's new password works")
  t.equal(await loginStatus(other, 'olive', NEW_PASSWORD), 401, "the thief's does not")
})

t.test('a session ended on another instance while its password change is in flight gets no new ID', async (t) => {
  const { slow, other } = await setup(t)
  await register(slow, 'twice')
  const doomed = await logIn(slow, 'twice')
  const keeper = await logIn(other, 'twice')
  const doomedHandle = ((await other.call('GET', '/auth/sessions', { cookie: keeper })).body.sessions as { id: string; current: boolean }[])
    .find((session) => !session.current)!.id
  const change = await changeWhile(t, slow, doomed, async () => {
    t.equal((await other.call('DELETE', `/auth/sessions/${doomedHandle}`, { cookie: keeper })).status, 204, 'the end answers first')
  })
  t.equal(change.status, 401, 'the rotation finds its session ended')
  if (change.cookie !== null) t.equal((await other.call('GET', '/auth/me', { cookie: change.cookie })).status, 401, 'no new ID was brought to life')
  t.equal((await other.call('GET', '/auth/me', { cookie: doomed })).status, 401)
})
