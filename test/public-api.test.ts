import t from 'tap'
import { build, json, jsonWith, loggedIn, postLogin, sessionCookie } from './support/helper.js'

// app.sessions and app.accounts: what a host's own code may do with users, on the host's instance, with the same
// effects as the admin API.

const ADMIN = { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'admin-password', LOGIN_RATE_LIMIT_MAX: '100' }
const NOT_AN_ID = 'not-a-uuid'
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000'

t.test('app.sessions lists a user\'s sessions by handle, ends one, and ends all', async (t) => {
  const app = await build(t, ADMIN)
  const first = await loggedIn(app, 'many')
  await postLogin(app, 'many')
  const second = sessionCookie(await postLogin(app, 'many'))
  const account = (await app.accounts.find({ username: 'MANY' }))!
  const listed = await app.sessions.list(account.id)
  t.equal(listed.length, 3)
  t.notOk(listed.some((session) => 'current' in session), 'no request, so no "current"')
  t.notOk(JSON.stringify(listed).includes(first.slice(4, 20)), 'handles, never session IDs')

  const ownList = (await app.inject({ url: '/auth/sessions', headers: { cookie: first } })).json().sessions as Array<{ id: string; current: boolean }>
  const firstHandle = ownList.find((session) => session.current)!.id
  t.equal(await app.sessions.end(account.id, firstHandle), true)
  t.equal((await app.inject({ url: '/auth/me', headers: { cookie: first } })).statusCode, 401, 'the ended session is refused at once')
  t.equal(await app.sessions.end(account.id, firstHandle), false, 'ending it again: no such session')

  const token = (await app.inject({ method: 'POST', url: '/auth/tokens', ...jsonWith({ cookie: second }, { name: 'ci', scopes: ['read'] }) })).json().token as string
  t.same(await app.sessions.endAll(account.id), { sessions: 2, tokens: null }, 'access tokens stay unless asked for')
  t.equal((await app.inject({ url: '/auth/me', headers: { cookie: second } })).statusCode, 401)
  t.equal((await app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${token}` } })).statusCode, 200)
  t.same(await app.sessions.endAll(account.id, { tokens: true }), { sessions: 0, tokens: 1 })
  t.equal((await app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${token}` } })).statusCode, 401)
})

t.test('app.sessions answers an unknown or malformed user id with nothing, or USER_NOT_FOUND for endAll', async (t) => {
  const app = await build(t)
  t.same(await app.sessions.list(NOT_AN_ID), [])
  t.equal(await app.sessions.end(NOT_AN_ID, 'x'), false)
  await t.rejects(app.sessions.endAll(UNKNOWN_ID), { code: 'USER_NOT_FOUND', statusCode: 404 })
  await t.rejects(app.sessions.endAll(NOT_AN_ID), { code: 'USER_NOT_FOUND' })
})

t.test('app.accounts finds by id or by name in any case, never with a credential, and null for none', async (t) => {
  const app = await build(t)
  await loggedIn(app, 'Finder')
  const byName = await app.accounts.find({ username: 'finder' })
  t.match(byName, { username: 'Finder', roles: ['user'], state: 'active', mfa: false })
  t.same(await app.accounts.find({ id: byName!.id }), byName)
  t.notOk(JSON.stringify(byName).includes('scrypt'), 'no password hash')
  t.equal(await app.accounts.find({ username: 'nobody' }), null)
  t.equal(await app.accounts.find({ id: UNKNOWN_ID }), null)
  t.equal(await app.accounts.find({ id: NOT_AN_ID }), null)
})

t.test('app.accounts.setRoles ends the user\'s sessions, and refuses to demote the last admin', async (t) => {
  const app = await build(t, ADMIN)
  const cookie = await loggedIn(app, 'promoted')
  const user = (await app.accounts.find({ username: 'promoted' }))!
  t.same(await app.accounts.setRoles(user.id, ['user', 'admin']), { sessions: 1, tokens: 0 })
  t.equal((await app.inject({ url: '/auth/me', headers: { cookie } })).statusCode, 401, 'a session carries its roles: it ends')
  const again = sessionCookie(await postLogin(app, 'promoted'))
  t.equal((await app.inject({ url: '/admin/users', headers: { cookie: again } })).statusCode, 200, 'the next login has them')

  const root = (await app.accounts.find({ username: 'root' }))!
  await app.accounts.setRoles(user.id, ['user'])
  await t.rejects(app.accounts.setRoles(root.id, ['user']), { code: 'LAST_ADMIN', statusCode: 409 })
  t.ok((await app.accounts.find({ id: root.id }))!.roles.includes('admin'), 'nothing changed')
})

t.test('app.accounts.disable ends every session and refuses logins until enable; by names the admin', async (t) => {
  const app = await build(t, ADMIN)
  const cookie = await loggedIn(app, 'troublemaker')
  const user = (await app.accounts.find({ username: 'troublemaker' }))!
  const root = (await app.accounts.find({ username: 'root' }))!
  const until = new Date(Date.now() + 3_600_000)
  t.same(await app.accounts.disable(user.id, { by: root.id, reason: 'spam', until }), { sessions: 1, tokens: 0 })
  t.equal((await app.inject({ url: '/auth/me', headers: { cookie } })).statusCode, 401)
  t.equal((await postLogin(app, 'troublemaker')).json().code, 'ACCOUNT_DISABLED')
  t.match((await app.accounts.find({ id: user.id }))!.disabled, { reason: 'spam', by: root.id, until: until.toISOString() })

  await app.accounts.enable(user.id)
  t.equal((await postLogin(app, 'troublemaker')).statusCode, 200)
  await t.rejects(app.accounts.disable(UNKNOWN_ID), { code: 'USER_NOT_FOUND' })
})

t.test('a host route answers an error app.accounts throws in the service\'s shape', async (t) => {
  const app = await build(t, {}, undefined, {
    routes: async (host) => {
      host.post('/host/disable', async () => host.accounts.disable(UNKNOWN_ID))
    },
  })
  const response = await app.inject({ method: 'POST', url: '/host/disable', ...json({}) })
  t.equal(response.statusCode, 404)
  t.match(response.json(), { statusCode: 404, code: 'USER_NOT_FOUND', error: 'Not Found' })
})

t.test('app.accounts.remove deletes the account and ends what it held; the last admin stays', async (t) => {
  const app = await build(t, ADMIN)
  const cookie = await loggedIn(app, 'goner')
  const user = (await app.accounts.find({ username: 'goner' }))!
  t.same(await app.accounts.remove(user.id), { sessions: 1, tokens: 0 })
  t.equal((await app.inject({ url: '/auth/me', headers: { cookie } })).statusCode, 401)
  t.equal(await app.accounts.find({ id: user.id }), null)
  t.equal((await postLogin(app, 'goner')).json().code, 'INVALID_CREDENTIALS')
  await t.rejects(app.accounts.remove(user.id), { code: 'USER_NOT_FOUND' })
  await t.rejects(app.accounts.remove((await app.accounts.find({ username: 'root' }))!.id), { code: 'LAST_ADMIN' })
})
