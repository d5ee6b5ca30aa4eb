import t from 'tap'
import { build, json, loggedIn, postLogin, sessionCookie, type App } from '../support/helper.js'

const ADMIN = { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'admin-password', LOGIN_RATE_LIMIT_MAX: '100' }

async function adminCookie(app: App): Promise<string> {
  return sessionCookie(await postLogin(app, 'root', 'admin-password'))
}

t.test('admin routes answer 403 FORBIDDEN to a user without the admin role, 401 without a session', async (t) => {
  const app = await build(t, ADMIN)
  const cookie = await loggedIn(app, 'plainuser')
  const forbidden = await app.inject({ url: '/admin/users/plainuser/sessions', headers: { cookie } })
  t.equal(forbidden.statusCode, 403)
  t.same(forbidden.json(), { statusCode: 403, error: 'Forbidden', message: 'This route needs a role you do not have', code: 'FORBIDDEN' })
  t.equal((await app.inject({ method: 'DELETE', url: '/admin/users/plainuser/sessions', headers: { cookie } })).statusCode, 403)
  t.equal((await app.inject({ url: '/admin/users/plainuser/sessions' })).json().code, 'UNAUTHENTICATED')
  t.equal((await app.inject({ url: '/api/dashboard', headers: { cookie } })).statusCode, 200, 'the user is still logged in')
})

t.test('an admin lists and ends every session of a user', async (t) => {
  const app = await build(t, ADMIN)
  const first = await loggedIn(app, 'watched')
  const second = sessionCookie(await postLogin(app, 'watched'))
  const admin = await adminCookie(app)
  const listed = await app.inject({ url: '/admin/users/WATCHED/sessions', headers: { cookie: admin } })
  t.equal(listed.statusCode, 200)
  t.equal(listed.json().sessions.length, 2)
  const created = await app.inject({ method: 'POST', url: '/auth/tokens', ...json({ name: 'ci', scopes: ['read'] }), headers: { 'cookie': first, 'content-type': 'application/json' } })
  const token = { authorization: `Bearer ${created.json().token}` }
  const ended = await app.inject({ method: 'DELETE', url: '/admin/users/watched/sessions', headers: { cookie: admin } })
  t.same(ended.json(), { revoked: 2, tokens: null }, 'tokens: null says they were left alone')
  for (const cookie of [first, second]) {
    t.equal((await app.inject({ url: '/api/dashboard', headers: { cookie } })).statusCode, 401)
  }
  t.equal((await app.inject({ url: '/api/dashboard', headers: token })).statusCode, 200, 'the access token still works')
  const withTokens = await app.inject({ method: 'DELETE', url: '/admin/users/watched/sessions?tokens=true', headers: { cookie: admin } })
  t.same(withTokens.json(), { revoked: 0, tokens: 1 }, '?tokens=true ends the tokens too')
  t.equal((await app.inject({ url: '/api/dashboard', headers: token })).statusCode, 401)
  t.equal((await app.inject({ url: '/api/dashboard', headers: { cookie: admin } })).statusCode, 200, 'the admin is still in')
})

t.test('admin routes answer 404 USER_NOT_FOUND for an unknown user', async (t) => {
  const app = await build(t, ADMIN)
  const admin = await adminCookie(app)
  for (const method of ['GET', 'DELETE'] as const) {
    const response = await app.inject({ method, url: '/admin/users/nobody-at-all/sessions', headers: { cookie: admin } })
    t.equal(response.statusCode, 404)
    t.equal(response.json().code, 'USER_NOT_FOUND')
  }
})
