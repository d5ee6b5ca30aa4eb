import t from 'tap'
import { instancePairs, type Instance } from '../support/app-process.js'
import { call } from '../support/client.js'
import { testRedis, uniquePrefix } from '../support/helper.js'
import { logIn, register } from '../support/flows.js'
import { RACE_ENV, raceEveryEnding, raceTokenRevocation } from '../support/session-races.js'

// About two minutes on a 2-core machine: thousands of requests and a few hundred key derivations.
t.setTimeout(400_000)

// Two instances of the service, each its own process, sharing one Redis; every request is real HTTP.
const redis = await testRedis()
const prefix = uniquePrefix()
const env = { REDIS_URL: redis.url, REDIS_PREFIX: prefix, ...RACE_ENV }
const instancesWith = instancePairs(t, env)
const instances = await instancesWith()
const [one, two] = instances as [Instance, Instance]
const count = (url: string, cookie: string) => call(url, 'POST', '/api/count', { cookie })

t.test('100 concurrent counts on one session, then one more: 101', async (t) => {
  await register(one, 'counter-one')
  const cookie = await logIn(one, 'counter-one')
  const replies = await Promise.all(Array.from({ length: 100 }, () => count(one.url, cookie)))
  t.same(replies.map(({ body }) => body.views).sort((a, b) => Number(a) - Number(b)), Array.from({ length: 100 }, (_, i) => i + 1), 'each answer a distinct count')
  t.equal((await count(one.url, cookie)).body.views, 101)
})

t.test('the same split 50 + 50 over two instances: 101', async (t) => {
  await register(one, 'counter-two')
  const cookie = await logIn(one, 'counter-two')
  await Promise.all(Array.from({ length: 100 }, (_, i) => count(instances[i % 2]!.url, cookie)))
  t.equal((await count(two.url, cookie)).body.views, 101)
})

t.test('concurrent changes to different session fields on two instances both stay', async (t) => {
  await register(one, 'two-fields')
  const cookie = await logIn(one, 'two-fields')
  const themes = ['light', 'dark', 'system'] as const
  for (let round = 0; round < 20; round++) {
    const theme = themes[round % themes.length]!
    const language = round % 2 === 0 ? 'en' : `pt-BR${round}`.slice(0, 5)
    const [first, second] = await Promise.all([
      call(one.url, 'PATCH', '/api/preferences', { cookie, body: { theme } }),
      call(two.url, 'PATCH', '/api/preferences', { cookie, body: { language } }),
      count(one.url, cookie),
    ])
    t.equal(first.status + second.status, 400)
    const { preferences } = (await call(one.url, 'GET', '/api/preferences', { cookie })).body
    t.same(preferences, { theme, language }, `round ${round}: both changes are there`)
  }
  t.equal((await count(two.url, cookie)).body.views, 21, 'and the counter beside them lost nothing')
})

raceEveryEnding(t, { redis: redis.client(t), keyPrefix: prefix, trials: 20, instances: instancesWith, admin: one })
raceTokenRevocation(t, { redis: redis.client(t), keyPrefix: prefix, trials: 20, instances: instancesWith, admin: one })
