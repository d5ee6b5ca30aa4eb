import type { AddressInfo } from 'node:net'
import { importJWK, SignJWT, UnsecuredJWT, type JWK } from 'jose'
import t, { type Test } from 'tap'
import { secretBox } from '../../src/lib/secret-box.js'
import { resourceServer } from '../../examples/resource-server/server.js'
import { build, freePort, PASSWORD, TEST_SECRET, type App } from '../support/helper.js'
import { clientOf, type Client } from '../support/client.js'
import { loggedIn, register } from '../support/flows.js'

// What ends a JWT session, and how fast each side sees it: this service at once, a service that verifies offline when
// the access token expires. And what is never taken for one of our access tokens.

const ACCESS_TTL_SECONDS = 2
const INTROSPECTION_SECRET = 'an-introspection-secret-of-32-characters'

interface Pair {
  accessToken: string
  refreshToken: string
}

/** The service listening where PUBLIC_URL (the issuer) says, and the example resource server trusting it. */
async function servicePair(t: Test, env: Record<string, string> = {}) {
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const app = await build(t, {
    PUBLIC_URL: issuer,
    JWT_ACCESS_TTL: String(ACCESS_TTL_SECONDS),
    INTROSPECTION_SECRET,
    ADMIN_USERNAME: 'root',
    ADMIN_PASSWORD: PASSWORD,
    ...env,
  })
  await app.listen({ port, host: '127.0.0.1' })
  const resource = resourceServer({ issuer })
  await new Promise<void>((resolve) => resource.listen(0, '127.0.0.1', resolve))
  t.teardown(() => resource.close())
  const resourceUrl = `http://127.0.0.1:${(resource.address() as AddressInfo).port}`
  const client = clientOf(app)
  return {
    app,
    issuer,
    client,
    /** What the resource server answers the token: its status. */
    resourceStatus: async (accessToken: string) => (await fetch(`${resourceUrl}/notes`, { headers: { authorization: `Bearer ${accessToken}` } })).status,
  }
}

async function jwtLogin(client: Client, username: string): Promise<Pair> {
  const { status, body } = await client.call('POST', '/auth/login', { body: { username, password: PASSWORD, transport: 'jwt' } })
  if (status !== 200) throw new Error(`login answered ${status}`)
  return body as unknown as Pair
}
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const endings: Record<string, (client: Client, pair: Pair, username: string) => Promise<void>> = {
  'a logout with the access token': async (client, { accessToken }) => {
    await client.call('POST', '/auth/logout', bearer(accessToken))
  },
  'POST /auth/revoke with the refresh token': async (client, { refreshToken }) => {
    await client.call('POST', '/auth/revoke', { body: { token: refreshToken } })
  },
  'an admin disabling the account': async (client, _pair, username) => {
    const admin = await client.call('POST', '/auth/login', { body: { username: 'root', password: PASSWORD } })
    await client.call('PATCH', `/admin/users/${username}`, { cookie: admin.cookie!, body: { disabled: true } })
  },
}

t.test('each ending: the refresh token and our routes refuse at once, the resource server only once the token expires', async (t) => {
  const { client, resourceStatus } = await servicePair(t)
  for (const [name, end] of Object.entries(endings)) {
    const username = `ended-${Object.keys(endings).indexOf(name)}`
    await register(client, username)
    const pair = await jwtLogin(client, username)
    t.equal(await resourceStatus(pair.accessToken), 200, `${name}: the resource server accepts the token before`)
    await end(client, pair, username)
    t.equal((await client.call('POST', '/auth/refresh', { body: { refreshToken: pair.refreshToken } })).status, 401, `${name}: refresh refused`)
    t.equal((await client.call('GET', '/auth/me', bearer(pair.accessToken))).status, 401, `${name}: our routes refuse the access token`)
    t.equal(await resourceStatus(pair.accessToken), 200, `${name}: the resource server still accepts it (offline)`)
    await sleep(ACCESS_TTL_SECONDS * 1000 + 1100)
    t.equal(await resourceStatus(pair.accessToken), 401, `${name}: ...until it expires`)
  }
})

t.test('a password change, from the cookie session, ends the JWT session too', async (t) => {
  const { client } = await servicePair(t)
  const cookie = await loggedIn(client, 'changer')
  const pair = await jwtLogin(client, 'changer')
  const sessions = await client.call('GET', '/auth/sessions', { cookie })
  t.equal((sessions.body.sessions as unknown[]).length, 2, 'the JWT session is listed with the others')
  const changed = await client.call('PUT', '/auth/password', { cookie, body: { currentPassword: PASSWORD, newPassword: 'another long password' } })
  t.equal(changed.status, 204)
  t.equal((await client.call('POST', '/auth/refresh', { body: { refreshToken: pair.refreshToken } })).status, 401)
  t.equal((await client.call('GET', '/auth/me', bearer(pair.accessToken))).status, 401)
})

t.test('an access token does what a personal access token may, never what takes a login', async (t) => {
  const { client } = await servicePair(t)
  await register(client, 'limited')
  const { accessToken } = await jwtLogin(client, 'limited')
  t.equal((await client.call('POST', '/api/count', bearer(accessToken))).status, 200, 'a write on the API')
  for (const [method, path, body] of [['GET', '/auth/sessions'], ['PUT', '/auth/password', { currentPassword: PASSWORD, newPassword: 'whatever password' }], ['POST', '/auth/reauth', { password: PASSWORD }]] as const) {
    const reply = await client.call(method, path, { ...bearer(accessToken), body })
    t.equal(reply.status, 403, `${method} ${path}`)
    t.equal(reply.body.code, 'TOKEN_NOT_ALLOWED')
  }
})

/** A token signed with the service's own current key: what only a holder of that key could make. */
async function signedWithServiceKey(app: App, header: { alg: string; typ?: string }, claims: Record<string, unknown>): Promise<string> {
  const row = await app.db.selectFrom('signingKeys').selectAll().orderBy('createdAt', 'desc').executeTakeFirstOrThrow()
  const privateJwk = JSON.parse(secretBox([TEST_SECRET], 'jwt signing key').open(row.sealedPrivateJwk)!.plaintext) as JWK
  return new SignJWT(claims).setProtectedHeader({ ...header, kid: row.kid }).sign(await importJWK(privateJwk, 'EdDSA'))
}

t.test('what is never taken for one of our access tokens', async (t) => {
  const { app, issuer, client, resourceStatus } = await servicePair(t)
  await register(client, 'target')
  const { accessToken } = await jwtLogin(client, 'target')
  const [header, payload, signature] = accessToken.split('.') as [string, string, string]
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>
  const now = Math.floor(Date.now() / 1000)
  const publicJwk = (await client.call('GET', '/.well-known/jwks.json')).body.keys as JWK[]
  const forged: Record<string, string> = {
    'a tampered payload': `${header}.${Buffer.from(JSON.stringify({ ...claims, roles: ['admin'] })).toString('base64url')}.${signature}`,
    'a tampered signature': `${header}.${payload}.${signature.slice(0, -4)}AAAA`,
    'alg: none': new UnsecuredJWT(claims).encode(),
    'HS256 with the public key as its secret': await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: publicJwk[0]!.kid })
      .sign(new TextEncoder().encode(JSON.stringify(publicJwk[0]))),
    'an expired token': await signedWithServiceKey(app, { alg: 'EdDSA', typ: 'at+jwt' }, { ...claims, iat: now - 600, exp: now - 300 }),
    'another audience': await signedWithServiceKey(app, { alg: 'EdDSA', typ: 'at+jwt' }, { ...claims, aud: 'https://other.example' }),
    'another issuer': await signedWithServiceKey(app, { alg: 'EdDSA', typ: 'at+jwt' }, { ...claims, iss: 'https://evil.example' }),
    'another type (an ID token)': await signedWithServiceKey(app, { alg: 'EdDSA', typ: 'JWT' }, claims),
    'no type': await signedWithServiceKey(app, { alg: 'EdDSA' }, claims),
  }
  t.equal(await resourceStatus(await signedWithServiceKey(app, { alg: 'EdDSA', typ: 'at+jwt' }, claims)), 200, 'the helper signs what is accepted')
  t.equal(claims.iss, issuer)
  for (const [name, token] of Object.entries(forged)) {
    const here = await client.call('GET', '/auth/me', bearer(token))
    t.equal(here.status, 401, `${name}: refused here`)
    t.equal(await resourceStatus(token), 401, `${name}: refused by the resource server`)
    const introspected = await client.call('POST', '/auth/introspect', { ...bearer(INTROSPECTION_SECRET), body: { token } })
    t.same(introspected.body, { active: false }, `${name}: inactive to introspection`)
  }
})

t.test('introspection: only with the secret, active only while the session lives, JSON or form', async (t) => {
  const { app, client } = await servicePair(t)
  await register(client, 'seen')
  const pair = await jwtLogin(client, 'seen')
  // The last is as many characters as the secret but more bytes: refused, not a 500.
  for (const authorization of [undefined, 'Bearer not-the-introspection-secret-at-all-no', `Bearer ${'\u00e9'.repeat(INTROSPECTION_SECRET.length)}`]) {
    const refused = await client.call('POST', '/auth/introspect', { authorization, body: { token: pair.accessToken } })
    t.equal(refused.status, 401, `${authorization ?? 'no secret'}: 401`)
  }
  const access = await client.call('POST', '/auth/introspect', { ...bearer(INTROSPECTION_SECRET), body: { token: pair.accessToken } })
  t.match(access.body, { active: true, token_type: 'access_token', username: 'seen', amr: ['pwd'] })
  const form = await app.inject({
    method: 'POST',
    url: '/auth/introspect',
    headers: { ...bearer(INTROSPECTION_SECRET), 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ token: pair.refreshToken, token_type_hint: 'refresh_token' }).toString(),
  })
  t.match(form.json(), { active: true, token_type: 'refresh_token', username: 'seen' }, 'a form body, as RFC 7662 sends it')
  const next = (await client.call('POST', '/auth/refresh', { body: { refreshToken: pair.refreshToken } })).body as unknown as Pair
  const spent = await client.call('POST', '/auth/introspect', { ...bearer(INTROSPECTION_SECRET), body: { token: pair.refreshToken } })
  t.same(spent.body, { active: false }, 'a spent refresh token is not active')
  await client.call('POST', '/auth/revoke', { body: { token: next.accessToken } })
  for (const token of [next.accessToken, next.refreshToken]) {
    const after = await client.call('POST', '/auth/introspect', { ...bearer(INTROSPECTION_SECRET), body: { token } })
    t.same(after.body, { active: false }, 'revoking the access token ended the session: both inactive')
  }
})

t.test('the key set and the metadata are published for caching', async (t) => {
  const { app, issuer } = await servicePair(t)
  const jwks = await app.inject({ url: '/.well-known/jwks.json' })
  t.equal(jwks.headers['cache-control'], 'public, max-age=300')
  t.match(jwks.json().keys[0], { kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' })
  t.notOk('d' in jwks.json().keys[0], 'no private part')
  const metadata = (await app.inject({ url: '/.well-known/oauth-authorization-server' })).json()
  t.match(metadata, {
    issuer,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    revocation_endpoint: `${issuer}/auth/revoke`,
    introspection_endpoint: `${issuer}/auth/introspect`,
  })
})

t.test('an access token this instance verified before is refused here from its exp on', async (t) => {
  const { client } = await servicePair(t)
  await register(client, 'expiring')
  const { accessToken } = await jwtLogin(client, 'expiring')
  t.equal((await client.call('GET', '/auth/me', bearer(accessToken))).status, 200, 'verified once, and remembered')
  await sleep(ACCESS_TTL_SECONDS * 1000 + 1100)
  const expired = await client.call('GET', '/auth/me', bearer(accessToken))
  t.equal(expired.status, 401)
  t.equal(expired.body.code, 'INVALID_ACCESS_TOKEN', 'told to refresh')
})
