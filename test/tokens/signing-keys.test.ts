import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import t from 'tap'
import { signingKeyStore } from '../../src/tokens/signing-keys.js'
import { build, json, PASSWORD, postRegister, TEST_SECRET, type App } from '../support/helper.js'

// Signing keys rotate on a schedule: a new key is published (JWKS) before it signs, an old one stays published while
// tokens it signed may live, and instances that find a key due at once make one key between them.

const ROTATION_SECONDS = 6
const JWKS_MAX_AGE_SECONDS = 1
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function accessToken(app: App, username: string): Promise<string> {
  return (await app.inject({ method: 'POST', url: '/auth/login', ...json({ username, password: PASSWORD, transport: 'jwt' }) })).json().accessToken
}
const publishedKids = async (app: App) => ((await app.inject({ url: '/.well-known/jwks.json' })).json().keys as { kid: string }[]).map(({ kid }) => kid)

t.test('a new key is published before its first token, and tokens of the old one still verify', async (t) => {
  const app = await build(t, { JWT_KEY_ROTATION: String(ROTATION_SECONDS), JWKS_MAX_AGE: String(JWKS_MAX_AGE_SECONDS), LOGIN_RATE_LIMIT_MAX: '1000' })
  await postRegister(app, 'rotating')
  const first = await accessToken(app, 'rotating')
  const firstKid = decodeProtectedHeader(first).kid!
  t.same(await publishedKids(app), [firstKid], 'one key at first, signing at once')

  let publishedAt = 0
  let firstSignedAt = 0
  let secondKid: string | undefined
  for (let i = 0; i < 100 && firstSignedAt === 0; i++) {
    const kids = await publishedKids(app)
    if (kids.length > 1 && publishedAt === 0) {
      publishedAt = Date.now()
      secondKid = kids.find((kid) => kid !== firstKid)
    }
    const kid = decodeProtectedHeader(await accessToken(app, 'rotating')).kid
    if (kid !== firstKid) {
      firstSignedAt = Date.now()
      t.equal(kid, secondKid, 'the new key signs once published')
    }
    await sleep(200)
  }
  t.ok(publishedAt > 0 && firstSignedAt > 0, 'a second key came and signed')
  t.ok(firstSignedAt - publishedAt >= 2 * JWKS_MAX_AGE_SECONDS * 1000 - 600, `published ${firstSignedAt - publishedAt} ms before its first token (twice JWKS_MAX_AGE)`)
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
