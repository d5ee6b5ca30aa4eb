import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { matchingStep } from '../../src/lib/totp.js'
import { build, json, loggedIn, PASSWORD, postLogin, postRegister, sessionCookie, storedAccount, testRedis, uniquePrefix } from '../support/helper.js'
import { completeLogin, enrolled, passwordStep, pendingCookie, post, startEnrolment } from '../support/mfa-helpers.js'
import { steadyStep, stepAt, totpCode } from '../support/totp.js'
import { redisKeys } from '../../src/lib/keys.js'

// Two-factor login (TOTP, RFC 6238, and recovery codes) and fresh-session checks. Codes are computed here from the
// enrolment secret by the test's own RFC 6238 (test/support/totp.ts), not by the service's library.

const me = (app: Awaited<ReturnType<typeof build>>, cookie: string) => app.inject({ url: '/auth/me', headers: { cookie } })

t.test("the service's TOTP agrees with RFC 6238's test vectors and the test's own implementation", async (t) => {
  // RFC 6238 Appendix B, SHA-1 seed "12345678901234567890", the last 6 of its 8 digits.
  const seed = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'
  const vectors: [number, string][] = [[59, '287082'], [1111111109, '081804'], [1234567890, '005924'], [2000000000, '279037']]
  for (const [seconds, code] of vectors) {
    t.equal(totpCode(seed, stepAt(seconds * 1000)), code, `test implementation at T=${seconds}`)
    t.equal(matchingStep(seed, code, seconds * 1000), stepAt(seconds * 1000), `service at T=${seconds}`)
  }
  const now = 1_700_000_000_000
  t.equal(matchingStep(seed, totpCode(seed, stepAt(now) - 1), now), stepAt(now) - 1, 'one step behind: accepted')
  t.equal(matchingStep(seed, totpCode(seed, stepAt(now) + 1), now), stepAt(now) + 1, 'one step ahead: accepted')
  t.equal(matchingStep(seed, totpCode(seed, stepAt(now) - 2), now), null, 'two steps behind: refused')
  t.equal(matchingStep(seed, totpCode(seed, stepAt(now) + 2), now), null, 'two steps ahead: refused')
})

t.test('enrolment: a secret, its otpauth URI and QR code; on only after a right code, with 10 recovery codes', async (t) => {
  const prefix = uniquePrefix()
  const app = await build(t, { REDIS_PREFIX: prefix, MFA_ISSUER: 'Acme Cloud' })
  const redis = (await testRedis()).client(t)
  const cookie = await loggedIn(app, 'olga')
  t.same((await me(app, cookie)).json().mfa, { enabled: false, enabledAt: null, recoveryCodesLeft: 0 }, '/auth/me: off')

  const confirmWithout = await post(app, '/auth/mfa/totp/confirm', { code: '123456' }, { cookie })
  t.equal(confirmWithout.statusCode, 409, 'confirming before starting')
  t.equal(confirmWithout.json().code, 'MFA_ENROLMENT_NOT_STARTED')

  const enrolment = await startEnrolment(app, cookie)
  t.match(enrolment.secret, /^[A-Z2-7]{32}$/, '160-bit base32 secret')
  const uri = new URL(enrolment.uri)
  t.equal(uri.protocol, 'otpauth:')
  t.equal(uri.host, 'totp')
  t.equal(decodeURIComponent(uri.pathname), '/Acme Cloud:olga', 'label: issuer and account')
  t.same(Object.fromEntries(uri.searchParams), { issuer: 'Acme Cloud', secret: enrolment.secret, algorithm: 'SHA1', digits: '6', period: '30' })
  t.match(enrolment.qrCode, /^data:image\/png;base64,[A-Za-z0-9+/]+=*$/, 'a PNG data URL')
  t.ok(Buffer.from(enrolment.qrCode.split(',')[1]!, 'base64').subarray(1, 4).toString() === 'PNG', 'PNG bytes')
  t.equal((await me(app, cookie)).json().mfa.enabled, false, 'nothing changes before confirmation')
  t.equal((await storedAccount(app, 'olga'))?.totpSecret, null, 'the account holds no secret yet')
  const sessions = JSON.stringify(await Promise.all((await redis.keys(redisKeys(prefix).session('*'))).map((key) => redis.hgetall(key))))
  t.match(sessions, 'mfaEnrolment', 'the enrolment is kept in the session')
  t.notMatch(sessions, enrolment.secret, 'sealed there too')

  const step = await steadyStep()
  const wrong = await post(app, '/auth/mfa/totp/confirm', { code: totpCode(enrolment.secret, step + 5) }, { cookie })
  t.equal(wrong.statusCode, 401)
  t.equal(wrong.json().code, 'INVALID_MFA_CODE')
  t.equal((await me(app, cookie)).json().mfa.enabled, false, 'still off after a wrong code')
  const badShape = await post(app, '/auth/mfa/totp/confirm', { code: 'abcdef' }, { cookie })
  t.equal(badShape.statusCode, 400, 'not six digits')
  t.equal(badShape.json().code, 'VALIDATION')

  const right = await post(app, '/auth/mfa/totp/confirm', { code: totpCode(enrolment.secret, step) }, { cookie })
  t.equal(right.statusCode, 200)
  const { recoveryCodes, revokedSessions } = right.json()
  t.equal(revokedSessions, 0)
  t.equal(recoveryCodes.length, 10)
  t.equal(new Set(recoveryCodes).size, 10, 'all different')
  for (const code of recoveryCodes) t.match(code, /^[a-z2-7]{6}(-[a-z2-7]{6}){3}$/, '120 random bits each')
  const status = (await me(app, cookie)).json().mfa
  t.equal(status.enabled, true, '/auth/me: on')
  t.equal(status.recoveryCodesLeft, 10)
  t.ok(Date.parse(status.enabledAt) > Date.now() - 10_000)
  const stored = JSON.stringify(await storedAccount(app, 'olga'))
  for (const code of recoveryCodes) t.notOk(stored.includes(code) || stored.includes(code.replaceAll('-', '')), 'no recovery code in the clear')
  const everything = JSON.stringify(await Promise.all((await redis.keys(`${prefix}*`)).map((key) => redis.dump(key))))
  t.notMatch(everything, enrolment.secret, 'the secret is nowhere in Redis')
  t.notMatch(stored, enrolment.secret, 'nor in PostgreSQL in the clear')
  t.match((await storedAccount(app, 'olga'))?.totpSecret, /^v1\./, 'sealed in the account')

  const again = await post(app, '/auth/mfa/totp/confirm', { code: totpCode(enrolment.secret, step + 1) }, { cookie })
  t.equal(again.json().code, 'MFA_ENROLMENT_NOT_STARTED', 'one enrolment, one confirmation')
  const restart = await app.inject({ method: 'POST', url: '/auth/mfa/totp', headers: { cookie } })
  t.equal(restart.statusCode, 409)
  t.equal(restart.json().code, 'MFA_ALREADY_ENABLED')
})

t.test('login with MFA on: the password alone creates no session, only a pending login that grants nothing', async (t) => {
  const prefix = uniquePrefix()
  const app = await build(t, { REDIS_PREFIX: prefix })
  const redis = (await testRedis()).client(t)
  const user = await enrolled(app, 'pia')
  const sessionsBefore = await redis.keys(redisKeys(prefix).session('*'))

  const passwordOnly = await post(app, '/auth/login', { username: 'pia', password: PASSWORD })
  t.equal(passwordOnly.statusCode, 200)
  const body = passwordOnly.json()
  t.same(Object.keys(body).sort(), ['expiresAt', 'mfaRequired'])
  t.equal(body.mfaRequired, true)
  const expiresIn = Date.parse(body.expiresAt) - Date.now()
  t.ok(expiresIn > 290_000 && expiresIn <= 300_000, 'five minutes to give the code')
  t.notOk(passwordOnly.cookies.some((c) => c.name === 'sid'), 'no session cookie')
  const pendingSetCookie = passwordOnly.cookies.find((c) => c.name === 'sid-mfa')!
  t.equal(pendingSetCookie.httpOnly, true)
  t.equal(pendingSetCookie.sameSite, 'Strict')
  t.equal(pendingSetCookie.maxAge, 300)
  t.same(await redis.keys(redisKeys(prefix).session('*')), sessionsBefore, 'no session in Redis')
  const [pendingKey] = await redis.keys(redisKeys(prefix).pendingLogin('*'))
  const ttl = await redis.pttl(pendingKey!)
  t.ok(ttl > 290_000 && ttl <= 300_000, 'the pending login expires in Redis by itself')
  const pending = pendingCookie(passwordOnly)
  t.notMatch(JSON.stringify(await redis.keys(`${prefix}*`)), pending.split('=')[1]!, 'Redis holds only the hash of its ID')

  // The pending login's cookie, also sent as a session cookie or a bearer token: no guarded route takes it.
  const pendingId = pending.split('=')[1]!
  const carriers: Record<string, string>[] = [{ cookie: pending }, { cookie: `sid=${pendingId}` }, { authorization: `Bearer ${pendingId}` }]
  for (const headers of carriers) {
    for (const url of ['/auth/me', '/api/dashboard', '/auth/sessions', '/auth/tokens']) {
      const response = await app.inject({ url, headers })
      t.equal(response.statusCode, 401, `${url} with ${Object.keys(headers)[0]}: 401`)
    }
    t.equal((await post(app, '/auth/reauth', { password: PASSWORD }, headers)).statusCode, 401, 'no re-authentication either')
  }

  const step = await steadyStep()
  const wrong = await completeLogin(app, pending, totpCode(user.secret, step + 3))
  t.equal(wrong.statusCode, 401)
  t.equal(wrong.json().code, 'INVALID_MFA_CODE')
  t.same(await redis.keys(redisKeys(prefix).session('*')), sessionsBefore, 'still no session')

  const right = await completeLogin(app, pending, totpCode(user.secret, step))
  t.equal(right.statusCode, 200)
  t.same(Object.keys(right.json()), ['user'])
  const cookie = sessionCookie(right)
  t.equal(right.cookies.find((c) => c.name === 'sid-mfa')?.maxAge, 0, 'the pending cookie is cleared')
  const session = (await me(app, cookie)).json().session
  t.equal(session.authMethod, 'password+totp')
  t.ok(Date.parse(session.authenticatedAt) > Date.now() - 5_000)
  t.equal((await redis.keys(redisKeys(prefix).pendingLogin('*'))).length, 0, 'the pending login is gone')

  const reused = await completeLogin(app, pending, totpCode(user.secret, step + 1))
  t.equal(reused.statusCode, 401, 'a pending login completes once')
  t.equal(reused.json().code, 'MFA_LOGIN_EXPIRED')
  const none = await post(app, '/auth/login/mfa', { code: '123456' })
  t.equal(none.json().code, 'MFA_LOGIN_EXPIRED', 'without any pending login')
})

t.test('beside a Secure __Host-sid cookie, the pending login travels in a Secure __Host-sid-mfa cookie', async (t) => {
  const app = await build(t, { COOKIE_SECURE: 'true', TRUST_PROXY: '127.0.0.1' })
  const https = { 'x-forwarded-proto': 'https' }
  await postRegister(app, 'hanne')
  const cookie = sessionCookie(await postLogin(app, 'hanne', PASSWORD, https), '__Host-sid')
  const { secret } = (await app.inject({ method: 'POST', url: '/auth/mfa/totp', headers: { cookie, ...https } })).json()
  const step = await steadyStep()
  t.equal((await post(app, '/auth/mfa/totp/confirm', { code: totpCode(secret, step - 1) }, { cookie, ...https })).statusCode, 200)
  const afterPassword = await postLogin(app, 'hanne', PASSWORD, https)
  const pending = afterPassword.cookies.find((c) => c.name === '__Host-sid-mfa')
  t.ok(pending, 'named after the session cookie')
  t.equal(pending?.secure, true)
  t.equal(pending?.path, '/')
  t.notOk(pending?.domain, 'no Domain: the __Host- rules')
  const done = await completeLogin(app, `__Host-sid-mfa=${pending!.value}`, totpCode(secret, step))
  t.equal(done.statusCode, 400, 'not over HTTPS: refused')
  t.equal(done.json().code, 'INSECURE_TRANSPORT')
  const overHttps = await post(app, '/auth/login/mfa', { code: totpCode(secret, step) }, { cookie: `__Host-sid-mfa=${pending!.value}`, ...https })
  t.equal(overHttps.statusCode, 200)
  t.ok(overHttps.cookies.some((c) => c.name === '__Host-sid' && c.secure), 'the session cookie')
})

t.test('a pending login is void once the password changes or every session ends', async (t) => {
  const app = await build(t, { LOGIN_RATE_LIMIT_MAX: '100' })
  const user = await enrolled(app, 'ilse')
  const step = await steadyStep()
  const beforeLogout = await passwordStep(app, 'ilse')
  t.equal((await post(app, '/auth/logout', { everywhere: true }, { cookie: user.cookie })).statusCode, 204)
  const afterLogout = await completeLogin(app, beforeLogout, totpCode(user.secret, step))
  t.equal(afterLogout.statusCode, 401, 'a right code, for a login started before logging out everywhere')
  t.equal(afterLogout.json().code, 'LOGIN_INTERRUPTED')
  t.equal((await completeLogin(app, beforeLogout, totpCode(user.secret, step + 1))).json().code, 'MFA_LOGIN_EXPIRED', 'and it is gone')

  const cookie = sessionCookie(await completeLogin(app, await passwordStep(app, 'ilse'), totpCode(user.secret, step + 1)))
  const beforeChange = await passwordStep(app, 'ilse')
  const changed = await app.inject({ method: 'PUT', url: '/auth/password', ...json({ currentPassword: PASSWORD, newPassword: 'another good password' }), headers: { cookie, 'content-type': 'application/json' } })
  t.equal(changed.statusCode, 204)
  const afterChange = await completeLogin(app, beforeChange, user.recoveryCodes[0]!)
  t.equal(afterChange.json().code, 'LOGIN_INTERRUPTED', 'a login that proved the old password')
  t.equal((await me(app, sessionCookie(changed))).json().mfa.recoveryCodesLeft, 10, 'its code was not spent')
})

t.test('a TOTP code is accepted once: neither the confirming code nor a login code works again', async (t) => {
  const app = await build(t)
  const user = await enrolled(app, 'quinn')
  const confirmingCode = totpCode(user.secret, user.lastStep)
  const replayedConfirmation = await completeLogin(app, await passwordStep(app, 'quinn'), confirmingCode)
  t.equal(replayedConfirmation.statusCode, 401, 'the code that turned MFA on')
  t.equal(replayedConfirmation.json().code, 'INVALID_MFA_CODE')

  const code = totpCode(user.secret, user.lastStep + 1)
  t.equal((await completeLogin(app, await passwordStep(app, 'quinn'), code)).statusCode, 200, 'a new code logs in')
  const replayed = await completeLogin(app, await passwordStep(app, 'quinn'), code)
  t.equal(replayed.statusCode, 401, 'the same code in a second login')
  t.equal(replayed.json().code, 'INVALID_MFA_CODE')
  const older = await completeLogin(app, await passwordStep(app, 'quinn'), totpCode(user.secret, user.lastStep))
  t.equal(older.statusCode, 401, 'nor an earlier step once a later one was used')
})

t.test('a recovery code logs in once, in any case and spacing, and ends every other session', async (t) => {
  const app = await build(t)
  const user = await enrolled(app, 'rosa')
  const [first, second] = user.recoveryCodes as [string, string]
  const typed = first.toUpperCase().replaceAll('-', ' ')
  const response = await completeLogin(app, await passwordStep(app, 'rosa'), typed)
  t.equal(response.statusCode, 200)
  t.equal(response.json().recoveryCodesLeft, 9)
  const cookie = sessionCookie(response)
  t.equal((await me(app, cookie)).json().session.authMethod, 'password+recovery_code')
  t.equal((await me(app, cookie)).json().mfa.recoveryCodesLeft, 9)
  const older = await me(app, user.cookie)
  t.equal(older.statusCode, 401, 'the session that was there before is ended')
  t.equal(older.json().code, 'SESSION_EXPIRED')

  const again = await completeLogin(app, await passwordStep(app, 'rosa'), first)
  t.equal(again.statusCode, 401, 'a used recovery code')
  t.equal(again.json().code, 'INVALID_MFA_CODE')
  t.equal((await me(app, cookie)).statusCode, 200, 'a refused code ends nothing')
  t.equal((await completeLogin(app, await passwordStep(app, 'rosa'), second)).statusCode, 200, 'another code works')
  t.equal((await me(app, cookie)).statusCode, 401, 'and ends the other sessions in turn')
})

t.test('wrong codes count toward the account lock; knowing the password does not reset it', async (t) => {
  const app = await build(t, { ACCOUNT_LOCK_THRESHOLD: '3', ACCOUNT_LOCK_BASE_SECONDS: '60', LOGIN_RATE_LIMIT_MAX: '100' })
  const user = await enrolled(app, 'sven')
  const step = await steadyStep()
  const wrongCode = totpCode(user.secret, step + 7)
  for (let i = 0; i < 2; i++) t.equal((await completeLogin(app, await passwordStep(app, 'sven'), wrongCode)).statusCode, 401, `wrong code ${i + 1}`)
  // A right password between the failures resets nothing: the third wrong code locks.
  const pending = await passwordStep(app, 'sven')
  t.equal((await completeLogin(app, pending, wrongCode)).statusCode, 401, 'wrong code 3')
  const locked = await completeLogin(app, pending, totpCode(user.secret, step))
  t.equal(locked.statusCode, 429, 'the right code, while locked')
  t.equal(locked.json().code, 'ACCOUNT_LOCKED')
  t.ok(Number(locked.headers['retry-after']) > 0)
  const passwordWhileLocked = await postLogin(app, 'sven')
  t.equal(passwordWhileLocked.json().code, 'ACCOUNT_LOCKED', 'the password step too')
  const disable = await app.inject({ method: 'DELETE', url: '/auth/mfa/totp', ...json({ code: totpCode(user.secret, step) }), headers: { 'cookie': user.cookie, 'content-type': 'application/json' } })
  t.equal(disable.json().code, 'ACCOUNT_LOCKED', 'no guessing at codes from a logged-in session either')
  t.equal((await me(app, user.cookie)).json().mfa.enabled, true)
})

t.test('a pending login ends after 5 wrong codes, and the login rate limit counts the second step', async (t) => {
  const app = await build(t, { ACCOUNT_LOCK_THRESHOLD: '100', LOGIN_RATE_LIMIT_MAX: '8' })
  const user = await enrolled(app, 'tove')
  const step = await steadyStep()
  const pending = await passwordStep(app, 'tove')
  for (let i = 0; i < 5; i++) t.equal((await completeLogin(app, pending, totpCode(user.secret, step + 9))).json().code, 'INVALID_MFA_CODE')
  const afterFive = await completeLogin(app, pending, totpCode(user.secret, step))
  t.equal(afterFive.statusCode, 401, 'even the right code')
  t.equal(afterFive.json().code, 'MFA_LOGIN_EXPIRED')
  const statuses = []
  for (let i = 0; i < 3; i++) statuses.push((await completeLogin(app, pending, '000000')).statusCode)
  t.same(statuses, [401, 401, 429], 'the 9th request to POST /auth/login/mfa from this IP is refused')
})

t.test('sensitive actions need a fresh session: 403 REAUTH_REQUIRED until POST /auth/reauth', async (t) => {
  const app = await build(t, { REAUTH_MAX_AGE_SECONDS: '1' })
  await postRegister(app, 'ulla')
  const cookie = sessionCookie(await postLogin(app, 'ulla'))
  await sleep(1_100)
  const sensitive = [
    { method: 'PUT', url: '/auth/password', body: { currentPassword: PASSWORD, newPassword: 'a whole new password' } },
    { method: 'POST', url: '/auth/mfa/totp' },
    { method: 'DELETE', url: '/auth/sessions' },
    { method: 'POST', url: '/auth/logout', body: { everywhere: true } },
    { method: 'POST', url: '/auth/tokens', body: { name: 'ci', scopes: ['read'] } },
  ] as const
  const send = (request: (typeof sensitive)[number], cookie: string) => {
    const body = 'body' in request ? json(request.body) : { headers: {} }
    return app.inject({ method: request.method, url: request.url, ...body, headers: { ...body.headers, cookie } })
  }
  for (const request of sensitive) {
    const response = await send(request, cookie)
    t.equal(response.statusCode, 403, `${request.method} ${request.url}`)
    t.equal(response.json().code, 'REAUTH_REQUIRED')
    t.match(response.json().message, /1 seconds/)
  }
  const other = sessionCookie(await postLogin(app, 'ulla'))
  const otherId = (await app.inject({ url: '/auth/sessions', headers: { cookie: other } })).json().sessions.find((s: { current: boolean }) => s.current).id
  const endOther = await app.inject({ method: 'DELETE', url: `/auth/sessions/${otherId}`, headers: { cookie } })
  t.equal(endOther.json().code, 'REAUTH_REQUIRED', 'ending another session takes a fresh one too')
  const unknown = await app.inject({ method: 'DELETE', url: `/auth/sessions/${'x'.repeat(43)}`, headers: { cookie } })
  t.equal(unknown.json().code, 'REAUTH_REQUIRED', 'and says nothing of whether the handle exists')
  t.equal((await me(app, other)).statusCode, 200, 'the other session lives on')
  t.equal((await me(app, cookie)).statusCode, 200, 'everything else still works, and the session was not ended')

  const wrong = await post(app, '/auth/reauth', { password: 'not the password' }, { cookie })
  t.equal(wrong.statusCode, 401)
  t.equal(wrong.json().code, 'INVALID_CREDENTIALS')
  const reauth = await post(app, '/auth/reauth', { password: PASSWORD }, { cookie })
  t.equal(reauth.statusCode, 200)
  const body = reauth.json()
  t.equal(body.authMethod, 'password')
  t.equal(Date.parse(body.freshUntil) - Date.parse(body.authenticatedAt), 1_000)
  const fresh = sessionCookie(reauth)
  t.not(fresh, cookie, 'a new session ID')
  t.equal((await me(app, cookie)).statusCode, 401, 'the old ID is ended')
  t.equal((await me(app, fresh)).json().session.authenticatedAt, body.authenticatedAt)
  const created = await send(sensitive[4], fresh)
  t.equal(created.statusCode, 201, 'fresh again: the token is made')
})

t.test('re-authentication with MFA on needs the code; fresh sessions turn MFA off and make new recovery codes', async (t) => {
  // Long enough for the fresh session to outlast the key derivation of the login checked on the way (a second or
  // more on a busy machine at OWASP's cost), short enough to wait out.
  const app = await build(t, { REAUTH_MAX_AGE_SECONDS: '4' })
  const user = await enrolled(app, 'vera')
  await sleep(4_100)
  const step = await steadyStep()
  const stale = await app.inject({ method: 'DELETE', url: '/auth/mfa/totp', ...json({ code: totpCode(user.secret, step) }), headers: { 'cookie': user.cookie, 'content-type': 'application/json' } })
  t.equal(stale.json().code, 'REAUTH_REQUIRED', 'turning it off needs a fresh session')
  const withoutCode = await post(app, '/auth/reauth', { password: PASSWORD }, { cookie: user.cookie })
  t.equal(withoutCode.statusCode, 401)
  t.equal(withoutCode.json().code, 'MFA_CODE_REQUIRED')
  const reauth = await post(app, '/auth/reauth', { password: PASSWORD, code: totpCode(user.secret, step) }, { cookie: user.cookie })
  t.equal(reauth.statusCode, 200)
  t.equal(reauth.json().authMethod, 'password+totp')
  const cookie = sessionCookie(reauth)

  const renewed = await post(app, '/auth/mfa/recovery-codes', { code: user.recoveryCodes[0] }, { cookie })
  t.equal(renewed.statusCode, 200)
  const recoveryCodes: string[] = renewed.json().recoveryCodes
  t.equal(recoveryCodes.length, 10)
  t.equal((await me(app, cookie)).json().mfa.recoveryCodesLeft, 10)
  t.equal((await completeLogin(app, await passwordStep(app, 'vera'), user.recoveryCodes[1]!)).statusCode, 401, 'the old codes are void')

  const wrong = await app.inject({ method: 'DELETE', url: '/auth/mfa/totp', headers: { cookie, 'content-type': 'application/json' }, payload: '{"code":"000000"}' })
  t.equal(wrong.json().code, 'INVALID_MFA_CODE')
  const off = await app.inject({ method: 'DELETE', url: '/auth/mfa/totp', headers: { cookie, 'content-type': 'application/json' }, payload: JSON.stringify({ code: totpCode(user.secret, step + 1) }) })
  t.equal(off.statusCode, 200)
  t.same((await me(app, cookie)).json().mfa, { enabled: false, enabledAt: null, recoveryCodesLeft: 0 })
  const passwordOnly = await postLogin(app, 'vera')
  t.ok(passwordOnly.json().user, 'the password alone logs in again')
})

t.test('turning MFA on or off ends every other session of the user', async (t) => {
  const app = await build(t)
  await postRegister(app, 'wim')
  const [a, b] = [sessionCookie(await postLogin(app, 'wim')), sessionCookie(await postLogin(app, 'wim'))]
  const { secret } = await startEnrolment(app, a)
  const step = await steadyStep()
  const on = await post(app, '/auth/mfa/totp/confirm', { code: totpCode(secret, step - 1) }, { cookie: a })
  t.equal(on.json().revokedSessions, 1)
  t.equal((await me(app, b)).statusCode, 401, 'the other session ended when MFA went on')
  t.equal((await me(app, a)).statusCode, 200, 'the enabling session stays')
  const c = sessionCookie(await completeLogin(app, await passwordStep(app, 'wim'), totpCode(secret, step)))
  const off = await app.inject({ method: 'DELETE', url: '/auth/mfa/totp', headers: { 'cookie': a, 'content-type': 'application/json' }, payload: JSON.stringify({ code: totpCode(secret, step + 1) }) })
  t.equal(off.json().revokedSessions, 1)
  t.equal((await me(app, c)).statusCode, 401, 'and the other session ended when it went off')
  t.equal((await me(app, a)).statusCode, 200)
})

t.test("admins see whether a user has MFA and reset it, which ends the user's sessions", async (t) => {
  const app = await build(t, { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: PASSWORD })
  const user = await enrolled(app, 'xena')
  const admin = sessionCookie(await postLogin(app, 'root'))
  const status = await app.inject({ url: '/admin/users/xena/mfa', headers: { cookie: admin } })
  t.equal(status.statusCode, 200)
  t.equal(status.json().enabled, true)
  t.equal(status.json().recoveryCodesLeft, 10)
  t.equal((await app.inject({ url: '/admin/users/xena/mfa', headers: { cookie: user.cookie } })).statusCode, 403, 'not for users')
  const reset = await app.inject({ method: 'DELETE', url: '/admin/users/xena/mfa', headers: { cookie: admin } })
  t.equal(reset.statusCode, 200)
  t.equal(reset.json().revoked, 1)
  t.equal((await me(app, user.cookie)).statusCode, 401, "the user's sessions are ended")
  t.ok((await postLogin(app, 'xena')).json().user, 'the password alone logs in')
  const again = await app.inject({ method: 'DELETE', url: '/admin/users/xena/mfa', headers: { cookie: admin } })
  t.equal(again.statusCode, 409)
  t.equal(again.json().code, 'MFA_NOT_ENABLED')
  t.equal((await app.inject({ url: '/admin/users/nobody/mfa', headers: { cookie: admin } })).statusCode, 404)
})

t.test('the whole flow with bearer tokens: mfaToken in, session token out, re-authentication gives a new token', async (t) => {
  const app = await build(t, { REAUTH_MAX_AGE_SECONDS: '60' })
  const user = await enrolled(app, 'yuki')
  const step = await steadyStep()
  const first = await post(app, '/auth/login', { username: 'yuki', password: PASSWORD, transport: 'token' })
  t.equal(first.statusCode, 200)
  t.same(Object.keys(first.json()).sort(), ['expiresAt', 'mfaRequired', 'mfaToken'])
  t.same(first.cookies, [], 'no cookie at all')
  const { mfaToken } = first.json()
  t.equal((await app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${mfaToken}` } })).statusCode, 401, 'the mfaToken is no session')
  const second = await post(app, '/auth/login/mfa', { code: totpCode(user.secret, step), mfaToken })
  t.equal(second.statusCode, 200)
  t.same(Object.keys(second.json()).sort(), ['expiresAt', 'token', 'user'])
  t.same(second.cookies, [])
  const bearer = { authorization: `Bearer ${second.json().token}` }
  t.equal((await app.inject({ url: '/auth/me', headers: bearer })).json().session.authMethod, 'password+totp')

  const reauth = await post(app, '/auth/reauth', { password: PASSWORD, code: totpCode(user.secret, step + 1) }, bearer)
  t.equal(reauth.statusCode, 200)
  t.ok(reauth.json().token, 'a new token')
  t.same(reauth.cookies, [])
  t.equal((await app.inject({ url: '/auth/me', headers: bearer })).statusCode, 401, 'the old token is ended')
  t.equal((await app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${reauth.json().token}` } })).statusCode, 200)
})

t.test('TOTP secrets survive a SESSION_SECRET rotation: opened by an old secret still listed, sealed anew on use', async (t) => {
  const prefix = uniquePrefix()
  const [oldSecret, newSecret] = ['an-old-secret-of-at-least-32-characters!', 'a-new-secret-of-at-least-32-characters!!']
  const before = await build(t, { REDIS_PREFIX: prefix, SESSION_SECRET: oldSecret })
  const user = await enrolled(before, 'ines')
  const sealedBefore = (await storedAccount(before, 'ines'))?.totpSecret

  const rotating = await build(t, { REDIS_PREFIX: prefix, SESSION_SECRET: `${newSecret},${oldSecret}` })
  t.equal((await completeLogin(rotating, await passwordStep(rotating, 'ines'), totpCode(user.secret, user.lastStep + 1))).statusCode, 200, 'opened with the old secret')
  t.not((await storedAccount(rotating, 'ines'))?.totpSecret, sealedBefore, 'sealed anew under the new secret')

  // Under a secret that never sealed it, TOTP fails closed; the next code is then refused although it is right...
  const lost = await build(t, { REDIS_PREFIX: prefix, SESSION_SECRET: 'a-third-secret-of-at-least-32-characters' })
  const nextCode = totpCode(user.secret, user.lastStep + 2)
  t.equal((await completeLogin(lost, await passwordStep(lost, 'ines'), nextCode)).json().code, 'INVALID_MFA_CODE', 'no key opens it')
  t.equal((await completeLogin(lost, await passwordStep(lost, 'ines'), user.recoveryCodes[0]!)).statusCode, 200, 'recovery codes still work')
  // ...as the instance with the new secret alone shows, which takes that very code: the old secret is no longer needed.
  const after = await build(t, { REDIS_PREFIX: prefix, SESSION_SECRET: newSecret })
  t.equal((await completeLogin(after, await passwordStep(after, 'ines'), nextCode)).statusCode, 200, 'sealed under the new secret alone')
})

t.test('bad input to the MFA routes: 4xx with the error shape, never a 500', async (t) => {
  const app = await build(t, { LOGIN_RATE_LIMIT_MAX: '100' })
  const user = await enrolled(app, 'zora')
  const bodies = [{}, { code: '' }, { code: 'x'.repeat(65) }, { code: '12345<' }, { code: 123456 }, { code: '123456', extra: 1 }, { code: '123456', mfaToken: 'y'.repeat(65) }]
  for (const body of bodies) {
    for (const url of ['/auth/login/mfa', '/auth/mfa/recovery-codes', '/auth/reauth']) {
      const response = await post(app, url, body, { cookie: user.cookie })
      t.ok(response.statusCode >= 400 && response.statusCode < 500, `${url} ${JSON.stringify(body).slice(0, 40)}: ${response.statusCode}`)
      t.type(response.json().code, 'string')
    }
  }
  const unknownToken = await post(app, '/auth/login/mfa', { code: '123456', mfaToken: 'not-a-pending-login' })
  t.equal(unknownToken.json().code, 'MFA_LOGIN_EXPIRED')
  t.equal((await me(app, user.cookie)).json().mfa.recoveryCodesLeft, 10, 'nothing was spent')
})
