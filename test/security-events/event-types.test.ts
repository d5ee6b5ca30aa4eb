import t from 'tap'
import { SECURITY_EVENT_TYPES, type SecurityEvent } from '../../src/security-events/index.js'
import { injected, type HttpReply } from '../support/client.js'
import { enrolled, logIn, passwordStep, PASSWORD, register, registerWithEmail } from '../support/flows.js'
import { build, linkOf, testMail } from '../support/helper.js'

// Each event type, written by the action that causes it, and not by the same action when it fails. The rows run in
// order on one service: each is one action of a story (an account's life), followed by what it must have written.

const NEW_PASSWORD = 'a brand new passphrase'

t.test('every security event type is written by the action that causes it, and not when it fails', async (t) => {
  const app = await build(t, {
    ADMIN_USERNAME: 'root',
    ADMIN_PASSWORD: PASSWORD,
    ACCOUNT_LOCK_THRESHOLD: '4',
    REFRESH_REUSE_WINDOW: '0',
    LOGIN_RATE_LIMIT_MAX: '1000',
  })
  const via = injected(app)
  const mail = await testMail()
  const root = await logIn(via, 'root')
  const idOf = async (username: string) => (await app.users.findAccount(username))!.user.id

  let seen = (await app.securityEvents.page({}, 1))[0]?.id ?? '0'
  /** The events written since the last call, oldest first. */
  async function written(): Promise<SecurityEvent[]> {
    const fresh = (await app.securityEvents.page({}, 200)).filter((event) => BigInt(event.id) > BigInt(seen))
    if (fresh.length > 0) seen = fresh[0]!.id
    return fresh.reverse()
  }
  // Every secret the story handles, to look for in every event it wrote (an `id` is a public handle: events name it).
  const secrets = new Set<string>([PASSWORD, NEW_PASSWORD, 'not it at all'])
  const keep = (reply: HttpReply) => {
    for (const value of [reply.cookie, ...Object.values(reply.cookies), ...Object.entries(reply.body).flatMap(([name, value]) => (name === 'id' ? [] : [value])).flat()]) {
      if (typeof value === 'string' && value.length >= 16) secrets.add(value.includes('=') ? value.slice(value.indexOf('=') + 1) : value)
    }
    return reply
  }
  const keepToken = (token: string) => (secrets.add(token), token)
  const expect = async (status: number, reply: Promise<HttpReply>, what: string): Promise<HttpReply> => {
    const answer = await reply
    if (answer.status !== status) throw new Error(`${what}: ${answer.status} ${JSON.stringify(answer.body)}`)
    return keep(answer)
  }

  let ada = ''
  let token = ''
  let refreshToken = ''
  let dee = await enrolled(via, 'dee')
  for (const secret of [dee.secret, ...dee.recoveryCodes]) secrets.add(secret)
  await written()

  interface Row {
    type: (typeof SECURITY_EVENT_TYPES)[number]
    account: string | null
    /** The action, which must answer as it should. */
    act: () => Promise<unknown>
    /** The same action refused, after it succeeded: it must write no event of the type. */
    refused?: () => Promise<unknown>
  }
  const rows: Row[] = [
    { type: 'signup', account: 'ada', act: () => register(via, 'ada'), refused: () => expect(409, via.call('POST', '/auth/register', { body: { username: 'ADA', password: PASSWORD } }), 'taken') },
    { type: 'login', account: 'ada', act: async () => (ada = await logIn(via, 'ada')), refused: () => expect(401, via.call('POST', '/auth/login', { body: { username: 'ada', password: 'not it at all' } }), 'wrong') },
    { type: 'login_failed', account: 'ada', act: () => expect(401, via.call('POST', '/auth/login', { body: { username: 'ada', password: 'not it at all' } }), 'wrong') },
    { type: 'reauth_failed', account: 'ada', act: () => expect(401, via.call('POST', '/auth/reauth', { cookie: ada, body: { password: 'not it at all' } }), 'reauth') },
    {
      type: 'reauth',
      account: 'ada',
      act: async () => {
        ada = (await expect(200, via.call('POST', '/auth/reauth', { cookie: ada, body: { password: PASSWORD } }), 'reauth')).cookie ?? ada
      },
    },
    { type: 'password_change_failed', account: 'ada', act: () => expect(401, via.call('PUT', '/auth/password', { cookie: ada, body: { currentPassword: 'not it at all', newPassword: NEW_PASSWORD } }), 'change') },
    {
      type: 'password_change',
      account: 'ada',
      act: async () => {
        ada = (await expect(204, via.call('PUT', '/auth/password', { cookie: ada, body: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD } }), 'change')).cookie!
      },
    },
    {
      type: 'token_created',
      account: 'ada',
      act: async () => {
        token = ((await expect(201, via.call('POST', '/auth/tokens', { cookie: ada, body: { name: 'ci', scopes: ['read'] } }), 'token')).body as { id: string }).id
      },
      refused: () => expect(400, via.call('POST', '/auth/tokens', { cookie: ada, body: { name: '', scopes: ['read'] } }), 'bad token'),
    },
    { type: 'token_revoked', account: 'ada', act: () => expect(204, via.call('DELETE', `/auth/tokens/${token}`, { cookie: ada }), 'revoke'), refused: () => expect(404, via.call('DELETE', `/auth/tokens/${token}`, { cookie: ada }), 'again') },
    { type: 'email_change_requested', account: 'ada', act: () => expect(202, via.call('PUT', '/auth/email', { cookie: ada, body: { email: 'ada@example.test' } }), 'email') },
    { type: 'email_change_cancelled', account: 'ada', act: () => expect(204, via.call('DELETE', '/auth/email/pending', { cookie: ada }), 'cancel') },
    {
      type: 'email_verified',
      account: 'cyd',
      act: async () => {
        await registerWithEmail(via, 'cyd', 'cyd@example.test')
        const [link] = await mail.waitFor('cyd@example.test', 1, /Confirm your/)
        await expect(200, via.call('POST', '/auth/email/verify', { body: { token: keepToken(linkOf(link!).token) } }), 'verify')
      },
      refused: () => expect(400, via.call('POST', '/auth/email/verify', { body: { token: 'A'.repeat(43) } }), 'bad link'),
    },
    { type: 'password_reset_requested', account: null, act: () => expect(202, via.call('POST', '/auth/password/forgot', { body: { email: 'cyd@example.test' } }), 'forgot') },
    {
      type: 'password_reset',
      account: 'cyd',
      act: async () => {
        const [link] = await mail.waitFor('cyd@example.test', 1, /Reset your/)
        await expect(204, via.call('POST', '/auth/password/reset', { body: { token: keepToken(linkOf(link!).token), newPassword: NEW_PASSWORD } }), 'reset')
      },
    },
    { type: 'password_reset_failed', account: null, act: () => expect(400, via.call('POST', '/auth/password/reset', { body: { token: 'A'.repeat(43), newPassword: NEW_PASSWORD } }), 'reset') },
    {
      type: 'mfa_enabled',
      account: 'eve',
      act: async () => enrolled(via, 'eve'),
      refused: async () => {
        const cookie = await logIn(via, 'ada', NEW_PASSWORD)
        await expect(200, via.call('POST', '/auth/mfa/totp', { cookie }), 'start')
        await expect(401, via.call('POST', '/auth/mfa/totp/confirm', { cookie, body: { code: '000000' } }), 'wrong code')
      },
    },
    { type: 'mfa_failed', account: 'dee', act: async () => expect(401, via.call('POST', '/auth/login/mfa', { cookie: await passwordStep(via, 'dee'), body: { code: '000000' } }), 'code') },
    {
      type: 'recovery_code_used',
      account: 'dee',
      act: async () => {
        const reply = await expect(200, via.call('POST', '/auth/login/mfa', { cookie: await passwordStep(via, 'dee'), body: { code: dee.recoveryCodes[0] } }), 'recovery')
        dee = { ...dee, cookie: reply.cookie! }
      },
    },
    {
      type: 'recovery_codes_replaced',
      account: 'dee',
      act: async () => {
        const reply = await expect(200, via.call('POST', '/auth/mfa/recovery-codes', { cookie: dee.cookie, body: { code: dee.recoveryCodes[1] } }), 'replace')
        dee = { ...dee, recoveryCodes: (reply.body as { recoveryCodes: string[] }).recoveryCodes }
      },
      refused: () => expect(401, via.call('POST', '/auth/mfa/recovery-codes', { cookie: dee.cookie, body: { code: '000000' } }), 'wrong code'),
    },
    { type: 'mfa_disabled', account: 'dee', act: () => expect(200, via.call('DELETE', '/auth/mfa/totp', { cookie: dee.cookie, body: { code: dee.recoveryCodes[0] } }), 'off') },
    { type: 'mfa_reset', account: 'eve', act: () => expect(200, via.call('DELETE', '/admin/users/eve/mfa', { cookie: root }), 'reset'), refused: () => expect(409, via.call('DELETE', '/admin/users/eve/mfa', { cookie: root }), 'again') },
    {
      type: 'revoke',
      account: 'ada',
      act: async () => {
        const other = await logIn(via, 'ada', NEW_PASSWORD)
        const { sessions } = (await via.call('GET', '/auth/sessions', { cookie: other })).body as { sessions: { id: string; current: boolean }[] }
        await expect(204, via.call('DELETE', `/auth/sessions/${sessions.find((session) => session.current)!.id}`, { cookie: other }), 'revoke')
      },
      refused: () => expect(404, via.call('DELETE', `/auth/sessions/${'A'.repeat(43)}`, { cookie: ada }), 'unknown'),
    },
    { type: 'logout', account: 'ada', act: async () => expect(204, via.call('POST', '/auth/logout', { cookie: await logIn(via, 'ada', NEW_PASSWORD) }), 'logout'), refused: () => expect(204, via.call('POST', '/auth/logout', {}), 'none') },
    { type: 'logout_everywhere', account: 'ada', act: () => expect(204, via.call('POST', '/auth/logout', { cookie: ada, body: { everywhere: true } }), 'everywhere') },
    {
      type: 'refresh_token_reused',
      account: 'cyd',
      act: async () => {
        const pair = await expect(200, via.call('POST', '/auth/login', { body: { username: 'cyd', password: NEW_PASSWORD, transport: 'jwt' } }), 'jwt')
        refreshToken = (pair.body as { refreshToken: string }).refreshToken
        await expect(200, via.call('POST', '/auth/refresh', { body: { refreshToken } }), 'refresh')
        await expect(401, via.call('POST', '/auth/refresh', { body: { refreshToken } }), 'reuse')
      },
    },
    { type: 'roles_changed', account: 'cyd', act: () => expect(200, via.call('PATCH', '/admin/users/cyd', { cookie: root, body: { roles: ['user', 'auditor'] } }), 'roles') },
    { type: 'account_disabled', account: 'cyd', act: () => expect(200, via.call('PATCH', '/admin/users/cyd', { cookie: root, body: { disabled: true, reason: 'investigation' } }), 'disable') },
    { type: 'login_disabled', account: 'cyd', act: () => expect(403, via.call('POST', '/auth/login', { body: { username: 'cyd', password: NEW_PASSWORD } }), 'disabled') },
    { type: 'account_enabled', account: 'cyd', act: () => expect(200, via.call('PATCH', '/admin/users/cyd', { cookie: root, body: { disabled: false } }), 'enable') },
    {
      type: 'login_locked',
      account: 'cyd',
      act: async () => {
        for (let attempt = 0; attempt < 4; attempt++) await expect(401, via.call('POST', '/auth/login', { body: { username: 'cyd', password: 'not it at all' } }), 'wrong')
        await expect(429, via.call('POST', '/auth/login', { body: { username: 'cyd', password: NEW_PASSWORD } }), 'locked')
      },
    },
    { type: 'account_deleted', account: 'cyd', act: () => expect(200, via.call('DELETE', '/admin/users/cyd', { cookie: root }), 'delete'), refused: () => expect(404, via.call('DELETE', '/admin/users/cyd', { cookie: root }), 'gone') },
  ]

  t.same(new Set(rows.map((row) => row.type)), new Set(SECURITY_EVENT_TYPES), 'the table has a row for every type')
  for (const row of rows) {
    // Looked up before the action when the account exists already: a deletion takes its name away.
    const existing = row.account === null ? null : await idOf(row.account).catch(() => null)
    await row.act()
    const events = await written()
    const event = events.find((candidate) => candidate.type === row.type)
    t.ok(event, `${row.type}: written (${events.map((candidate) => candidate.type).join(', ')})`)
    const account = row.account === null ? null : (existing ?? (await idOf(row.account)))
    t.equal(event?.userId, account, `${row.type}: against ${row.account ?? 'no account'}`)
    if (row.refused) {
      await row.refused()
      t.notOk((await written()).some((candidate) => candidate.type === row.type), `${row.type}: none when the action is refused`)
    }
  }

  const everything = JSON.stringify(await app.securityEvents.page({}, 1000))
  const leaked = [...secrets].filter((secret) => everything.includes(secret))
  t.same(leaked, [], `no password, code, token, cookie or secret in any of the events (${secrets.size} looked for)`)
})
