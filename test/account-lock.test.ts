import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { build, login, register } from './support/helper.js'

// A one-second first lock keeps the test short; the doubling is what is checked.
const env = { ACCOUNT_LOCK_BASE_SECONDS: '1', LOGIN_RATE_LIMIT_MAX: '1000', TRUST_PROXY: 'true' }
const fromIp = (ip: string) => ({ 'x-forwarded-for': ip })

t.test('after 5 failed logins the account answers 429 ACCOUNT_LOCKED from any IP, the right password included', async (t) => {
  const app = await build(t, env)
  await register(app, 'target')
  for (let attempt = 1; attempt <= 5; attempt++) {
    const response = await login(app, 'target', 'wrong password', fromIp(`10.0.0.${attempt}`))
    t.equal(response.statusCode, 401, `failure ${attempt}`)
  }
  for (const ip of ['10.0.0.1', '10.9.9.9']) {
    const locked = await login(app, 'TARGET', undefined, fromIp(ip))
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
  await register(app, 'doubler')
  for (let attempt = 0; attempt < 5; attempt++) await login(app, 'doubler', 'wrong password')
  await sleep(1100)
  t.equal((await login(app, 'doubler', 'wrong password')).statusCode, 401, 'the sixth failure, once the lock has passed')
  t.equal((await login(app, 'doubler')).headers['retry-after'], '2', 'locked for twice as long')
  await sleep(2100)
  t.equal((await login(app, 'doubler')).statusCode, 200, 'the right password once the lock has passed')
  for (let attempt = 0; attempt < 4; attempt++) await login(app, 'doubler', 'wrong password')
  t.equal((await login(app, 'doubler')).statusCode, 200, 'four failures after a success do not lock')
})

t.test('the lock never exceeds ACCOUNT_LOCK_MAX_SECONDS', async (t) => {
  const app = await build(t, { ...env, ACCOUNT_LOCK_THRESHOLD: '1', ACCOUNT_LOCK_MAX_SECONDS: '1' })
  await login(app, 'nobody', 'wrong password')
  await sleep(1100)
  await login(app, 'nobody', 'wrong password')
  t.equal((await login(app, 'nobody')).headers['retry-after'], '1')
})

t.test('an unknown username locks the same way, so a lock does not reveal that an account exists', async (t) => {
  const app = await build(t, env)
  for (let attempt = 0; attempt < 5; attempt++) t.equal((await login(app, 'ghost', 'wrong password')).statusCode, 401)
  t.equal((await login(app, 'ghost', 'wrong password')).json().code, 'ACCOUNT_LOCKED')
})
