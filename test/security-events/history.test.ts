import t from 'tap'
import { build, postLogin, register, sessionCookie } from '../support/helper.js'

const events = (app: Awaited<ReturnType<typeof build>>, cookie: string, query = '') =>
  app.inject({ method: 'GET', url: `/auth/events${query}`, headers: { cookie } })

t.test('a sign-in answered 200 is in the history of its account, newest first', async (t) => {
  const app = await build(t)
  await register(app, 'ada')
  t.equal((await postLogin(app, 'ada', 'wrong password')).statusCode, 401)
  const login = await postLogin(app, 'ada', undefined, { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0' })
  t.equal(login.statusCode, 200)
  const cookie = sessionCookie(login)
  const answer = await events(app, cookie)
  t.equal(answer.statusCode, 200)
  const types = answer.json().events.map((event: { type: string }) => event.type)
  t.same(types, ['login', 'login_failed', 'signup'])
  const [signedIn, failed] = answer.json().events
  t.equal(signedIn.userAgent, 'Firefox 133 on Linux')
  t.equal(signedIn.address, '127.0.0.1')
  t.equal(signedIn.actor.type, 'user')
  t.match(signedIn.details, { transport: 'cookie', newDevice: true, authMethod: 'password' })
  t.equal(failed.actor.id, null, 'a failed sign-in names no actor')
  t.equal(answer.json().nextCursor, null)
})
