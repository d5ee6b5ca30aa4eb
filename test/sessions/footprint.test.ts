import { setTimeout as sleep } from 'node:timers/promises'
import fc from 'fast-check'
import t from 'tap'
import { countKeys } from '../../src/platform/redis/client.js'
import { decodeFields, encodeFields } from '../../src/sessions/records.js'
import { BROWSER_USER_AGENT, build, commandsDuring, ownRedis, postLogin, postRegister, sessionCookie, testRedis, uniquePrefix } from '../support/helper.js'
import { redisKeys } from '../../src/lib/keys.js'

// Strings of any characters (fast-check's default is ASCII): stored values are escaped to ASCII, and must read back.
const anyJson = fc.jsonValue({ stringUnit: 'binary' })
const anyString = (maxLength: number) => fc.string({ unit: 'binary', maxLength })
// Names other than the two with short forms, tested on their own below.
const attributes = fc.dictionary(fc.stringMatching(/^[a-zA-Z]{1,12}$/).filter((name) => name !== 'user' && name !== 'userAgent'), anyJson)
const user = fc.record({ id: fc.uuid(), username: anyString(64).filter((name) => name.length > 0), roles: fc.array(fc.constantFrom('user', 'admin', 'auditor')) })
const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

t.test('every stored value is at most 64 bytes (Redis keeps the hash a compact listpack) and reads back whole', async (t) => {
  fc.assert(
    fc.property(attributes, (data) => {
      const fields = encodeFields(data)
      return Object.values(fields).every((value) => Buffer.byteLength(value) <= 64) && sameJson(decodeFields(fields), data)
    }),
  )
  t.pass('for any attributes, any characters')
})

t.test('the user and the User-Agent, in every session, are stored in short forms that read back whole', async (t) => {
  const readsBack = (user: unknown, userAgent: string) => sameJson(decodeFields(encodeFields({ user, userAgent })), { user, userAgent })
  fc.assert(fc.property(user, anyString(256), readsBack))
  const stored = encodeFields({ user: { id: '6f1c3b9e-2a41-4d2c-9a53-0f0d8e4b7c21', username: 'alice', roles: ['user'] }, userAgent: BROWSER_USER_AGENT })
  const bytes = Object.entries(stored).reduce((sum, [name, value]) => sum + name.length + value.length, 0)
  t.ok(bytes < 120, `a desktop browser's session: ${bytes} bytes of names and values, from ${BROWSER_USER_AGENT.length} of User-Agent alone`)
})

t.test('chunks a concurrent write of a longer value left behind never leak into a shorter one', async (t) => {
  const overwrite = (older: unknown, newer: unknown) => decodeFields({ ...encodeFields({ a: older }), ...encodeFields({ a: newer }) }).a
  fc.assert(fc.property(anyJson, anyJson, (older, newer) => sameJson(overwrite(older, newer), newer)))
  t.pass('the newer value reads whole, whatever the older one was')
})

t.test('a session as earlier versions stored it (values whole, the user as an object, the User-Agent plain) still reads', async (t) => {
  const user = { id: '6f1c3b9e-2a41-4d2c-9a53-0f0d8e4b7c21', username: 'alice', roles: ['user'] }
  const stored = { user: JSON.stringify(user), userAgent: JSON.stringify(BROWSER_USER_AGENT), remember: 'false' }
  t.same(decodeFields(stored), { user, userAgent: BROWSER_USER_AGENT, remember: false })
})

/** The keys a command writes, for the commands sessions use. */
const WRITES = new Set(['hset', 'hdel', 'hincrby', 'pexpire', 'zadd', 'zrem', 'del', 'unlink', 'set', 'incr', 'incrby'])
const writtenKeys = (commands: string[][]) => new Set(commands.filter(([command]) => WRITES.has(command!)).map(([, key]) => key!))

t.test('no write of a login or a touch goes to a key another user writes too (only per-IP rate-limit counters)', async (t) => {
  const redis = await testRedis()
  const prefix = uniquePrefix()
  const app = await build(t, { REDIS_PREFIX: prefix, SESSION_IDLE_TTL: '60', SESSION_TOUCH_INTERVAL: '1' }, redis)
  const headers = { 'user-agent': BROWSER_USER_AGENT }
  const loginAndTouch = async (username: string) => {
    const cookie = sessionCookie(await postLogin(app, username, undefined, headers))
    await sleep(1100)
    t.equal((await app.inject({ url: '/api/dashboard', headers: { cookie } })).statusCode, 200)
  }
  await Promise.all(['ann', 'ben'].map((username) => postRegister(app, username)))
  const [ann, ben] = [writtenKeys(await commandsDuring(redis, () => loginAndTouch('ann'))), writtenKeys(await commandsDuring(redis, () => loginAndTouch('ben')))]
  const shared = [...ann].filter((key) => ben.has(key) && !key.startsWith(redisKeys(prefix).rateLimitPrefix))
  t.ok(ann.size >= 2, `ann's writes: ${[...ann]}`)
  t.same(shared, [], 'no key written for both users')
  t.notOk([...ann, ...ben].some((key) => key.endsWith('live-sessions')), 'no global list of sessions')
})

t.test('the global list of sessions of versions before 0.3 is deleted at start', async (t) => {
  const redis = await testRedis()
  const client = redis.client(t)
  const prefix = uniquePrefix()
  await client.zadd(redisKeys(prefix).legacyLiveSessions, Date.now() + 60_000, 'an old handle')
  await build(t, { REDIS_PREFIX: prefix }, redis)
  t.equal(await client.exists(redisKeys(prefix).legacyLiveSessions), 0)
})

t.test('live sessions are counted without a key of their own: exact on a small store, estimated on a large one', async (t) => {
  const server = await ownRedis(t)
  const client = server.client(t)
  const fill = async (prefix: string, count: number) => {
    const pipeline = client.pipeline()
    for (let i = 0; i < count; i++) pipeline.set(`${prefix}${i}`, '1', 'EX', 600)
    await pipeline.exec()
  }
  await fill('p:sess:', 300)
  await fill('p:other:', 500)
  t.equal(await countKeys(client, 'p:sess:'), 300, 'exact under 10,000 keys')
  await fill('p:sess:', 15_000)
  await fill('p:other:', 15_000)
  const estimate = await countKeys(client, 'p:sess:')
  t.ok(Math.abs(estimate / 15_000 - 1) < 0.2, `estimated ${estimate} of 15,000 (from 400 samples)`)
})
