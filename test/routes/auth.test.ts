import t from 'tap'
import { BROWSER_USER_AGENT, build, expectSessionExpired, json, loggedIn, PASSWORD, postLogin, postRegister, sessionCookie, sessionIdOf, sessionKey, storedAccount, testRedis, uniquePrefix } from '../support/helper.js'
import { decodeFields } from '../../src/sessions/records.js'
import { redisKeys } from '../../src/lib/keys.js'

t.test('POST /auth/register', async (t) => {
  t.test('creates a user with the user role and never returns the password hash', async (t) => {
    const app = await build(t)
    const response = await postRegister(app, 'alice')
    t.equal(response.statusCode, 201)
    const { user } = response.json()
    t.same(Object.keys(user).sort(), ['createdAt', 'id', 'roles', 'username'])
    t.equal(user.username, 'alice')
    t.same(user.roles, ['user'])
    t.ok(Date.parse(user.createdAt))
    t.notMatch(response.body, /scrypt|password/i)
  })

  t.test('stores the password as a salted scrypt hash, never in clear', async (t) => {
    const app = await build(t)
    const { user } = (await postRegister(app, 'hashed')).json()
    const stored = await storedAccount(app, 'hashed')
    t.equal(stored?.id, user.id)
    t.match(stored?.passwordHash, /^scrypt\$/)
    t.notMatch(stored?.passwordHash, PASSWORD)
    await postRegister(app, 'hashed2')
    const other = await storedAccount(app, 'hashed2')
    t.not(other?.passwordHash, stored?.passwordHash, 'same password, different salt')
  })

  t.test('answers 409 USERNAME_TAKEN for a name taken in any letter case', async (t) => {
    const app = await build(t)
    await postRegister(app, 'Bob')
    const response = await postRegister(app, 'bOB')
    t.equal(response.statusCode, 409)
    t.same(response.json(), {
      statusCode: 409,
      error: 'Conflict',
      message: 'That username is already taken',
      code: 'USERNAME_TAKEN',
    })
  })

  t.test('lets exactly one of many concurrent registrations of one name succeed', async (t) => {
    // Cheap key derivations: what races is the INSERT. At OWASP's cost eight at once can outwait the queue's bound.
    const app = await build(t, { LOGIN_RATE_LIMIT_MAX: '100', PASSWORD_HASH_COST: '10' })
    const responses = await Promise.all(Array.from({ length: 8 }, (_, i) => postRegister(app, i % 2 ? 'racer' : 'RACER')))
    const statuses = responses.map((r) => r.statusCode).sort()
    t.same(statuses, [201, 409, 409, 409, 409, 409, 409, 409])
  })

  t.test('answers 403 REGISTRATION_CLOSED when ALLOW_REGISTRATION=false', async (t) => {
    const app = await build(t, { ALLOW_REGISTRATION: 'false' })
    const response = await postRegister(app, 'carol')
    t.equal(response.statusCode, 403)
    t.equal(response.json().code, 'REGISTRATION_CLOSED')
  })

  for (const [name, body] of [
    ['a short username', { username: 'ab', password: PASSWORD }],
    ['a long username', { username: 'a'.repeat(33), password: PASSWORD }],
    ['a username with a space', { username: 'bad name', password: PASSWORD }],
    ['a short password', { username: 'dave', password: 'short' }],
    ['a 257-character password', { username: 'dave', password: 'p'.repeat(257) }],
    ['a missing password', { username: 'dave' }],
    ['an extra field', { username: 'dave', password: PASSWORD, roles: ['admin'] }],
    ['a number for a password', { username: 'dave', password: 12345678 }],
  ] as const) {
    t.test(`answers 400 VALIDATION for ${name}`, async (t) => {
      const app = await build(t)
      const response = await app.inject({ method: 'POST', url: '/auth/register', ...json(body) })
      t.equal(response.statusCode, 400)
      t.equal(response.json().code, 'VALIDATION')
      t.match(response.json().message, /body/)
    })
  }
})

t.test('ADMIN_USERNAME and ADMIN_PASSWORD create an admin once, at start', async (t) => {
  const env = { REDIS_PREFIX: uniquePrefix(), ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'admin-password' }
  await build(t, env)
  const again = await build(t, env)
  const response = await postLogin(again, 'root', 'admin-password')
  t.equal(response.statusCode, 200)
  t.same(response.json().user.roles, ['admin', 'user'])
})

t.test('POST /auth/login', async (t) => {
  t.test('answers the user and a session cookie with safe attributes', async (t) => {
    const app = await build(t)
    await postRegister(app, 'erin')
    const response = await postLogin(app, 'ERIN')
    t.equal(response.statusCode, 200)
    t.equal(response.json().user.username, 'erin')
    const cookie = response.cookies.find((c) => c.name === 'sid')
    t.ok(cookie, 'sets the sid cookie')
    t.equal(cookie?.httpOnly, true)
    t.equal(cookie?.sameSite, 'Lax')
    t.equal(cookie?.path, '/')
    t.notOk(cookie?.secure, 'not Secure outside production by default')
    t.notOk(cookie?.expires, 'no Expires: a browser-session cookie without "remember me"')
    t.notOk(cookie?.maxAge, 'no Max-Age either')
  })

  t.test('stores the session in Redis under the prefix with the SESSION_IDLE_TTL, holding little', async (t) => {
    const prefix = uniquePrefix()
    const app = await build(t, { REDIS_PREFIX: prefix, SESSION_IDLE_TTL: '600' })
    await postRegister(app, 'frank')
    const cookie = sessionCookie(await postLogin(app, 'frank', PASSWORD, { 'user-agent': BROWSER_USER_AGENT }))
    const redis = (await testRedis()).client(t)
    const key = sessionKey(prefix, cookie)
    const ttl = await redis.ttl(key)
    t.ok(ttl > 590 && ttl <= 600, `TTL ${ttl}`)
    t.equal(await redis.type(key), 'hash', 'one field per session attribute')
    t.equal(await redis.object('ENCODING', key), 'listpack', 'kept compact by Redis: no value over 64 bytes, the User-Agent in chunks')
    const stored = decodeFields(await redis.hgetall(key))
    t.same(Object.keys(stored.user as object).sort(), ['id', 'roles', 'username'])
    t.equal(stored.userAgent, BROWSER_USER_AGENT, 'the User-Agent whole once read')
    t.same(
      Object.keys(stored).sort(),
      ['createdAt', 'ip', 'user', 'userAgent'],
      'no copy of cookie settings or expiry, nor of the defaults: proved by the password at login, not remembered',
    )
    t.type(stored.createdAt, 'number')
    t.notMatch(JSON.stringify(stored), /scrypt|password/i, 'no password, no hash')
    await app.inject({ method: 'PATCH', url: '/api/preferences', headers: { cookie, 'content-type': 'application/json' }, payload: '{"theme":"dark"}' })
    const changed = decodeFields(await redis.hgetall(key))
    t.same(Object.keys(changed).sort(), ['createdAt', 'ip', 'theme', 'user', 'userAgent'], 'a write of a loaded session adds only what changed')
    t.equal(await redis.hexists(key, '@e'), 1, 'and keeps the stored expiry, so reads stay one command')
    const readers: Record<string, (k: string) => Promise<unknown>> = {
      hash: (k) => redis.hgetall(k),
      zset: (k) => redis.zrange(k, 0, -1),
      string: (k) => redis.get(k),
    }
    const contents = async (k: string) => readers[await redis.type(k)]!(k)
    const everything = JSON.stringify(await Promise.all((await redis.keys(`${prefix}*`)).map(async (k) => [k, await contents(k)])))
    t.notMatch(everything, sessionIdOf(cookie), 'the session ID is nowhere in Redis, keys or values')
    const keys = await redis.keys('*')
    t.ok(keys.filter((k) => k.includes(prefix)).every((k) => k.startsWith(prefix)), 'every key starts with REDIS_PREFIX')
  })

  t.test('sets a Secure __Host-sid cookie when COOKIE_SECURE=true behind a TLS-terminating proxy', async (t) => {
    const app = await build(t, { COOKIE_SECURE: 'true', TRUST_PROXY: 'true' })
    await postRegister(app, 'gina')
    const response = await postLogin(app, 'gina', PASSWORD, { 'x-forwarded-proto': 'https' })
    const cookie = response.cookies.find((c) => c.name === '__Host-sid')
    t.equal(cookie?.secure, true)
    t.equal(cookie?.path, '/')
    t.notOk(cookie?.domain, 'host-only, as the __Host- prefix requires')
  })

  t.test('with COOKIE_SECURE=true, a login over plain HTTP answers 400 INSECURE_TRANSPORT and sets no cookie', async (t) => {
    const app = await build(t, { COOKIE_SECURE: 'true', TRUST_PROXY: 'true' })
    await postRegister(app, 'gail')
    const response = await postLogin(app, 'gail')
    t.equal(response.statusCode, 400)
    t.equal(response.json().code, 'INSECURE_TRANSPORT')
    t.same(response.cookies, [])
  })

  t.test('uses COOKIE_NAME for the cookie', async (t) => {
    const app = await build(t, { COOKIE_NAME: 'session' })
    await postRegister(app, 'hank')
    const response = await postLogin(app, 'hank')
    const cookie = sessionCookie(response, 'session')
    const me = await app.inject({ url: '/auth/me', headers: { cookie } })
    t.equal(me.statusCode, 200)
  })

  t.test('answers 401 INVALID_CREDENTIALS for a wrong password and for an unknown user alike', async (t) => {
    const app = await build(t)
    await postRegister(app, 'ivan')
    const wrongPassword = await postLogin(app, 'ivan', 'not the password')
    const unknownUser = await postLogin(app, 'nobody-here', PASSWORD)
    for (const response of [wrongPassword, unknownUser]) {
      t.equal(response.statusCode, 401)
      t.equal(response.json().code, 'INVALID_CREDENTIALS')
      t.notOk(response.cookies.find((c) => c.name === 'sid'), 'no session cookie')
    }
    t.same(wrongPassword.json(), unknownUser.json(), 'the answer does not tell which usernames exist')
  })

  t.test('spends the same key-derivation work on an unknown user as on a wrong password', async (t) => {
    const app = await build(t, { LOGIN_RATE_LIMIT_MAX: '100', ACCOUNT_LOCK_THRESHOLD: '100' })
    await postRegister(app, 'judy')
    const time = async (username: string) => {
      const started = process.hrtime.bigint()
      for (let i = 0; i < 6; i++) await postLogin(app, username, 'wrong password')
      return Number(process.hrtime.bigint() - started)
    }
    await time('judy') // warm-up
    const known = await time('judy')
    const unknown = await time('nobody')
    // Skipping the hash for unknown users would make them ~100x faster; allow generous noise either way.
    t.ok(unknown > known / 3, `unknown ${unknown} ns vs known ${known} ns`)
  })

  t.test('regenerates the session ID: the pre-login ID no longer exists in Redis (fixation)', async (t) => {
    const prefix = uniquePrefix()
    const app = await build(t, { REDIS_PREFIX: prefix, LOGIN_RATE_LIMIT_MAX: '100' })
    const redis = (await testRedis()).client(t)
    const first = await loggedIn(app, 'kim')
    t.equal(await redis.exists(sessionKey(prefix, first)), 1)
    const second = sessionCookie(await postLogin(app, 'kim', PASSWORD, { cookie: first }))
    t.not(sessionIdOf(second), sessionIdOf(first))
    t.equal(await redis.exists(sessionKey(prefix, first)), 0, 'old session destroyed')
    const withOld = await app.inject({ url: '/auth/me', headers: { cookie: first } })
    t.equal(withOld.statusCode, 401)
    t.equal(withOld.json().code, 'SESSION_EXPIRED')
    const withNew = await app.inject({ url: '/auth/me', headers: { cookie: second } })
    t.equal(withNew.statusCode, 200)
  })
})

t.test('POST /auth/logout', async (t) => {
  t.test('deletes the session from Redis and clears the cookie', async (t) => {
    const prefix = uniquePrefix()
    const app = await build(t, { REDIS_PREFIX: prefix })
    const redis = (await testRedis()).client(t)
    const cookie = await loggedIn(app, 'liam')
    const response = await app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie } })
    t.equal(response.statusCode, 204)
    t.equal(response.body, '')
    const cleared = response.cookies.find((c) => c.name === 'sid')
    t.equal(cleared?.value, '')
    t.equal(cleared?.maxAge, 0)
    t.equal(await redis.exists(sessionKey(prefix, cookie)), 0)
    const after = await app.inject({ url: '/api/dashboard', headers: { cookie } })
    t.equal(after.statusCode, 401)
  })

  t.test('answers 204 with no session and with a dead one', async (t) => {
    const app = await build(t)
    const cookie = await loggedIn(app, 'mia')
    await app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie } })
    for (const headers of [{}, { cookie }, { cookie: 'sid=not-signed' }]) {
      const response = await app.inject({ method: 'POST', url: '/auth/logout', headers })
      t.equal(response.statusCode, 204)
      t.equal(response.cookies.find((c) => c.name === 'sid')?.value, '')
    }
  })
})

t.test('GET /auth/me', async (t) => {
  t.test('answers the user and the session times', async (t) => {
    const app = await build(t, { SESSION_IDLE_TTL: '900' })
    const before = Date.now()
    const cookie = await loggedIn(app, 'noah')
    const response = await app.inject({ url: '/auth/me', headers: { cookie } })
    t.equal(response.statusCode, 200)
    const { user, session } = response.json()
    t.equal(user.username, 'noah')
    t.same(user.roles, ['user'])
    const createdAt = Date.parse(session.createdAt)
    t.ok(createdAt >= before - 1000 && createdAt <= Date.now())
    t.ok(Math.abs(Date.parse(session.expiresAt) - createdAt - 900_000) < 2000, 'expires SESSION_IDLE_TTL after login')
    t.equal(session.remember, false)
  })

  t.test('reports the expiry the session was stored with, not one rolled forward by every read', async (t) => {
    const app = await build(t, { SESSION_IDLE_TTL: '900' })
    const cookie = await loggedIn(app, 'nora')
    const first = (await app.inject({ url: '/auth/me', headers: { cookie } })).json().session.expiresAt
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const later = (await app.inject({ url: '/auth/me', headers: { cookie } })).json().session.expiresAt
    // Read back from Redis's TTL, so a few milliseconds of jitter; a roll forward would move it by the 1.1 s waited.
    t.ok(Math.abs(Date.parse(later) - Date.parse(first)) < 100, `${first} then ${later}`)
  })

  t.test('answers 401 UNAUTHENTICATED without a cookie or with a forged one', async (t) => {
    const app = await build(t)
    const cookie = await loggedIn(app, 'olga')
    const forged = cookie.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))
    for (const headers of [{}, { cookie: forged }, { cookie: `sid=${sessionIdOf(cookie)}` }]) {
      const response = await app.inject({ url: '/auth/me', headers })
      t.equal(response.statusCode, 401)
      t.equal(response.json().code, 'UNAUTHENTICATED')
    }
  })

  t.test('answers 401 SESSION_EXPIRED and clears the cookie when a signed session is gone', async (t) => {
    const prefix = uniquePrefix()
    const app = await build(t, { REDIS_PREFIX: prefix })
    const cookie = await loggedIn(app, 'pete')
    await (await testRedis()).client(t).del(sessionKey(prefix, cookie))
    expectSessionExpired(t, await app.inject({ url: '/auth/me', headers: { cookie } }))
  })

  t.test('answers 401 SESSION_EXPIRED when the account name now belongs to another account', async (t) => {
    const app = await build(t)
    const cookie = await loggedIn(app, 'reborn')
    await app.db.deleteFrom('users').where('username', '=', 'reborn').execute()
    t.equal((await postRegister(app, 'reborn')).statusCode, 201, 'the name is registered again')
    expectSessionExpired(t, await app.inject({ url: '/auth/me', headers: { cookie } }))
  })

  t.test('accepts SESSION_TTL, the old name of SESSION_IDLE_TTL', async (t) => {
    const app = await build(t, { SESSION_TTL: '2', SESSION_TOUCH_INTERVAL: '1' })
    const cookie = await loggedIn(app, 'quinn')
    t.equal((await app.inject({ url: '/auth/me', headers: { cookie } })).statusCode, 200)
    await new Promise((resolve) => setTimeout(resolve, 2100))
    const response = await app.inject({ url: '/auth/me', headers: { cookie } })
    t.equal(response.json().code, 'SESSION_EXPIRED')
  })
})

t.test('a request that does not log in writes no session and sets no cookie', async (t) => {
  const prefix = uniquePrefix()
  const app = await build(t, { REDIS_PREFIX: prefix })
  const redis = (await testRedis()).client(t)
  for (const url of ['/auth/me', '/api/dashboard', '/health/live', '/nowhere']) {
    const response = await app.inject({ url })
    t.notOk(response.headers['set-cookie'], `${url} sets no cookie`)
  }
  t.same(await redis.keys(redisKeys(prefix).session('*')), [])
})
