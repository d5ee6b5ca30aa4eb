import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { build, json, jsonWith, loggedIn, PASSWORD, postLogin, postRegister, sessionCookie, testRedis, uniquePrefix, type App } from '../support/helper.js'
import { redisKeys } from '../../src/lib/keys.js'

// Personal access tokens: named, scoped, expiring credentials for scripts, made by a logged-in user.

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

async function createToken(t: Test, app: App, cookie: string, body: object = { name: 'ci', scopes: ['read', 'write'] }) {
  const response = await app.inject({ method: 'POST', url: '/auth/tokens', ...jsonWith({ cookie }, body) })
  t.equal(response.statusCode, 201, 'token created')
  return response.json() as { id: string; token: string; name: string; scopes: string[]; expiresAt: string; lastUsedAt: null }
}

const listTokens = async (app: App, cookie: string) => (await app.inject({ url: '/auth/tokens', headers: { cookie } })).json().tokens

t.test('a token is answered once, prefixed for secret scanners; the list shows it without the secret', async (t) => {
  const prefix = uniquePrefix()
  const app = await build(t, { REDIS_PREFIX: prefix })
  const cookie = await loggedIn(app, 'maker')
  const started = Date.now()
  const created = await createToken(t, app, cookie, { name: 'deploy bot', scopes: ['read'], expiresInDays: 7 })
  t.match(created.token, /^rsa_pat_[\w-]{43}\.[\w+/-]+$/)
  t.match(created, { name: 'deploy bot', scopes: ['read'], lastUsedAt: null })
  const expiresAt = Date.parse(created.expiresAt)
  t.ok(expiresAt >= started + 7 * 86_400_000 && expiresAt <= Date.now() + 7 * 86_400_000, 'expires in 7 days')
  const listed = await listTokens(app, cookie)
  t.same(listed.map(({ id, name }: { id: string; name: string }) => [id, name]), [[created.id, 'deploy bot']])
  t.notMatch(JSON.stringify(listed), created.token.slice(8, 40), 'never the secret')

  const redis = (await testRedis()).client(t)
  const ttl = await redis.pttl(redisKeys(prefix).session(created.id))
  t.ok(ttl > 7 * 86_400_000 - 60_000 && ttl <= 7 * 86_400_000, 'Redis ends it at its expiry')
  const everything = JSON.stringify(await Promise.all((await redis.keys(`${prefix}*`)).map((key) => redis.dump(key))))
  t.notMatch(everything, created.token.slice(8, 51), 'Redis holds only its hash')
})

t.test('a token works on the guarded routes its scopes allow: read for GET, write for the rest', async (t) => {
  const app = await build(t)
  const cookie = await loggedIn(app, 'scoped')
  const full = (await createToken(t, app, cookie)).token
  const readOnly = (await createToken(t, app, cookie, { name: 'reader', scopes: ['read'] })).token
  const writeOnly = (await createToken(t, app, cookie, { name: 'writer', scopes: ['write'] })).token
  for (const url of ['/auth/me', '/api/dashboard', '/api/preferences']) {
    t.equal((await app.inject({ url, headers: bearer(full) })).statusCode, 200, `GET ${url}`)
    t.equal((await app.inject({ url, headers: bearer(readOnly) })).statusCode, 200, `GET ${url} with read`)
    const refused = await app.inject({ url, headers: bearer(writeOnly) })
    t.same([refused.statusCode, refused.json().code], [403, 'INSUFFICIENT_SCOPE'], `GET ${url} without read`)
  }
  t.equal((await app.inject({ method: 'POST', url: '/api/count', headers: bearer(full) })).json().views, 1)
  t.equal((await app.inject({ method: 'POST', url: '/api/count', headers: bearer(writeOnly) })).json().views, 1, 'each token its own counter')
  const refused = await app.inject({ method: 'POST', url: '/api/count', headers: bearer(readOnly) })
  t.same([refused.statusCode, refused.json().code], [403, 'INSUFFICIENT_SCOPE'])
  t.match(refused.json().message, /"write"/)
  const patch = await app.inject({ method: 'PATCH', url: '/api/preferences', ...jsonWith(bearer(full), { theme: 'dark' }) })
  t.equal(patch.statusCode, 200)
  t.notOk(patch.headers['set-cookie'], 'no cookie for a token')
})

t.test('a token cannot make tokens, change the password, manage sessions, log in or out, or act as an admin', async (t) => {
  const app = await build(t, { ADMIN_USERNAME: 'chief', ADMIN_PASSWORD: PASSWORD })
  const cookie = await loggedIn(app, 'limited')
  const token = (await createToken(t, app, cookie)).token
  const adminCookie = sessionCookie(await app.inject({ method: 'POST', url: '/auth/login', ...json({ username: 'chief', password: PASSWORD }) }))
  const adminToken = (await createToken(t, app, adminCookie)).token
  const refused = [
    { method: 'POST', url: '/auth/tokens', ...json({ name: 'more', scopes: ['read'] }) },
    { method: 'GET', url: '/auth/tokens' },
    { method: 'DELETE', url: `/auth/tokens/${'a'.repeat(43)}` },
    { method: 'PUT', url: '/auth/password', ...json({ currentPassword: PASSWORD, newPassword: `${PASSWORD}!` }) },
    { method: 'GET', url: '/auth/sessions' },
    { method: 'DELETE', url: '/auth/sessions' },
    { method: 'DELETE', url: `/auth/sessions/${'a'.repeat(43)}` },
    { method: 'POST', url: '/auth/logout' },
    { method: 'POST', url: '/auth/login', ...json({ username: 'limited', password: PASSWORD }) },
  ] as const
  for (const request of refused) {
    const response = await app.inject({ ...request, headers: { ...('headers' in request ? request.headers : {}), ...bearer(token) } })
    t.same([response.statusCode, response.json().code], [403, 'TOKEN_NOT_ALLOWED'], `${request.method} ${request.url}`)
  }
  const admin = await app.inject({ url: '/admin/users/limited/sessions', headers: bearer(adminToken) })
  t.same([admin.statusCode, admin.json().code], [403, 'TOKEN_NOT_ALLOWED'], "an admin's token is no admin")
  const readOnly = (await createToken(t, app, String(adminCookie).split(';')[0]!, { name: 'reader', scopes: ['read'] })).token
  const adminWrite = await app.inject({ method: 'DELETE', url: '/admin/users/limited/sessions', headers: bearer(readOnly) })
  t.same([adminWrite.statusCode, adminWrite.json().code], [403, 'TOKEN_NOT_ALLOWED'], 'whatever its scopes: a role takes a login')
  t.equal((await app.inject({ url: '/auth/me', headers: bearer(token) })).statusCode, 200, 'and the token still works')
})

t.test('revoked, expired and tampered tokens answer 401 with the codes sessions use', async (t) => {
  const prefix = uniquePrefix()
  const app = await build(t, { REDIS_PREFIX: prefix })
  const cookie = await loggedIn(app, 'revoker')
  const revoked = await createToken(t, app, cookie)
  t.equal((await app.inject({ method: 'DELETE', url: `/auth/tokens/${revoked.id}`, headers: { cookie } })).statusCode, 204)
  t.same((await app.inject({ url: '/auth/me', headers: bearer(revoked.token) })).json().code, 'SESSION_EXPIRED')
  t.same(await listTokens(app, cookie), [], 'gone from the list')
  const again = await app.inject({ method: 'DELETE', url: `/auth/tokens/${revoked.id}`, headers: { cookie } })
  t.same([again.statusCode, again.json().code], [404, 'TOKEN_NOT_FOUND'])

  const expiring = await createToken(t, app, cookie)
  await (await testRedis()).client(t).pexpire(redisKeys(prefix).session(expiring.id), 1)
  await sleep(20)
  t.same((await app.inject({ url: '/auth/me', headers: bearer(expiring.token) })).json().code, 'SESSION_EXPIRED')

  const tampered = (await createToken(t, app, cookie)).token.replace(/.$/, (last) => (last === 'A' ? 'B' : 'A'))
  t.same((await app.inject({ url: '/auth/me', headers: bearer(tampered) })).json().code, 'UNAUTHENTICATED')
})

t.test("another user's token cannot be revoked or seen", async (t) => {
  const app = await build(t)
  const owner = await loggedIn(app, 'owner')
  const stranger = await loggedIn(app, 'stranger')
  const { id, token } = await createToken(t, app, owner)
  const response = await app.inject({ method: 'DELETE', url: `/auth/tokens/${id}`, headers: { cookie: stranger } })
  t.same([response.statusCode, response.json().code], [404, 'TOKEN_NOT_FOUND'])
  t.same(await listTokens(app, stranger), [])
  t.equal((await app.inject({ url: '/auth/me', headers: bearer(token) })).statusCode, 200)
})

t.test('logging out everywhere, a password change and the session cap leave tokens alone', async (t) => {
  const app = await build(t, { MAX_SESSIONS_PER_USER: '1' })
  await postRegister(app, 'keeper')
  const keeperLogIn = async (password = PASSWORD) => sessionCookie(await app.inject({ method: 'POST', url: '/auth/login', ...json({ username: 'keeper', password }) }))
  const cookie = await keeperLogIn()
  const { token } = await createToken(t, app, cookie)
  await keeperLogIn() // the cap ends the first session
  const second = await keeperLogIn()
  await app.inject({ method: 'PUT', url: '/auth/password', ...jsonWith({ cookie: second }, { currentPassword: PASSWORD, newPassword: `${PASSWORD}!` }) })
  const third = await keeperLogIn(`${PASSWORD}!`)
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', ...jsonWith({ cookie: third }, { everywhere: true }) })).statusCode, 204)
  t.equal((await app.inject({ url: '/auth/me', headers: bearer(token) })).statusCode, 200, 'the token still works')
})

t.test('MAX_TOKENS_PER_USER: one more answers 409 TOKEN_LIMIT_REACHED; revoking makes room', async (t) => {
  const app = await build(t, { MAX_TOKENS_PER_USER: '2' })
  const cookie = await loggedIn(app, 'collector')
  const first = await createToken(t, app, cookie)
  await createToken(t, app, cookie)
  const third = await app.inject({ method: 'POST', url: '/auth/tokens', ...jsonWith({ cookie }, { name: 'third', scopes: ['read'] }) })
  t.same([third.statusCode, third.json().code], [409, 'TOKEN_LIMIT_REACHED'])
  await app.inject({ method: 'DELETE', url: `/auth/tokens/${first.id}`, headers: { cookie } })
  await createToken(t, app, cookie)
})

t.test('concurrent creations cannot pass the cap together', async (t) => {
  const env = { REDIS_PREFIX: uniquePrefix(), MAX_TOKENS_PER_USER: '3' }
  const one = await build(t, env)
  const two = await build(t, env)
  const cookie = await loggedIn(one, 'rusher')
  const create = (app: App, i: number) => app.inject({ method: 'POST', url: '/auth/tokens', ...jsonWith({ cookie }, { name: `rush ${i}`, scopes: ['read'] }) })
  const statuses = (await Promise.all(Array.from({ length: 12 }, (_, i) => create(i % 2 ? one : two, i)))).map((response) => response.statusCode)
  t.same(statuses.filter((status) => status === 201).length, 3, `12 at once on two instances: ${statuses.join(',')}`)
  t.same(statuses.filter((status) => status !== 201 && status !== 409), [], 'the others answer 409')
  t.equal((await listTokens(one, cookie)).length, 3)
})

t.test('last use is recorded at touch granularity; the session limits do not end a token', async (t) => {
  const app = await build(t, { SESSION_ABSOLUTE_TTL: '1', SESSION_TOUCH_INTERVAL: '60' })
  const cookie = await loggedIn(app, 'user-of-tokens')
  const { id, token } = await createToken(t, app, cookie)
  await app.inject({ url: '/api/dashboard', headers: bearer(token) })
  const [{ lastUsedAt }] = await listTokens(app, cookie)
  t.ok(Date.now() - Date.parse(lastUsedAt) < 5000, 'set by the first use')
  await sleep(1100)
  t.equal((await app.inject({ url: '/api/dashboard', headers: bearer(token) })).statusCode, 200, 'older than SESSION_ABSOLUTE_TTL and still valid')
  // The cookie session itself has ended by now (its absolute limit is 1 s): log in again to list.
  const [listed] = await listTokens(app, sessionCookie(await postLogin(app, 'user-of-tokens')))
  t.equal(listed.id, id)
  t.equal(listed.lastUsedAt, lastUsedAt, 'not written again within the touch interval')
})

t.test('a token made on one instance works on another, and its revocation holds on both at once', async (t) => {
  const env = { REDIS_PREFIX: uniquePrefix() }
  const one = await build(t, env)
  const two = await build(t, env)
  const cookie = await loggedIn(one, 'traveller')
  const { id, token } = await createToken(t, one, cookie)
  t.equal((await two.inject({ url: '/auth/me', headers: bearer(token) })).statusCode, 200)
  await two.inject({ method: 'DELETE', url: `/auth/tokens/${id}`, headers: { cookie } })
  t.equal((await one.inject({ url: '/auth/me', headers: bearer(token) })).statusCode, 401)
})

t.test('bad token requests answer 400 VALIDATION', async (t) => {
  const app = await build(t)
  const cookie = await loggedIn(app, 'validator')
  for (const body of [{ name: '', scopes: ['read'] }, { name: 'x', scopes: [] }, { name: 'x', scopes: ['admin'] }, { name: 'x', scopes: ['read', 'read'] }, { name: 'x', scopes: ['read'], expiresInDays: 0 }, { name: 'x', scopes: ['read'], expiresInDays: 366 }, { name: 'x', scopes: ['read'], extra: 1 }]) {
    const response = await app.inject({ method: 'POST', url: '/auth/tokens', ...jsonWith({ cookie }, body) })
    t.same([response.statusCode, response.json().code], [400, 'VALIDATION'], JSON.stringify(body))
  }
})
