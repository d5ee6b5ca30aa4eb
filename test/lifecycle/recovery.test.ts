import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import type { ParsedMail } from 'mailparser'
import t, { type Test } from 'tap'
import { accountTokenRecords, newToken } from '../../src/accounts/mail-tokens.js'
import { startInstance } from '../support/app-process.js'
import { injected, type Client } from '../support/client.js'
import { enrolled, logIn, passwordStep, PASSWORD, registerWithEmail } from '../support/flows.js'
import { build, linkOf, MailServer, ownPostgres, testMail, testRedis, uniquePrefix, type App } from '../support/helper.js'
import { steadyStep, totpCode } from '../support/totp.js'

// A way back in: verified email addresses and password reset by mailed links, read from a real SMTP server.

const PUBLIC_URL = 'https://app.example.test'
const NEW_PASSWORD = 'a brand new passphrase'

async function setup(t: Test, env: Record<string, string> = {}) {
  const app = await build(t, { PUBLIC_URL, ...env })
  return { app, via: injected(app), mail: await testMail() }
}

const RESET_MAIL = /Reset your/

/** Follows the newest link mailed to `email` to confirm it. */
async function verifyLatest(via: Client, mail: MailServer, email: string): Promise<void> {
  const [link] = (await mail.waitFor(email, 1, /Confirm your/)).slice(-1)
  const reply = await via.call('POST', '/auth/email/verify', { body: { token: linkOf(link!).token } })
  if (reply.status !== 200) throw new Error(`verify ${email}: ${reply.status} ${JSON.stringify(reply.body)}`)
}

/** Registers with an address and follows the link mailed to it. */
async function verified(via: Client, mail: MailServer, username: string, email: string): Promise<void> {
  await registerWithEmail(via, username, email)
  await verifyLatest(via, mail, email)
}

/** Asks for a reset link for `email` and waits for it: the token. */
async function resetToken(via: Client, mail: MailServer, email: string): Promise<string> {
  const before = mail.to(email, RESET_MAIL).length
  const reply = await via.call('POST', '/auth/password/forgot', { body: { email } })
  if (reply.status !== 202) throw new Error(`forgot ${email}: ${reply.status}`)
  return linkOf((await mail.waitFor(email, before + 1, RESET_MAIL)).at(-1)!).token
}

const loginStatus = async (via: Client, username: string, password: string) =>
  (await via.call('POST', '/auth/login', { body: { username, password } })).status

async function metric(app: App, series: string): Promise<number> {
  const text = (await app.inject({ url: '/metrics' })).body
  const line = text.split('\n').find((candidate) => candidate.startsWith(series))
  return line === undefined ? 0 : Number(line.split(' ').at(-1))
}

t.test('registration with an address mails a link on PUBLIC_URL that verifies it once', async (t) => {
  const { app, via, mail } = await setup(t)
  await registerWithEmail(via, 'vera', 'Vera@Example.test')
  const cookie = await logIn(via, 'vera')
  const before = await via.call('GET', '/auth/me', { cookie })
  t.match(before.body, { email: 'Vera@Example.test', emailVerified: false })

  const [message] = await mail.waitFor('vera@example.test')
  t.match(message!.subject, /Confirm your email address/)
  t.ok(message!.html, 'an HTML part beside the text')
  const { url, token } = linkOf(message!)
  t.equal(`${url.origin}${url.pathname}`, `${PUBLIC_URL}/verify-email`, 'the link is built from PUBLIC_URL, not from the request')
  t.ok(Buffer.from(token, 'base64url').length >= 16, 'at least 128 bits')
  const stored = await app.db.selectFrom('accountTokens').select('tokenHash').execute()
  t.notOk(stored.some((row) => row.tokenHash === token), 'the token is stored only as a hash')

  const verify = await app.inject({ method: 'POST', url: '/auth/email/verify', payload: { token } })
  t.equal(verify.statusCode, 200)
  t.same(verify.json(), { email: 'Vera@Example.test', emailVerified: true })
  t.equal(verify.headers['referrer-policy'], 'no-referrer')
  t.match((await via.call('GET', '/auth/me', { cookie })).body, { email: 'Vera@Example.test', emailVerified: true })
  const again = await via.call('POST', '/auth/email/verify', { body: { token } })
  t.match(again, { status: 400, body: { code: 'INVALID_TOKEN' } }, 'the link works once')
})

t.test('forgot password answers the same, in the same time, for a known and an unknown address', async (t) => {
  const { via, mail } = await setup(t, { LOGIN_RATE_LIMIT_MAX: '1000', MAIL_RATE_LIMIT_MAX: '1000' })
  await verified(via, mail, 'known', 'known@example.test')
  const ask = async (email: string) => {
    const started = performance.now()
    const reply = await via.call('POST', '/auth/password/forgot', { body: { email } })
    return { reply, ms: performance.now() - started }
  }
  const known = await ask('known@example.test')
  const unknown = await ask('nobody@example.test')
  t.equal(known.reply.status, 202)
  t.same(unknown.reply, known.reply, 'the same status, body and cookies')

  const samples = { known: [] as number[], unknown: [] as number[] }
  for (let i = 0; i < 40; i++) {
    samples.known.push((await ask('known@example.test')).ms)
    samples.unknown.push((await ask(`nobody${i}@example.test`)).ms)
  }
  const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1]!
  const [a, b] = [median(samples.known), median(samples.unknown)]
  t.ok(Math.max(a, b) / Math.min(a, b) < 1.5, `medians over 40 requests each: ${a.toFixed(2)} ms known, ${b.toFixed(2)} ms unknown`)

  await mail.waitFor('known@example.test', 41, RESET_MAIL)
  t.equal(mail.to('nobody@example.test').length, 0, 'an unknown address gets no mail')
})

t.test('a reset ends every session on two instances, refuses the old password, works once and sends a notice', async (t) => {
  const redis = await testRedis()
  const mail = await testMail()
  const env = { REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix(), SMTP_URL: mail.url, MAIL_RETRY_DELAY_SECONDS: '1', PUBLIC_URL }
  const [one, two] = await Promise.all([startInstance(t, env), startInstance(t, env)])
  await verified(one!, mail, 'rita', 'rita@example.test')
  const sessions = [await logIn(one!, 'rita'), await logIn(two!, 'rita')]
  const bearer = await one!.call('POST', '/auth/login', { body: { username: 'rita', password: PASSWORD, transport: 'token' } })

  const token = await resetToken(two!, mail, 'rita@example.test')
  const reset = await one!.call('POST', '/auth/password/reset', { body: { token, newPassword: NEW_PASSWORD } })
  t.equal(reset.status, 204)
  t.equal(reset.cookie, null, 'no one is logged in')
  for (const [i, cookie] of sessions.entries()) {
    for (const instance of [one!, two!]) t.equal((await instance.call('GET', '/auth/me', { cookie })).status, 401, `session ${i} ended`)
  }
  t.equal((await two!.call('GET', '/auth/me', { authorization: `Bearer ${bearer.body.token as string}` })).status, 401, 'the bearer session too')
  t.equal(await loginStatus(two!, 'rita', PASSWORD), 401, 'the old password is refused')
  t.equal(await loginStatus(two!, 'rita', NEW_PASSWORD), 200, 'the new one works')
  const again = await two!.call('POST', '/auth/password/reset', { body: { token, newPassword: 'yet another passphrase' } })
  t.match(again, { status: 400, body: { code: 'INVALID_TOKEN' } }, 'the link works once')
  await mail.waitFor('rita@example.test', 1, /password was changed/)
  await sleep(1500)
  t.same(mail.to('rita@example.test').map((message) => message.subject), [
    'Confirm your email address for Redis Session API',
    'Reset your Redis Session API password',
    'Your Redis Session API password was changed',
  ], 'the link, then the notice, each once')
})

t.test('four requests with one reset token at once: exactly one succeeds', async (t) => {
  const { app, via, mail } = await setup(t, { LOGIN_RATE_LIMIT_MAX: '100' })
  await verified(via, mail, 'racer', 'racer@example.test')
  for (let round = 0; round < 3; round++) {
    const token = await resetToken(via, mail, 'racer@example.test')
    const replies = await Promise.all(
      Array.from({ length: 4 }, (_, i) => via.call('POST', '/auth/password/reset', { body: { token, newPassword: `${NEW_PASSWORD} ${round}.${i}` } })),
    )
    t.same(replies.map((reply) => reply.status).sort(), [204, 400, 400, 400], `round ${round}`)
    const winner = replies.findIndex((reply) => reply.status === 204)
    t.equal(await loginStatus(via, 'racer', `${NEW_PASSWORD} ${round}.${winner}`), 200, "the winner's password is the one set")
  }
  t.equal(await metric(app, 'account_events_total{event="password_reset"}'), 3)
})

t.test('with two-factor login on, a reset needs its code, keeps it on, and voids a login in flight', async (t) => {
  const { via, mail } = await setup(t)
  const user = await enrolled(via, 'tessa')
  t.equal((await via.call('PUT', '/auth/email', { cookie: user.cookie, body: { email: 'tessa@example.test' } })).status, 202)
  await verifyLatest(via, mail, 'tessa@example.test')
  const pending = await passwordStep(via, 'tessa')

  const token = await resetToken(via, mail, 'tessa@example.test')
  const body = { token, newPassword: NEW_PASSWORD }
  t.match(await via.call('POST', '/auth/password/reset', { body }), { status: 401, body: { code: 'MFA_CODE_REQUIRED' } })
  t.match(await via.call('POST', '/auth/password/reset', { body: { ...body, code: '000000' } }), { status: 401, body: { code: 'INVALID_MFA_CODE' } })
  const step = await steadyStep()
  t.equal((await via.call('POST', '/auth/password/reset', { body: { ...body, code: totpCode(user.secret, step) } })).status, 204)

  const login = await via.call('POST', '/auth/login', { body: { username: 'tessa', password: NEW_PASSWORD } })
  t.equal(login.body.mfaRequired, true, 'the second factor stays on')
  const late = await via.call('POST', '/auth/login/mfa', { cookie: pending, body: { code: totpCode(user.secret, step + 1) } })
  t.match(late, { status: 401, body: { code: 'LOGIN_INTERRUPTED' } }, 'the login started before the reset is void')
})

t.test('a reset link survives a few wrong codes, not more', async (t) => {
  const { via, mail } = await setup(t, { ACCOUNT_LOCK_THRESHOLD: '100' })
  const user = await enrolled(via, 'tries')
  await via.call('PUT', '/auth/email', { cookie: user.cookie, body: { email: 'tries@example.test' } })
  await verifyLatest(via, mail, 'tries@example.test')
  const token = await resetToken(via, mail, 'tries@example.test')
  const attempt = (code: string) => via.call('POST', '/auth/password/reset', { body: { token, newPassword: NEW_PASSWORD, code } })
  for (let i = 0; i < 5; i++) t.equal((await attempt('000000')).status, 401)
  t.match(await attempt(totpCode(user.secret, await steadyStep())), { status: 400, body: { code: 'INVALID_TOKEN' } }, 'spent by five wrong codes')
})

t.test('the mail server down during a forgot, then up: the mail arrives exactly once', async (t) => {
  const mail = await MailServer.start()
  t.teardown(() => mail.stop())
  const { app, via } = await setup(t, { SMTP_URL: mail.url })
  await verified(via, mail, 'patient', 'patient@example.test')
  await mail.stop()
  t.equal((await via.call('POST', '/auth/password/forgot', { body: { email: 'patient@example.test' } })).status, 202, 'the request does not wait for mail')
  for (let i = 0; i < 100 && (await metric(app, 'mail_events_total{event="failed"}')) === 0; i++) await sleep(100)
  t.ok((await metric(app, 'mail_events_total{event="failed"}')) >= 1, 'an attempt failed while the server was down')
  await mail.resume()
  await mail.waitFor('patient@example.test', 1, RESET_MAIL)
  await sleep(3000)
  t.equal(mail.to('patient@example.test', RESET_MAIL).length, 1, 'one reset mail: no duplicate')
  t.equal(await metric(app, 'mail_events_total{event="sent"}'), 2)
})

t.test('after its last attempt a mail is dead: kept in mail.dead, counted and logged', async (t) => {
  const mail = await MailServer.start()
  await mail.stop()
  const { app, via } = await setup(t, { SMTP_URL: mail.url, MAIL_RETRY_LIMIT: '1' })
  await registerWithEmail(via, 'lost', 'lost@example.test')
  for (let i = 0; i < 200 && (await metric(app, 'mail_events_total{event="dead"}')) === 0; i++) await sleep(100)
  t.equal(await metric(app, 'mail_events_total{event="dead"}'), 1)
  t.equal(await metric(app, 'mail_events_total{event="failed"}'), 1, 'one retry before')
  for (let i = 0; i < 50 && (await app.jobs.getQueueSize('mail.dead')) === 0; i++) await sleep(100)
  t.equal(await app.jobs.getQueueSize('mail.dead'), 1)
})

t.test('bad input: unknown and expired tokens, malformed addresses, get a clear 4xx', async (t) => {
  const { app, via, mail } = await setup(t)
  await verified(via, mail, 'expiry', 'expiry@example.test')
  const token = await resetToken(via, mail, 'expiry@example.test')
  await app.db.updateTable('accountTokens').set({ expiresAt: sql`now() - interval '1 second'` }).execute()
  const expired = await via.call('POST', '/auth/password/reset', { body: { token, newPassword: NEW_PASSWORD } })
  t.match(expired, { status: 400, body: { code: 'INVALID_TOKEN' } })
  t.equal(await loginStatus(via, 'expiry', PASSWORD), 200, 'the password is unchanged')
  t.match(await via.call('POST', '/auth/password/reset', { body: { token: 'made-up', newPassword: NEW_PASSWORD } }), { status: 400, body: { code: 'INVALID_TOKEN' } })
  t.match(await via.call('POST', '/auth/email/verify', { body: { token: 'made-up' } }), { status: 400, body: { code: 'INVALID_TOKEN' } })
  for (const email of ['not-an-address', '', 'a@', `${'x'.repeat(250)}@example.test`]) {
    t.match(await via.call('POST', '/auth/password/forgot', { body: { email } }), { status: 400, body: { code: 'VALIDATION' } }, `forgot ${JSON.stringify(email).slice(0, 20)}`)
  }
  t.match(await via.call('POST', '/auth/register', { body: { username: 'bad', password: PASSWORD, email: 'nope' } }), { status: 400, body: { code: 'VALIDATION' } })
  t.match(await via.call('POST', '/auth/password/reset', { body: { token, newPassword: 'short' } }), { status: 400, body: { code: 'VALIDATION' } })
})

t.test('an address another account has verified: the same answer, and its owner is told instead', async (t) => {
  const { via, mail } = await setup(t)
  await verified(via, mail, 'owner', 'taken@example.test')
  await registerWithEmail(via, 'copycat', 'TAKEN@example.test')
  const [notice] = await mail.waitFor('taken@example.test', 1, /was given for a/)
  t.throws(() => linkOf(notice!), 'no link in the notice')
  t.equal(mail.to('taken@example.test').length, 2, 'and no confirmation link for the copycat')
})

t.test('two accounts verifying one address at once: one gets it', async (t) => {
  const { via, mail } = await setup(t)
  await registerWithEmail(via, 'first', 'shared@example.test')
  await registerWithEmail(via, 'second', 'shared@example.test')
  const links = await mail.waitFor('shared@example.test', 2, /Confirm your/)
  const replies = await Promise.all(links.map((link) => via.call('POST', '/auth/email/verify', { body: { token: linkOf(link).token } })))
  t.same(replies.map((reply) => reply.status).sort(), [200, 409])
  t.equal(replies.find((reply) => reply.status === 409)!.body.code, 'EMAIL_TAKEN')
})

t.test('PUT /auth/email: the new address counts once verified; the old one gets a notice', async (t) => {
  const { via, mail } = await setup(t)
  await verified(via, mail, 'mover', 'old@example.test')
  const cookie = await logIn(via, 'mover')
  t.equal((await via.call('PUT', '/auth/email', { cookie, body: { email: 'new@example.test' } })).status, 202)
  const [notice] = await mail.waitFor('old@example.test', 1, /new email address was requested/)
  t.match(notice!.text, /new@example\.test/)
  t.match((await via.call('GET', '/auth/me', { cookie })).body, { email: 'old@example.test', emailVerified: true }, 'unchanged until verified')
  await verifyLatest(via, mail, 'new@example.test')
  t.match((await via.call('GET', '/auth/me', { cookie })).body, { email: 'new@example.test', emailVerified: true })
  t.equal((await via.call('POST', '/auth/password/forgot', { body: { email: 'old@example.test' } })).status, 202)
  await sleep(2500)
  t.equal(mail.to('old@example.test').length, 2, 'the old address no longer gets reset links')
})

t.test('REQUIRE_VERIFIED_EMAIL: an address to register, and no login until it is verified', async (t) => {
  const { via, mail } = await setup(t, { REQUIRE_VERIFIED_EMAIL: 'true' })
  t.match(await via.call('POST', '/auth/register', { body: { username: 'noaddress', password: PASSWORD } }), { status: 400, body: { code: 'EMAIL_REQUIRED' } })
  await registerWithEmail(via, 'waiting', 'waiting@example.test')
  t.match(await via.call('POST', '/auth/login', { body: { username: 'waiting', password: PASSWORD } }), { status: 403, body: { code: 'EMAIL_NOT_VERIFIED' } })
  t.equal(await loginStatus(via, 'waiting', 'wrong password'), 401, 'a wrong password says nothing about the address')
  t.equal((await via.call('POST', '/auth/email/resend', { body: { email: 'waiting@example.test' } })).status, 202)
  const links = await mail.waitFor('waiting@example.test', 2, /Confirm your/)
  const statuses = []
  for (const link of links) statuses.push((await via.call('POST', '/auth/email/verify', { body: { token: linkOf(link).token } })).status)
  t.same(statuses.sort(), [200, 400], 'the newer link ends the older one')
  t.equal(await loginStatus(via, 'waiting', PASSWORD), 200)
})

t.test('mails one address may be sent are limited, whoever asks', async (t) => {
  const { via } = await setup(t, { MAIL_RATE_LIMIT_MAX: '2' })
  const ask = () => via.call('POST', '/auth/password/forgot', { body: { email: 'Flooded@example.test' } })
  t.same([(await ask()).status, (await ask()).status], [202, 202])
  t.match(await ask(), { status: 429, body: { code: 'RATE_LIMITED' } })
  t.equal((await via.call('POST', '/auth/email/resend', { body: { email: 'flooded@EXAMPLE.test' } })).status, 429, 'in any letter case, across routes')
  t.equal((await via.call('POST', '/auth/password/forgot', { body: { email: 'other@example.test' } })).status, 202)
})

t.test('PostgreSQL down: forgot answers 503 at once, the workers wait it out, and mail flows again once it is back', async (t) => {
  const postgres = await ownPostgres(t)
  const { via, mail } = await setup(t, { DATABASE_URL: await postgres.createDatabase('mail_outage') })
  await verified(via, mail, 'weathered', 'weathered@example.test')
  await postgres.halt()
  const started = Date.now()
  const refused = await via.call('POST', '/auth/password/forgot', { body: { email: 'weathered@example.test' } })
  t.ok(Date.now() - started < 1000, `answered in ${Date.now() - started} ms`)
  t.match(refused, { status: 503, body: { code: 'STORE_UNAVAILABLE' } }, 'nothing queued, and the client is told to retry')
  // Every worker polls (and fails) a few times meanwhile: none of it may end the process.
  await sleep(2500)
  await postgres.resume()
  t.equal((await resetToken(via, mail, 'weathered@example.test')).length, 43, 'a reset link (a 256-bit token) arrives once it is back')
})

t.test('an email change taken back, by changing back or by DELETE /auth/email/pending, ends every link mailed for it', async (t) => {
  const { app, via, mail } = await setup(t, { MAIL_RATE_LIMIT_MAX: '100' })
  await verified(via, mail, 'undo', 'undo@example.test')
  const cookie = await logIn(via, 'undo')
  const change = (email: string) => via.call('PUT', '/auth/email', { cookie, body: { email } })

  t.equal((await change('typo@example.test')).status, 202)
  const [typoLink] = await mail.waitFor('typo@example.test', 1, /Confirm your/)
  t.match((await via.call('GET', '/auth/me', { cookie })).body, { email: 'undo@example.test', emailVerified: true, pendingEmail: 'typo@example.test' })
  t.equal((await change('UNDO@example.test')).status, 202, 'back to the verified address, in any letter case')
  t.match((await via.call('GET', '/auth/me', { cookie })).body, { email: 'undo@example.test', emailVerified: true, pendingEmail: null })
  t.match(await via.call('POST', '/auth/email/verify', { body: { token: linkOf(typoLink!).token } }), { status: 400, body: { code: 'INVALID_TOKEN' } }, 'the link mailed to the mistyped address verifies nothing')

  t.equal((await change('other@example.test')).status, 202)
  const [otherLink] = await mail.waitFor('other@example.test', 1, /Confirm your/)
  t.equal((await via.call('DELETE', '/auth/email/pending', { cookie })).status, 204)
  t.match(await via.call('POST', '/auth/email/verify', { body: { token: linkOf(otherLink!).token } }), { status: 400, body: { code: 'INVALID_TOKEN' } }, 'a cancelled change verifies nothing')
  t.match((await via.call('GET', '/auth/me', { cookie })).body, { email: 'undo@example.test', emailVerified: true, pendingEmail: null })

  // A link a worker issued after the change was taken back (it read the account before): the account no longer waits
  // for that address, so the link verifies nothing either.
  const late = newToken()
  const { id } = (await via.call('GET', '/auth/me', { cookie })).body.user as { id: string }
  await accountTokenRecords(app.db).issue(late, { userId: id, email: 'other@example.test' }, 'verify_email')
  t.match(await via.call('POST', '/auth/email/verify', { body: { token: late } }), { status: 400, body: { code: 'INVALID_TOKEN' } }, 'nor a link issued late')

  t.equal((await via.call('POST', '/auth/password/forgot', { body: { email: 'other@example.test' } })).status, 202)
  t.equal((await via.call('POST', '/auth/password/forgot', { body: { email: 'undo@example.test' } })).status, 202)
  await mail.waitFor('undo@example.test', 1, RESET_MAIL)
  t.equal(mail.to('other@example.test', RESET_MAIL).length, 0, 'and the cancelled address gets no reset link')
})

t.test('an unverified address taken back: its links end and the account has no address', async (t) => {
  const { via, mail } = await setup(t)
  await registerWithEmail(via, 'unsure', 'unsure@example.test')
  const [link] = await mail.waitFor('unsure@example.test', 1, /Confirm your/)
  const cookie = await logIn(via, 'unsure')
  t.equal((await via.call('DELETE', '/auth/email/pending', { cookie })).status, 204)
  t.match((await via.call('GET', '/auth/me', { cookie })).body, { email: null, emailVerified: false, pendingEmail: null })
  t.match(await via.call('POST', '/auth/email/verify', { body: { token: linkOf(link!).token } }), { status: 400, body: { code: 'INVALID_TOKEN' } })
})

t.test('one verification link spent by four requests at once: one verifies, the others are refused', async (t) => {
  const { app, via, mail } = await setup(t, { LOGIN_RATE_LIMIT_MAX: '100' })
  for (let round = 0; round < 3; round++) {
    const email = `once${round}@example.test`
    await registerWithEmail(via, `once${round}`, email)
    const [link] = await mail.waitFor(email, 1, /Confirm your/)
    const replies = await Promise.all(Array.from({ length: 4 }, () => via.call('POST', '/auth/email/verify', { body: { token: linkOf(link!).token } })))
    t.same(replies.map((reply) => reply.status).sort(), [200, 400, 400, 400], `round ${round}`)
  }
  t.equal(await metric(app, 'account_events_total{event="email_verified"}'), 3)
})

t.test('the token store: a link spent by ten calls at once has one spender', async (t) => {
  const { app, via } = await setup(t)
  await registerWithEmail(via, 'spender', 'spender@example.test')
  const { id } = (await app.db.selectFrom('users').select('id').where('username', '=', 'spender').executeTakeFirstOrThrow())
  for (const purpose of ['verify_email', 'reset_password'] as const) {
    const token = newToken()
    await accountTokenRecords(app.db).issue(token, { userId: id, email: 'spender@example.test' }, purpose)
    const spent = await Promise.all(Array.from({ length: 10 }, () => accountTokenRecords(app.db).spend(token, purpose)))
    t.equal(spent.filter((holder) => holder !== null).length, 1, `${purpose}: spent once`)
    t.equal(await accountTokenRecords(app.db).find(token, purpose), null, `${purpose}: and gone`)
  }
})

t.test('no reset link for an address never verified, nor for a disabled account', async (t) => {
  const { via, mail } = await setup(t, { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'an admin passphrase' })
  await registerWithEmail(via, 'unproven', 'unproven@example.test')
  await verified(via, mail, 'benched', 'benched@example.test')
  const admin = await logIn(via, 'root', 'an admin passphrase')
  t.equal((await via.call('PATCH', '/admin/users/benched', { cookie: admin, body: { disabled: true } })).status, 200)
  await verified(via, mail, 'control', 'control@example.test')
  for (const email of ['unproven@example.test', 'benched@example.test', 'control@example.test']) {
    t.equal((await via.call('POST', '/auth/password/forgot', { body: { email } })).status, 202, `the same answer for ${email}`)
  }
  await mail.waitFor('control@example.test', 1, RESET_MAIL)
  await sleep(2000)
  t.equal(mail.to('unproven@example.test', RESET_MAIL).length, 0, 'an address typed at registration proves nothing: no reset link')
  t.equal(mail.to('benched@example.test', RESET_MAIL).length, 0, 'a disabled account has nothing to reset')
})

t.test('a reset link and its notice go to the address as stored, never as typed', async (t) => {
  const { via, mail } = await setup(t)
  await verified(via, mail, 'casey', 'cv-x@example.test')
  const token = await resetToken(via, mail, 'CV-X@Example.TEST')
  const recipient = (message: ParsedMail) => (Array.isArray(message.to) ? message.to[0] : message.to)?.value[0]?.address
  t.equal(recipient(mail.to('cv-x@example.test', RESET_MAIL).at(-1)!), 'cv-x@example.test', 'the link')
  t.equal((await via.call('POST', '/auth/password/reset', { body: { token, newPassword: NEW_PASSWORD } })).status, 204)
  const [notice] = await mail.waitFor('cv-x@example.test', 1, /password was changed/)
  t.equal(recipient(notice!), 'cv-x@example.test', 'the notice')
})

t.test('every mail to an address counts toward its limit: registrations, and each further link of a resend', async (t) => {
  const { via, mail } = await setup(t, { MAIL_RATE_LIMIT_MAX: '6' })
  const email = 'crowded@example.test'
  for (const username of ['squat1', 'squat2', 'squat3', 'rightful']) {
    t.equal((await via.call('POST', '/auth/register', { body: { username, password: PASSWORD, email } })).status, 201)
  }
  await mail.waitFor(email, 4, /Confirm your/)
  t.equal((await via.call('POST', '/auth/email/resend', { body: { email } })).status, 202, 'the fifth mail')
  const resent = (await mail.waitFor(email, 6, /Confirm your/)).slice(4)
  await sleep(2000)
  t.equal(mail.to(email, /Confirm your/).length, 6, 'the resend stops at the limit: two links, not three')
  t.same(resent.map((message) => /Hello (\w+),/.exec(message.text ?? '')?.[1]).sort(), ['rightful', 'squat3'], 'to the newest holders first')
  t.match(resent.find((message) => message.text?.includes('Hello rightful'))!.text, /Other .* accounts gave this address too.*naming your own username/s, 'telling the reader what to do when it is not theirs')
  t.match(await via.call('POST', '/auth/email/resend', { body: { email } }), { status: 429, body: { code: 'RATE_LIMITED' } })
  t.match(await via.call('POST', '/auth/register', { body: { username: 'squat4', password: PASSWORD, email } }), { status: 429, body: { code: 'RATE_LIMITED' } }, 'a registration that would mail the address is refused, and makes no account')
  t.equal((await via.call('POST', '/auth/login', { body: { username: 'squat4', password: PASSWORD } })).status, 401)
})

t.test('a resend naming a username reaches that account alone, whoever else gave the address', async (t) => {
  const { via, mail } = await setup(t, { MAIL_RATE_LIMIT_MAX: '100' })
  const email = 'named@example.test'
  for (const username of ['owner1', 'squatA', 'squatB', 'squatC']) await registerWithEmail(via, username, email)
  await mail.waitFor(email, 4, /Confirm your/)
  t.equal((await via.call('POST', '/auth/email/resend', { body: { email, username: 'owner1' } })).status, 202)
  t.equal((await via.call('POST', '/auth/email/resend', { body: { email, username: 'stranger' } })).status, 202, 'the same answer for any name')
  const [link] = (await mail.waitFor(email, 5, /Confirm your/)).slice(4)
  t.match(link!.text, /Hello owner1,/)
  t.equal((await via.call('POST', '/auth/email/verify', { body: { token: linkOf(link!).token } })).status, 200, 'and the owner verifies it')
  await sleep(1500)
  t.equal(mail.to(email, /Confirm your/).length, 5, 'one link, for the named account')
})

t.test('the notices of address changes count toward the verified address\'s limit: a session cannot flood it', async (t) => {
  const { via, mail } = await setup(t, { MAIL_RATE_LIMIT_MAX: '2' })
  await verified(via, mail, 'noticed', 'noticed@example.test')
  const cookie = await logIn(via, 'noticed')
  t.equal((await via.call('PUT', '/auth/email', { cookie, body: { email: 'first@example.test' } })).status, 202, 'its second mail')
  t.match(await via.call('PUT', '/auth/email', { cookie, body: { email: 'second@example.test' } }), { status: 429, body: { code: 'RATE_LIMITED' } }, 'a third notice is refused')
  await mail.waitFor('noticed@example.test', 1, /new email address was requested/)
  await sleep(1500)
  t.equal(mail.to('noticed@example.test', /new email address was requested/).length, 1)
})
