import t from 'tap'
import { build, json, loggedIn, PASSWORD, postLogin, sessionCookie, sessionIdOf, type App } from '../support/helper.js'

const NEW_PASSWORD = 'a brand new passphrase'

function changePassword(app: App, cookie: string, currentPassword: string, newPassword = NEW_PASSWORD) {
  const body = json({ currentPassword, newPassword })
  return app.inject({ method: 'PUT', url: '/auth/password', ...body, headers: { ...body.headers, cookie } })
}

t.test('PUT /auth/password changes the password, renews this session ID and ends every other session', async (t) => {
  const app = await build(t, { LOGIN_RATE_LIMIT_MAX: '100' })
  const current = await loggedIn(app, 'changer')
  const other = sessionCookie(await postLogin(app, 'changer'))
  const response = await changePassword(app, current, PASSWORD)
  t.equal(response.statusCode, 204)
  const renewed = sessionCookie(response)
  t.not(sessionIdOf(renewed), sessionIdOf(current), 'a new session ID')
  t.equal((await app.inject({ url: '/auth/me', headers: { cookie: renewed } })).statusCode, 200, 'still logged in')
  for (const cookie of [current, other]) {
    t.equal((await app.inject({ url: '/api/dashboard', headers: { cookie } })).statusCode, 401, 'old IDs are dead')
  }
  t.equal((await postLogin(app, 'changer', PASSWORD)).statusCode, 401, 'the old password no longer works')
  t.equal((await postLogin(app, 'changer', NEW_PASSWORD)).statusCode, 200, 'the new one does')
  const sessions = (await app.inject({ url: '/auth/sessions', headers: { cookie: renewed } })).json().sessions
  t.equal(sessions.length, 2, 'the renewed session and the login after it')
})

t.test('a wrong current password answers 401 INVALID_CREDENTIALS and changes nothing', async (t) => {
  const app = await build(t)
  const cookie = await loggedIn(app, 'keeper')
  const response = await changePassword(app, cookie, 'not my password')
  t.equal(response.statusCode, 401)
  t.equal(response.json().code, 'INVALID_CREDENTIALS')
  t.equal((await app.inject({ url: '/api/dashboard', headers: { cookie } })).statusCode, 200, 'the session goes on')
  t.equal((await postLogin(app, 'keeper', PASSWORD)).statusCode, 200, 'the password is unchanged')
})

t.test('the new password follows the registration rules, and the route needs a session', async (t) => {
  const app = await build(t)
  const cookie = await loggedIn(app, 'ruler')
  t.equal((await changePassword(app, cookie, PASSWORD, 'short')).json().code, 'VALIDATION')
  t.equal((await changePassword(app, 'sid=none', PASSWORD)).json().code, 'UNAUTHENTICATED')
})
