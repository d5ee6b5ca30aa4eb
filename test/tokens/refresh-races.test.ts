import t from 'tap'
import { instancePairs, type Instance } from '../support/app-process.js'
import { testRedis, uniquePrefix } from '../support/helper.js'
import { PASSWORD, register } from '../support/flows.js'

// Two instances of the service, each its own process, sharing one Redis and one PostgreSQL: refreshes of one refresh
// token race over real HTTP.
t.setTimeout(240_000)

// Instances behind one address (PUBLIC_URL, the issuer) accept each other's tokens; each would default to its own port.
const SHARED_ISSUER = { PUBLIC_URL: 'https://id.example.test' }
const redis = await testRedis()
const [one, two] = (await instancePairs(t, { REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix(), REFRESH_REUSE_WINDOW: '2', ...SHARED_ISSUER })()) as [Instance, Instance]

interface Pair {
  accessToken: string
  refreshToken: string
}

async function jwtLogin(instance: Instance, username: string): Promise<Pair> {
  const { status, body } = await instance.call('POST', '/auth/login', { body: { username, password: PASSWORD, transport: 'jwt' } })
  if (status !== 200) throw new Error(`login answered ${status}`)
  return body as unknown as Pair
}
const refresh = (instance: Instance, refreshToken: string) => instance.call('POST', '/auth/refresh', { body: { refreshToken } })
const me = (instance: Instance, accessToken: string) => instance.call('GET', '/auth/me', { authorization: `Bearer ${accessToken}` })

t.test('100 refreshes of one token at once over two instances: one rotation, every answer the same new pair', async (t) => {
  await register(one, 'parallel')
  const login = await jwtLogin(one, 'parallel')
  const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => refresh(i % 2 === 0 ? one : two, login.refreshToken)))
  t.same([...new Set(replies.map(({ status }) => status))], [200], 'every refresh answered 200')
  const pairs = new Set(replies.map(({ body }) => JSON.stringify(body)))
  t.equal(pairs.size, 1, 'one pair, so one rotation')
  const next = replies[0]!.body as unknown as Pair
  t.not(next.refreshToken, login.refreshToken)
  const other = await me(two, next.accessToken)
  t.equal(other.status, 200, 'the new access token works on the other instance', { body: other.body })
  const after = await refresh(two, next.refreshToken)
  t.equal(after.status, 200, 'the one new refresh token is the family\'s current token')
})

t.test('a spent token replayed after the window: 401, and the family and its session gone on both instances', async (t) => {
  await register(one, 'replayed')
  const login = await jwtLogin(one, 'replayed')
  const next = (await refresh(one, login.refreshToken)).body as unknown as Pair
  await new Promise((resolve) => setTimeout(resolve, 2_500))
  const replay = await refresh(two, login.refreshToken)
  t.equal(replay.status, 401)
  t.equal(replay.body.code, 'INVALID_REFRESH_TOKEN')
  for (const instance of [one, two]) {
    t.equal((await refresh(instance, next.refreshToken)).status, 401, 'the current refresh token refused')
    t.equal((await me(instance, next.accessToken)).status, 401, 'its access token refused here at once')
  }
  const relogin = await jwtLogin(two, 'replayed')
  t.equal((await me(one, relogin.accessToken)).status, 200, 'the owner logs in again')
})
