import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { injected, type Client } from '../support/client.js'
import { enrolled, logIn, loggedIn, passwordStep, PASSWORD, register } from '../support/flows.js'
import { build, json, storedAccount, testRedis, uniquePrefix } from '../support/helper.js'

// Admins list, disable, re-enable, re-role and delete accounts; users delete their own. What a change ends, it ends
// at once on every instance.

const ADMIN = { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: PASSWORD }

async function setup(t: Test, env: Record<string, string> = {}) {
  const app = await build(t, { ...ADMIN, ...env })
  const via = injected(app)
  const admin = await logIn(via, 'root')
  const as = (cookie: string) => ({
    get: (path: string) => via.call('GET', path, { cookie }),
    patch: (path: string, body: unknown) => via.call('PATCH', path, { cookie, body }),
    delete: (path: string) => via.call('DELETE', path, { cookie }),
  })
  return { app, via, admin: as(admin), as }
}

interface Listed {
  id: string
  username: string
  state: string
}
const usernames = (reply: { body: Record<string, unknown> }) => (reply.body.users as Listed[]).map((user) => user.username)

const loginStatus = async (via: Client, username: string, password = PASSWORD) =>
  (await via.call('POST', '/auth/login', { body: { username, password } })).status

t.test('GET /admin/users pages through every user once, sorted, while users are added; search, role and state filter', async (t) => {
  const { via, admin } = await setup(t)
  for (const name of ['delta', 'alpha', 'Charlie', 'echo', 'bravo', 'fox_trot', 'golf']) await register(via, name)
  const seen: string[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const page = await admin.get(`/admin/users?limit=3${cursor ? `&cursor=${cursor}` : ''}`)
    t.equal(page.status, 200)
    const names = (page.body.users as Array<{ username: string }>).map((user) => user.username)
    seen.push(...names)
    cursor = page.body.nextCursor as string | null
    // Added while paging: one before the cursor (not seen on this walk), one after (seen).
    if (pages++ === 0) for (const name of ['aardvark', 'zulu']) await register(via, name)
  } while (cursor !== null)
  t.same(seen, ['alpha', 'bravo', 'Charlie', 'delta', 'echo', 'fox_trot', 'golf', 'root', 'zulu'], 'each once, in order of the lower-cased name')
  t.same(usernames(await admin.get('/admin/users?search=FOX_')), ['fox_trot'], 'a prefix, any case, _ literal')
  t.same(usernames(await admin.get('/admin/users?role=admin')), ['root'])
  await admin.patch('/admin/users/golf', { disabled: true })
  t.same(usernames(await admin.get('/admin/users?state=disabled')), ['golf'])
  t.equal((await admin.get('/admin/users?limit=201')).status, 400, 'at most 200 a page')
  const [first] = (await admin.get('/admin/users')).body.users as Listed[]
  t.same(Object.keys(first!).sort(), ['createdAt', 'disabled', 'id', 'lastLoginAt', 'mfa', 'roles', 'state', 'username'], 'never a credential')
})

t.test('GET /admin/users/:username: state, last login, two-factor login, sessions and tokens', async (t) => {
  const { via, admin } = await setup(t)
  const user = await enrolled(via, 'detailed')
  await via.call('POST', '/auth/tokens', { cookie: user.cookie, body: { name: 'ci', scopes: ['read'] } })
  const detail = await admin.get('/admin/users/DETAILED')
  t.equal(detail.status, 200)
  t.match(detail.body, { username: 'detailed', roles: ['user'], state: 'active', disabled: null, mfa: true, sessions: 1, tokens: 1 })
  t.ok(Date.parse(String(detail.body.lastLoginAt)) > Date.now() - 60_000, 'the last login')
  t.equal((await admin.get('/admin/users/nobody')).body.code, 'USER_NOT_FOUND')
})

t.test('a disable ends every session, bearer session and token at once; the login tells nothing without the password', async (t) => {
  const { via, admin } = await setup(t)
  const cookie = await loggedIn(via, 'mallory')
  const bearer = (await via.call('POST', '/auth/login', { body: { username: 'mallory', password: PASSWORD, transport: 'token' } })).body.token
  const token = (await via.call('POST', '/auth/tokens', { cookie, body: { name: 'ci', scopes: ['read', 'write'] } })).body.token
  const disabled = await admin.patch('/admin/users/mallory', { disabled: true, reason: 'compromised' })
  t.equal(disabled.status, 200)
  t.match(disabled.body, { user: { state: 'disabled', disabled: { reason: 'compromised', until: null } }, ended: { sessions: 2, tokens: 1 } })
  t.equal((await via.call('GET', '/api/dashboard', { cookie })).status, 401, 'the cookie session has ended')
  t.equal((await via.call('GET', '/api/dashboard', { authorization: `Bearer ${bearer}` })).status, 401, 'the bearer session too')
  t.equal((await via.call('GET', '/api/dashboard', { authorization: `Bearer ${token}` })).status, 401, 'and the access token')
  const wrong = await via.call('POST', '/auth/login', { body: { username: 'mallory', password: 'not the password' } })
  t.same([wrong.status, wrong.body.code], [401, 'INVALID_CREDENTIALS'], 'a wrong password: as for any account')
  const right = await via.call('POST', '/auth/login', { body: { username: 'mallory', password: PASSWORD } })
  t.same([right.status, right.body.code], [403, 'ACCOUNT_DISABLED'], 'the right one: disabled, no session')
  t.equal(right.cookie, null)
  t.equal(((await admin.patch('/admin/users/mallory', { disabled: false })).body.user as Listed).state, 'active')
  t.equal(await loginStatus(via, 'mallory'), 200, 'enabled again')
  t.equal((await admin.patch('/admin/users/mallory', { reason: 'why' })).status, 400, 'a reason without a disable')
  t.equal((await admin.patch('/admin/users/mallory', { disabled: true, until: '2001-01-01T00:00:00Z' })).status, 400, 'an until in the past')
})

t.test('a disable voids a login waiting for its second factor', async (t) => {
  const { via, admin } = await setup(t)
  const user = await enrolled(via, 'halfway')
  const pending = await passwordStep(via, 'halfway')
  await admin.patch('/admin/users/halfway', { disabled: true })
  const completed = await via.call('POST', '/auth/login/mfa', { cookie: pending, body: { code: user.recoveryCodes[0] } })
  t.same([completed.status, completed.body.code], [401, 'LOGIN_INTERRUPTED'], 'the pending login is void')
  t.equal(completed.cookie, null, 'no session')
})

t.test('a temporary disable lifts itself at until', async (t) => {
  const { via, admin } = await setup(t)
  await register(via, 'benched')
  const until = new Date(Date.now() + 1500).toISOString()
  t.equal((await admin.patch('/admin/users/benched', { disabled: true, until })).status, 200)
  t.equal(await loginStatus(via, 'benched'), 403)
  await sleep(1600)
  t.equal(await loginStatus(via, 'benched'), 200, 'active again, with no one acting')
})

t.test('roles taken away apply to the next request on every instance: the sessions end', async (t) => {
  const env = { ...ADMIN, REDIS_PREFIX: uniquePrefix() }
  const [one, two] = [injected(await build(t, env)), injected(await build(t, env))]
  const root = await logIn(one, 'root')
  await register(one, 'deputy')
  t.equal((await one.call('PATCH', '/admin/users/deputy', { cookie: root, body: { roles: ['admin', 'user'] } })).status, 200)
  const deputy = await logIn(two, 'deputy')
  t.equal((await two.call('GET', '/admin/users', { cookie: deputy })).status, 200, 'an admin on instance two')
  const demoted = await one.call('PATCH', '/admin/users/deputy', { cookie: root, body: { roles: ['user'] } })
  t.match(demoted.body, { user: { roles: ['user'] }, ended: { sessions: 1 } })
  for (const via of [one, two]) t.equal((await via.call('GET', '/admin/users', { cookie: deputy })).status, 401, 'its session has ended')
  t.equal((await two.call('GET', '/admin/users', { cookie: await logIn(two, 'deputy') })).status, 403, 'a new login has the new roles')
})

t.test('the last active admin cannot be disabled, demoted or deleted, even by two admins at once', async (t) => {
  const { via, admin, as } = await setup(t)
  for (const change of [{ disabled: true }, { roles: ['user'] }]) {
    const refused = await admin.patch('/admin/users/root', change)
    t.same([refused.status, refused.body.code], [409, 'LAST_ADMIN'], JSON.stringify(change))
  }
  t.equal((await admin.delete('/admin/users/root')).body.code, 'LAST_ADMIN')
  const self = await via.call('DELETE', '/auth/account', { cookie: await logIn(via, 'root'), body: { password: PASSWORD } })
  t.equal(self.body.code, 'LAST_ADMIN', 'nor delete their own account')
  await register(via, 'second')
  await admin.patch('/admin/users/second', { roles: ['admin', 'user'] })
  const second = as(await logIn(via, 'second'))
  const root = as(await logIn(via, 'root'))
  const both = await Promise.all([root.patch('/admin/users/root', { roles: ['user'] }), second.patch('/admin/users/second', { roles: ['user'] })])
  t.same(both.map(({ status }) => status).sort(), [200, 409], 'two admins demoting themselves at once: one stays admin')
})

t.test('a deleted account leaves nothing behind in PostgreSQL or Redis, and its name is free again', async (t) => {
  const prefix = uniquePrefix()
  const { app, via, admin } = await setup(t, { REDIS_PREFIX: prefix })
  const user = await enrolled(via, 'Leaving')
  await via.call('POST', '/auth/tokens', { cookie: user.cookie, body: { name: 'ci', scopes: ['read'] } })
  await passwordStep(via, 'leaving')
  await via.call('POST', '/auth/login', { body: { username: 'leaving', password: 'a wrong password' } })
  const deleted = await admin.delete('/admin/users/leaving')
  t.match(deleted.body, { deleted: true, ended: { sessions: 1, tokens: 1 } })
  t.equal(await storedAccount(app, 'leaving'), undefined, 'no row in PostgreSQL')
  const redis = (await testRedis()).client(t)
  const keys = await redis.keys(`${prefix}*`)
  const values = await Promise.all(keys.map(async (key) => JSON.stringify([key, await redis.dump(key)])))
  t.same(values.filter((value) => value.toLowerCase().includes('leaving') || value.includes(user.cookie.split('=')[1]!)), [], 'no key of it, no value naming it')
  t.same(usernames(await admin.get('/admin/users?search=root')), ['root'], 'the admin is still there')
  // First: a route that reads no account (GET /auth/me finds the account gone and ends the session itself).
  t.equal((await via.call('GET', '/api/dashboard', { cookie: user.cookie })).status, 401, 'its session opens no route, not even one that reads no account')
  t.equal((await via.call('GET', '/auth/me', { cookie: user.cookie })).status, 401)
  t.equal((await via.call('POST', '/auth/register', { body: { username: 'leaving', password: PASSWORD } })).status, 201, 'the name can be registered again')
})

t.test('DELETE /auth/account: my password (and code) deletes everything of mine', async (t) => {
  const { app, via } = await setup(t)
  const cookie = await loggedIn(via, 'quitter')
  const wrong = await via.call('DELETE', '/auth/account', { cookie, body: { password: 'not my password' } })
  t.same([wrong.status, wrong.body.code], [401, 'INVALID_CREDENTIALS'])
  t.equal(await loginStatus(via, 'quitter'), 200, 'nothing was deleted')
  const done = await via.call('DELETE', '/auth/account', { cookie, body: { password: PASSWORD } })
  t.equal(done.status, 204)
  const cleared = await app.inject({ method: 'DELETE', url: '/auth/account', ...json({ password: PASSWORD }), headers: { 'content-type': 'application/json', 'cookie': await loggedIn(via, 'quitter2') } })
  t.equal(cleared.statusCode, 204)
  t.equal(cleared.cookies.find((c) => c.name === 'sid')?.maxAge, 0, 'the answer clears the cookie')
  t.equal((await via.call('GET', '/auth/me', { cookie })).status, 401, 'my session has ended')
  t.equal((await via.call('GET', '/api/dashboard', { cookie })).status, 401, 'and opens no route')
  t.equal(await loginStatus(via, 'quitter'), 401, 'the account is gone')
  const mfa = await enrolled(via, 'careful')
  const noCode = await via.call('DELETE', '/auth/account', { cookie: mfa.cookie, body: { password: PASSWORD } })
  t.equal(noCode.body.code, 'MFA_CODE_REQUIRED', 'with two-factor login on, the code too')
  t.equal((await via.call('DELETE', '/auth/account', { cookie: mfa.cookie, body: { password: PASSWORD, code: mfa.recoveryCodes[0] } })).status, 204)
})

t.test("an admin revokes one of a user's access tokens; the others stay", async (t) => {
  const { via, admin } = await setup(t)
  const cookie = await loggedIn(via, 'holder')
  const made = await Promise.all(['one', 'two'].map((name) => via.call('POST', '/auth/tokens', { cookie, body: { name, scopes: ['read'] } })))
  const tokens = (await admin.get('/admin/users/holder/tokens')).body.tokens as { id: string; name: string }[]
  const one = tokens.find((token) => token.name === 'one')!
  t.equal((await admin.delete(`/admin/users/holder/tokens/${one.id}`)).status, 204)
  t.match(await admin.delete(`/admin/users/holder/tokens/${one.id}`), { status: 404, body: { code: 'TOKEN_NOT_FOUND' } }, 'once')
  const [first, second] = made.map((reply) => `Bearer ${reply.body.token as string}`)
  t.equal((await via.call('GET', '/api/dashboard', { authorization: first })).status, 401, 'the revoked token opens nothing')
  t.equal((await via.call('GET', '/api/dashboard', { authorization: second })).status, 200, 'the other still works')
  t.match(await admin.delete(`/admin/users/nobody/tokens/${one.id}`), { status: 404, body: { code: 'USER_NOT_FOUND' } })
  t.match(await admin.delete('/admin/users/holder/tokens/short'), { status: 400, body: { code: 'VALIDATION' } })
})

t.test('bad admin input answers 400, never 500: a leap second, a NUL in a name or a cursor', async (t) => {
  const { admin } = await setup(t)
  const leap = await admin.patch('/admin/users/root', { disabled: true, until: '2030-06-30T23:59:60Z' })
  t.match(leap, { status: 400, body: { code: 'VALIDATION' } }, 'a leap second')
  for (const path of ['/admin/users/a%00b', '/admin/users/a%00b/sessions', '/admin/users/a%00b/mfa', '/admin/users/a%00b/tokens']) {
    t.match(await admin.get(path), { status: 400, body: { code: 'VALIDATION' } }, `a NUL in ${path}`)
  }
  const nul = Buffer.from('a\0b').toString('base64url')
  t.match(await admin.get(`/admin/users?cursor=${nul}`), { status: 400, body: { code: 'VALIDATION' } }, 'a cursor that decodes to a NUL')
  t.equal((await admin.get('/admin/users?cursor=cm9vdA')).status, 200, 'a cursor as a page gives it (root) still works')
})

t.test('an admin PATCH of roles and state is one change: one epoch raise, and nothing changes when any part is refused', async (t) => {
  const { app, via, admin } = await setup(t)
  await register(via, 'changed')
  const epochOf = async (username: string) => (await storedAccount(app, username))!.loginEpoch
  const before = await epochOf('changed')
  const both = await admin.patch('/admin/users/changed', { roles: ['user', 'auditor'], disabled: true, reason: 'review' })
  t.equal(both.status, 200)
  t.equal(await epochOf('changed'), before + 1, 'the login epoch moved once')
  t.same([(await storedAccount(app, 'changed'))!.roles, (both.body.user as Listed).state], [['user', 'auditor'], 'disabled'])

  // The last admin cannot be disabled: the roles sent with it are not applied either.
  const rootBefore = await storedAccount(app, 'root')
  const refused = await admin.patch('/admin/users/root', { roles: ['admin', 'user', 'auditor'], disabled: true })
  t.equal(refused.status, 409)
  t.equal(refused.body.code, 'LAST_ADMIN')
  const rootAfter = await storedAccount(app, 'root')
  t.same([rootAfter!.roles, rootAfter!.loginEpoch, rootAfter!.disabledAt], [rootBefore!.roles, rootBefore!.loginEpoch, null], 'roles, epoch and state unchanged')
})
