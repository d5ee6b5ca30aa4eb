import t from 'tap'
import { injected } from '../support/client.js'
import { build, json, loggedIn, logIn, PASSWORD, postLogin, register, sessionCookie } from '../support/helper.js'

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

t.test('a user sees only their own events, and can ask for some types', async (t) => {
  const app = await build(t)
  const via = injected(app)
  const ada = await loggedIn(via, 'ada')
  const bob = await loggedIn(via, 'bob')
  await via.call('POST', '/auth/login', { body: { username: 'bob', password: 'not it at all' } })
  const mine = (await events(app, ada)).json().events as { userId: string; type: string }[]
  const adaId = (await app.users.findAccount('ada'))!.user.id
  t.same(mine.map((event) => event.type), ['login', 'signup'])
  t.ok(mine.every((event) => event.userId === adaId), 'every event is ada\'s')
  const bobs = (await events(app, bob, '?type=login_failed,signup')).json().events as { type: string }[]
  t.same(bobs.map((event) => event.type), ['login_failed', 'signup'], 'filtered by type, newest first')
  t.match((await events(app, bob, '?type=password')).json(), { code: 'VALIDATION' }, 'an unknown type is a 400')
  t.equal((await app.inject({ url: '/auth/events' })).statusCode, 401, 'no history without a session')
})

t.test('pages follow nextCursor to the last', async (t) => {
  const app = await build(t, { LOGIN_RATE_LIMIT_MAX: '100' })
  const via = injected(app)
  const cookie = await loggedIn(via, 'ada')
  for (let login = 0; login < 6; login++) await logIn(via, 'ada')
  const ids: string[] = []
  let cursor = ''
  for (let page = 0; page < 10; page++) {
    const answer = (await events(app, cookie, `?limit=3${cursor && `&cursor=${cursor}`}`)).json()
    ids.push(...answer.events.map((event: { id: string }) => event.id))
    if (answer.nextCursor === null) break
    cursor = answer.nextCursor
  }
  t.equal(ids.length, 8, 'signup and 7 sign-ins, in 3 pages')
  t.equal(new Set(ids).size, 8, 'each once')
})

t.test('admins search every account by name, id, type, address and time', async (t) => {
  const app = await build(t, { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: PASSWORD })
  const via = injected(app)
  const root = await logIn(via, 'root')
  const ada = await loggedIn(via, 'ada')
  await app.inject({ method: 'POST', url: '/auth/login', ...json({ username: 'bob', password: PASSWORD }), remoteAddress: '203.0.113.9' })
  const search = (query: string, cookie = root) => app.inject({ url: `/admin/events${query}`, headers: { cookie } })
  const types = async (query: string) => (await search(query)).json().events.map((event: { type: string }) => event.type)

  t.same(await types('?username=ada'), ['login', 'signup'])
  t.same(await types(`?userId=${(await app.users.findAccount('ada'))!.user.id}&type=signup`), ['signup'])
  t.same(await types('?address=203.0.113.0/24'), ['login_failed'], 'by network: the failed sign-in to a name no account has')
  t.equal((await search('?address=203.0.113.0/24')).json().events[0].userId, null)
  t.same(await types('?address=203.0.113.9&type=login'), [])
  t.same(await types(`?from=${new Date(Date.now() + 60_000).toISOString()}`), [], 'nothing in the future')
  t.ok((await types(`?to=${new Date(Date.now() + 60_000).toISOString()}&username=root`)).includes('login'))
  t.match((await search('?address=203.0.113.0/99')).json(), { code: 'VALIDATION' }, 'a bad network is a 400')
  t.match((await search('?address=not-an-ip')).json(), { code: 'VALIDATION' })
  t.match((await search('?username=nobody')).json(), { code: 'USER_NOT_FOUND' })
  t.match((await search('?username=ada&userId=00000000-0000-4000-8000-000000000000')).json(), { code: 'VALIDATION' })
  t.equal((await search('', ada)).statusCode, 403, 'a user is not an admin')
})

t.test('a client signed in as one user that fails a sign-in to another is not that user, nor an admin', async (t) => {
  const app = await build(t)
  const via = injected(app)
  const ada = await loggedIn(via, 'ada')
  await register(via, 'bob')
  t.equal((await via.call('POST', '/auth/login', { cookie: ada, body: { username: 'bob', password: 'not it at all' } })).status, 401)
  const [failed] = await app.securityEvents.page({ userId: (await app.users.findAccount('bob'))!.user.id, types: ['login_failed'] }, 1)
  t.same(failed?.actor, { type: 'user', id: null }, 'an unnamed client, not ada and not an admin')
  t.equal(failed?.session, null, 'ada\'s session is not bob\'s')
})
