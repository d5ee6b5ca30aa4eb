import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose'
import t, { type Test } from 'tap'
import { build, json, PASSWORD, postRegister, type App } from '../support/helper.js'
import { enrolled } from '../support/flows.js'
import { injected } from '../support/client.js'
import { totpCode } from '../support/totp.js'

// Logins with transport "jwt": an access token other services verify offline, a refresh token that rotates, and the
// session behind both, which ends them like any session.

interface Pair {
  accessToken: string
  refreshToken: string
  tokenType: string
  expiresIn: number
}

async function jwtLogin(t: Test, app: App, username: string): Promise<Pair & { user: { id: string } }> {
  const response = await app.inject({ method: 'POST', url: '/auth/login', ...json({ username, password: PASSWORD, transport: 'jwt' }) })
  t.equal(response.statusCode, 200, 'jwt login')
  t.notOk(response.headers['set-cookie'], 'no cookie')
  return response.json()
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const refresh = (app: App, refreshToken: string) => app.inject({ method: 'POST', url: '/auth/refresh', ...json({ refreshToken }) })

t.test('a login with transport "jwt" answers an at+jwt access token and a refresh token', async (t) => {
  const app = await build(t, { PUBLIC_URL: 'https://id.example.test' })
  await postRegister(app, 'mobile')
  const login = await jwtLogin(t, app, 'mobile')
  t.same(Object.keys(login).sort(), ['accessToken', 'expiresIn', 'refreshToken', 'tokenType', 'user'])
  t.equal(login.tokenType, 'Bearer')
  t.equal(login.expiresIn, 300, '5 minutes by default')
  t.match(login.refreshToken, /^rsa_rt_/, 'a refresh token a secret scanner recognises')

  const header = decodeProtectedHeader(login.accessToken)
  t.same({ alg: header.alg, typ: header.typ }, { alg: 'EdDSA', typ: 'at+jwt' })
  const jwks = (await app.inject({ url: '/.well-known/jwks.json' })).json()
  t.ok(jwks.keys.some((key: { kid: string }) => key.kid === header.kid), 'signed by a published key')
  const { payload } = await jwtVerify(login.accessToken, createLocalJWKSet(jwks), { issuer: 'https://id.example.test', audience: 'https://id.example.test', typ: 'at+jwt' })
  t.equal(payload.sub, login.user.id)
  t.same(payload.amr, ['pwd'])
  t.same(payload.roles, ['user'])
  t.equal(payload.exp! - payload.iat!, 300)
  const sessions = (await app.inject({ url: '/auth/me', headers: bearer(login.accessToken) }))
  t.equal(sessions.statusCode, 200, 'our own routes accept it')
})

t.test('a refresh rotates; a retry within the window gets the same pair; a reuse after it ends the session', async (t) => {
  const app = await build(t, { REFRESH_REUSE_WINDOW: '1' })
  await postRegister(app, 'phone')
  const login = await jwtLogin(t, app, 'phone')
  const first = await refresh(app, login.refreshToken)
  t.equal(first.statusCode, 200)
  const next: Pair = first.json()
  t.not(next.refreshToken, login.refreshToken)
  t.not(next.accessToken, login.accessToken)
  const retry = await refresh(app, login.refreshToken)
  t.equal(retry.statusCode, 200, 'a retry within the window')
  t.same(retry.json(), next, 'the identical pair')
  await new Promise((resolve) => setTimeout(resolve, 1200))
  const reuse = await refresh(app, login.refreshToken)
  t.equal(reuse.statusCode, 401)
  t.equal(reuse.json().code, 'INVALID_REFRESH_TOKEN')
  t.equal((await refresh(app, next.refreshToken)).statusCode, 401, 'the current token of the family is gone too')
  const me = await app.inject({ url: '/auth/me', headers: bearer(next.accessToken) })
  t.equal(me.statusCode, 401, 'and its access token refused here at once')
  t.equal(decodeJwt(next.accessToken).sub, login.user.id)
})

t.test('a two-factor login with transport "jwt": the code step answers the pair, and amr says how', async (t) => {
  const app = await build(t)
  const user = await enrolled(injected(app), 'guarded')
  const first = await app.inject({ method: 'POST', url: '/auth/login', ...json({ username: 'guarded', password: PASSWORD, transport: 'jwt' }) })
  t.match(first.json(), { mfaRequired: true, mfaToken: String }, 'the pending login travels as mfaToken, not a cookie')
  t.notOk(first.headers['set-cookie'])
  const second = await app.inject({
    method: 'POST',
    url: '/auth/login/mfa',
    ...json({ mfaToken: first.json().mfaToken, code: totpCode(user.secret, user.lastStep + 1) }),
  })
  t.equal(second.statusCode, 200)
  const { accessToken, refreshToken } = second.json()
  t.same(decodeJwt(accessToken).amr, ['pwd', 'otp', 'mfa'])
  t.equal((await refresh(app, refreshToken)).statusCode, 200, 'its refresh token rotates')
})

t.test('refresh tokens that are not ours, or not tokens, are refused the same way and end nothing', async (t) => {
  const app = await build(t)
  await postRegister(app, 'intact')
  const login = await jwtLogin(t, app, 'intact')
  const [handle] = login.refreshToken.slice('rsa_rt_'.length).split('.')
  const guesses = ['', 'rsa_rt_', 'x'.repeat(3000), `rsa_rt_${handle}.${'A'.repeat(22)}.${'B'.repeat(43)}`, login.accessToken]
  for (const guess of guesses) {
    const response = await refresh(app, guess)
    t.ok([400, 401].includes(response.statusCode), `${guess.slice(0, 20)}...: ${response.statusCode}`)
  }
  t.equal((await refresh(app, login.refreshToken)).statusCode, 200, 'a guess naming the family ended nothing: it still refreshes')
})
