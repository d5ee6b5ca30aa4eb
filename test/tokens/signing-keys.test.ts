import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose'
import t from 'tap'
import { signingKeyStore } from '../../src/tokens/signing-keys.js'
import { build, json, PASSWORD, postRegister, TEST_SECRET, type App } from '../support/helper.js'

// Signing keys rotate on a schedule: a new key is published (JWKS) before it signs, an old one stays published while
// tokens it signed may live, and instances that find a key due at once make one key between them.

const ROTATION_SECONDS = 6
const JWKS_MAX_AGE_SECONDS = 1
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const publishedKids = async (app: App) => ((await app.inject({ url: '/.well-known/jwks.json' })).json().keys as { kid: string }[]).map(({ kid }) => kid)

t.test('a new key is published before its first token, and tokens of the old one still verify', async (t) => {
  const app = await build(t, { JWT_KEY_ROTATION: String(ROTATION_SECONDS), JWKS_MAX_AGE: String(JWKS_MAX_AGE_SECONDS), LOGIN_RATE_LIMIT_MAX: '1000' })
  await postRegister(app, 'rotating')
  const login = (await app.inject({ method: 'POST', url: '/auth/login', ...json({ username: 'rotating', password: PASSWORD, transport: 'jwt' }) })).json()
  const first = login.accessToken as string
  let refreshToken = login.refreshToken as string
  const firstKid = decodeProtectedHeader(first).kid!
  t.same(await publishedKids(app), [firstKid], 'one key at first, signing at once')

  // Refreshes (no key derivation) rather than sign-ins, so that each look takes milliseconds.
  let secondKid: string | undefined
  let firstOfSecond: string | undefined
  for (let i = 0; i < 200 && firstOfSecond === undefined; i++) {
    const kids = await publishedKids(app)
    secondKid ??= kids.find((kid) => kid !== firstKid)
    const pair = (await app.inject({ method: 'POST', url: '/auth/refresh', ...json({ refreshToken }) })).json()
    refreshToken = pair.refreshToken
    const kid = decodeProtectedHeader(pair.accessToken).kid
    if (kid !== firstKid) {
      t.ok(secondKid !== undefined, 'the JWKS served the new key before any token of it was seen')
      t.equal(kid, secondKid, 'the new key signs once published')
      firstOfSecond = pair.accessToken
    }
    await sleep(100)
  }
  t.ok(firstOfSecond, 'a second key came and signed')
  // The lead, by the server's clocks rather than by when this test happened to look: the key's row was made (and
  // published) at createdAt, and its first token was signed in the second `iat` names, no sooner than twice JWKS_MAX_AGE
  // later. (`iat` is whole seconds, hence the second's allowance.)
  const { createdAt } = await app.db.selectFrom('signingKeys').select('createdAt').where('kid', '=', secondKid!).executeTakeFirstOrThrow()
  const signedAt = decodeJwt(firstOfSecond!).iat! * 1000
  const lead = 2 * JWKS_MAX_AGE_SECONDS * 1000
  t.ok(signedAt >= createdAt.getTime() + lead - 1000, `first signed ${signedAt - createdAt.getTime()} ms (whole seconds) after it was published`)
  t.ok((await publishedKids(app)).includes(firstKid), 'the old key is still published')
  const jwks = (await app.inject({ url: '/.well-known/jwks.json' })).json()
  await t.resolves(jwtVerify(first, createLocalJWKSet(jwks), { typ: 'at+jwt' }), 'a token of the old key verifies with the set served now')
  t.equal((await app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${first}` } })).statusCode, 200, 'and here')
})

t.test('instances that find a key due at once make one key', async (t) => {
  const app = await build(t, { JWT_KEY_ROTATION: '3600' })
  const schedule = { rotationMs: 3_600_000, publishLeadMs: 600_000, keepAfterMs: 400_000 }
  const instances = Array.from({ length: 6 }, () => signingKeyStore(app.db, [TEST_SECRET], schedule))
  const dueAt = Date.now() + schedule.rotationMs
  const results = await Promise.all(instances.map((keys) => keys.rotate(dueAt)))
  t.same(new Set(results.map((keys) => keys.length)), new Set([2]), 'each sees two keys')
  t.equal((await app.db.selectFrom('signingKeys').select('kid').execute()).length, 2, 'one new key in all')
})

t.test('a key no configured secret opens is published, never used: a new key signs', async (t) => {
  const app = await build(t)
  const [row] = await app.db.selectFrom('signingKeys').selectAll().execute()
  const stranger = signingKeyStore(app.db, ['a-completely-different-secret-of-32-chars'], { rotationMs: 3_600_000, publishLeadMs: 600_000, keepAfterMs: 400_000 })
  const keys = await stranger.rotate(Date.now())
  t.equal(keys.length, 2, 'a key of its own was made')
  t.equal(keys.find((key) => key.kid === row!.kid)?.privateKey, null, 'the other key cannot be opened')
  t.ok(keys.find((key) => key.kid !== row!.kid)?.privateKey, 'its own can')
})
