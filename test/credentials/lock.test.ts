import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { instancePairs } from '../support/app-process.js'
import { injected } from '../support/client.js'
import * as flows from '../support/flows.js'
import { build, json, loggedIn, PASSWORD, postLogin, postRegister, sessionCookie, testRedis, uniquePrefix } from '../support/helper.js'
import { completeLogin } from '../support/mfa-helpers.js'
import { totpCode } from '../support/totp.js'

// A one-second first lock keeps the test short; the doubling is what is checked.
const env = { ACCOUNT_LOCK_BASE_SECONDS: '1', LOGIN_RATE_LIMIT_MAX: '1000', TRUST_PROXY: 'true' }
// For tests that need a lock to hold while they log in with device cookies: each of those logins costs a key
// derivation (a quarter of a second or more), so a one-second lock could lift before the test looks.
const lasting = { ...env, ACCOUNT_LOCK_BASE_SECONDS: '60' }
const fromIp = (ip: string) => ({ 'x-forwarded-for': ip })

t.test('after 5 failed logins the account answers 429 ACCOUNT_LOCKED from any IP, the right password included', async (t) => {
  const app = await build(t, env)
  await postRegister(app, 'target')
  for (let attempt = 1; attempt <= 5; attempt++) {
    const response = await postLogin(app, 'target', 'wrong password', fromIp(`10.0.0.${attempt}`))
    t.equal(response.statusCode, 401, `failure ${attempt}`)
  }
  for (const ip of ['10.0.0.1', '10.9.9.9']) {
    const locked = await postLogin(app, 'TARGET', undefined, fromIp(ip))
    t.equal(locked.statusCode, 429, ip)
    t.same(locked.json(), {
      statusCode: 429,
      error: 'Too Many Requests',
      message: 'Too many failed logins for this account; retry later',
      code: 'ACCOUNT_LOCKED',
    })
    t.equal(locked.headers['retry-after'], '1')
    t.notOk(locked.cookies.find((c) => c.name === 'sid'), 'no session')
  }
})

t.test('each further failure doubles the lock, and a success resets the count', async (t) => {
  const app = await build(t, env)
  await postRegister(app, 'doubler')
  for (let attempt = 0; attempt < 5; attempt++) await postLogin(app, 'doubler', 'wrong password')
  await sleep(1100)
  t.equal((await postLogin(app, 'doubler', 'wrong password')).statusCode, 401, 'the sixth failure, once the lock has passed')
  t.equal((await postLogin(app, 'doubler')).headers['retry-after'], '2', 'locked for twice as long')
  await sleep(2100)
  t.equal((await postLogin(app, 'doubler')).statusCode, 200, 'the right password once the lock has passed')
  for (let attempt = 0; attempt < 4; attempt++) await postLogin(app, 'doubler', 'wrong password')
  t.equal((await postLogin(app, 'doubler')).statusCode, 200, 'four failures after a success do not lock')
})

t.test('the lock never exceeds ACCOUNT_LOCK_MAX_SECONDS', async (t) => {
  const app = await build(t, { ...env, ACCOUNT_LOCK_THRESHOLD: '1', ACCOUNT_LOCK_MAX_SECONDS: '1' })
  await postLogin(app, 'nobody', 'wrong password')
  await sleep(1100)
  await postLogin(app, 'nobody', 'wrong password')
  t.equal((await postLogin(app, 'nobody')).headers['retry-after'], '1')
})

t.test('an unknown username locks the same way, so a lock does not reveal that an account exists', async (t) => {
  const app = await build(t, env)
  for (let attempt = 0; attempt < 5; attempt++) t.equal((await postLogin(app, 'ghost', 'wrong password')).statusCode, 401)
  t.equal((await postLogin(app, 'ghost', 'wrong password')).json().code, 'ACCOUNT_LOCKED')
})

t.test('60 wrong passwords for one account at once from 60 addresses on two instances: 5 judged, the rest 429', async (t) => {
  const redis = await testRedis()
  const [one, two] = await instancePairs(t, { REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix(), ...env, ACCOUNT_LOCK_BASE_SECONDS: '30' })()
  await flows.register(one!, 'besieged')
  const guesses = await Promise.all(
    Array.from({ length: 60 }, (_, i) =>
      fetch(`${[one!, two!][i % 2]!.url}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...fromIp(`10.1.${Math.floor(i / 250)}.${i % 250}`) },
        body: JSON.stringify({ username: 'besieged', password: `wrong password ${i}` }),
      }).then((response) => response.status)),
  )
  t.equal(guesses.filter((status) => status === 401).length, 5, 'exactly the threshold of guesses was judged')
  t.equal(guesses.filter((status) => status === 429).length, 55, 'the others were refused unjudged')
  const right = await two!.call('POST', '/auth/login', { body: { username: 'besieged', password: PASSWORD } })
  t.equal(right.status, 429, 'and the account is locked')
})

t.test('wrong second-factor codes at once: no more are judged than the lock allows', async (t) => {
  const app = await build(t, env)
  const user = await flows.enrolled(injected(app), 'coded')
  const pending = await Promise.all(Array.from({ length: 4 }, () => flows.passwordStep(injected(app), 'coded')))
  const codes = await Promise.all(
    Array.from({ length: 20 }, (_, i) => completeLogin(app, pending[i % 4]!, totpCode(user.secret, user.lastStep + 5 + i)).then((r) => r.statusCode)),
  )
  t.equal(codes.filter((status) => status === 401).length, 5, '5 wrong codes judged')
  t.equal(codes.filter((status) => status === 429).length, 15, '15 refused unjudged')
})

t.test('PUT /auth/password goes through the lock and the login limit per address', async (t) => {
  const app = await build(t, { ...env, LOGIN_RATE_LIMIT_MAX: '8' })
  const cookie = await loggedIn(app, 'changer')
  const change = (currentPassword: string) =>
    app.inject({ method: 'PUT', url: '/auth/password', ...json({ currentPassword, newPassword: 'a new password here' }), headers: { cookie, 'content-type': 'application/json' } })
  for (let attempt = 1; attempt <= 5; attempt++) t.equal((await change(`wrong ${attempt}`)).statusCode, 401, `wrong current password ${attempt}`)
  const locked = await change(PASSWORD)
  t.equal(locked.statusCode, 429, 'the sixth, the right one included, finds the account locked')
  t.equal(locked.json().code, 'ACCOUNT_LOCKED')
  t.equal((await postLogin(app, 'changer')).statusCode, 429, 'and so does a login: one count for every route')
  for (let attempt = 7; attempt <= 8; attempt++) await change(PASSWORD)
  t.equal((await change(PASSWORD)).json().code, 'RATE_LIMITED', 'the ninth request from the address, past LOGIN_RATE_LIMIT_MAX (8), is limited')
  await sleep(1100)
  t.equal((await postLogin(app, 'changer', PASSWORD, fromIp('10.3.3.3'))).statusCode, 200, 'the password was never changed')
})

t.test('device cookies: a known client keeps logging in while strangers lock the account', async (t) => {
  const app = await build(t, lasting)
  await postRegister(app, 'owner')
  const first = await postLogin(app, 'owner')
  const device = sessionCookie(first, 'sid-device')
  const line = [first.headers['set-cookie']].flat().find((cookie) => String(cookie).startsWith('sid-device='))
  t.match(line, /; Max-Age=31536000; Path=\/; HttpOnly; SameSite=Strict$/, 'signed, a year, HttpOnly, SameSite=Strict')
  for (let attempt = 1; attempt <= 5; attempt++) await postLogin(app, 'owner', 'wrong password', fromIp(`10.4.0.${attempt}`))
  t.equal((await postLogin(app, 'owner')).statusCode, 429, 'a client without it, the right password included: locked')
  const forged = device.replace(/.$/, (last) => (last === 'A' ? 'B' : 'A'))
  t.equal((await postLogin(app, 'owner', PASSWORD, { cookie: forged })).statusCode, 429, 'a tampered cookie is no device cookie')
  const known = await postLogin(app, 'OWNER', PASSWORD, { cookie: device })
  t.equal(known.statusCode, 200, "the owner's known client logs in")
  t.equal(sessionCookie(known, 'sid-device'), device, 'and keeps its device id')
  const out = await app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie: `${sessionCookie(known)}; ${device}` } })
  t.equal(out.statusCode, 204)
  t.notOk([out.headers['set-cookie']].flat().some((cookie) => String(cookie).startsWith('sid-device=')), 'logout keeps the device cookie')
  t.equal((await postLogin(app, 'owner', PASSWORD, { cookie: device })).statusCode, 200, 'and the device stays known')
  t.equal((await postLogin(app, 'owner')).statusCode, 429, "while strangers' lock stays")
})

t.test('device cookies: a known client is judged by its own count, and the cookie alone grants nothing', async (t) => {
  const app = await build(t, lasting)
  await postRegister(app, 'careful')
  await postRegister(app, 'neighbour')
  const device = sessionCookie(await postLogin(app, 'careful'), 'sid-device')
  for (let attempt = 1; attempt <= 5; attempt++) {
    t.equal((await postLogin(app, 'careful', 'wrong password', { cookie: device })).statusCode, 401, `the device's wrong password ${attempt}`)
  }
  t.equal((await postLogin(app, 'careful', PASSWORD, { cookie: device })).statusCode, 429, 'the device has locked itself out')
  t.equal((await postLogin(app, 'careful')).statusCode, 200, 'other clients are not: its failures were its own')

  for (let attempt = 1; attempt <= 5; attempt++) await postLogin(app, 'neighbour', 'wrong password')
  t.equal((await postLogin(app, 'neighbour', PASSWORD, { cookie: device })).statusCode, 429, "another account's device cookie counts for nothing")
})

t.test("device cookies bind the whole name: one of victim.x is no device of victim, and a dotted name's owner keeps theirs", async (t) => {
  const app = await build(t, lasting)
  for (const username of ['victim', 'victim.a1', 'bob.smith']) await postRegister(app, username)
  const squatter = sessionCookie(await postLogin(app, 'victim.a1'), 'sid-device')
  for (let attempt = 1; attempt <= 5; attempt++) await postLogin(app, 'victim', 'wrong password', fromIp(`10.6.0.${attempt}`))
  t.equal((await postLogin(app, 'victim', 'wrong password', { cookie: squatter })).statusCode, 429, 'the device cookie of victim.a1 buys no guesses at victim while its lock is on')
  t.equal((await postLogin(app, 'victim', PASSWORD, { cookie: squatter })).statusCode, 429, 'the right password included')

  const owner = sessionCookie(await postLogin(app, 'bob.smith'), 'sid-device')
  for (let attempt = 1; attempt <= 5; attempt++) await postLogin(app, 'bob.smith', 'wrong password', fromIp(`10.7.0.${attempt}`))
  t.equal((await postLogin(app, 'bob.smith')).statusCode, 429, 'strangers locked bob.smith out')
  t.equal((await postLogin(app, 'Bob.Smith', PASSWORD, { cookie: owner })).statusCode, 200, "the owner's known client is not")
})
