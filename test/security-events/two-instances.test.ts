import t from 'tap'
import { instancePairs, type Instance } from '../support/app-process.js'
import { testRedis, uniquePrefix } from '../support/helper.js'
import { logIn, PASSWORD, register } from '../support/flows.js'

// Two instances of the service, each its own process, sharing one Redis and one PostgreSQL (whose partitions both
// prepare at start): every sign-in answered, on either, is in the history once.
t.setTimeout(240_000)

const redis = await testRedis()
// Sign-ins at once derive a key each: at OWASP's cost, twenty on a busy 2-core machine wait past the queue's bound (503
// OVERLOADED, test/accounts/password-hashing.test.ts). What races here is the writing of their events, at any cost.
const cheapHashing = { PASSWORD_HASH_COST: '10' }
const [one, two] = (await instancePairs(t, {
  REDIS_URL: redis.url,
  REDIS_PREFIX: uniquePrefix(),
  ADMIN_USERNAME: 'root',
  ADMIN_PASSWORD: PASSWORD,
  LOGIN_RATE_LIMIT_MAX: '1000',
  ...cheapHashing,
})()) as [Instance, Instance]

async function search(instance: Instance, cookie: string, query: string): Promise<{ type: string; userId: string | null }[]> {
  const reply = await instance.call('GET', `/admin/events?limit=200&${query}`, { cookie })
  if (reply.status !== 200) throw new Error(`search answered ${reply.status}`)
  return reply.body.events as { type: string; userId: string | null }[]
}

t.test('20 concurrent sign-ins over two instances write 20 events, and 20 refusals 20 more', async (t) => {
  const names = Array.from({ length: 20 }, (_, i) => `racer${i}`)
  for (const name of names) await register(one, name)
  const root = await logIn(two, 'root')
  const signIns = await Promise.all(names.map((name, i) => (i % 2 === 0 ? one : two).call('POST', '/auth/login', { body: { username: name, password: PASSWORD } })))
  t.same([...new Set(signIns.map((reply) => reply.status))], [200])
  const logins = (await search(one, root, 'type=login')).filter((event) => event.userId !== null)
  t.equal(logins.length - 1, 20, 'one login event per sign-in (and root\'s own)')

  await register(two, 'target')
  const wrong = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? one : two).call('POST', '/auth/login', { body: { username: 'target', password: 'not it at all' } })))
  t.same([...new Set(wrong.map((reply) => reply.status))].sort(), wrong.some((reply) => reply.status === 429) ? [401, 429] : [401])
  const refusals = await search(two, root, 'username=target&type=login_failed,login_locked')
  t.equal(refusals.length, 20, `every refusal recorded against the account (${refusals.filter((event) => event.type === 'login_locked').length} of them locked out)`)
})
