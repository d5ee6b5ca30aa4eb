import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { build, loggedIn } from './helper.js'
import { RedisSentinels } from './redis-topologies.js'
import { exerciseApi, useThroughFailover } from './topology-scenarios.js'

t.test('on Redis Sentinel (a master, a replica, three sentinels)', async (t) => {
  const sentinels = await RedisSentinels.start()
  t.teardown(() => sentinels.stop())
  await exerciseApi(t, sentinels.env)
})

t.test('Sentinel failover: sessions from before still work after, and the switch answers 503 at worst', async (t) => {
  const sentinels = await RedisSentinels.start()
  t.teardown(() => sentinels.stop())
  const app = await build(t, sentinels.env)
  const cookie = await loggedIn(app, 'survivor')
  await sleep(300) // replication to the replica is asynchronous
  const before = await sentinels.masterPort()
  await sentinels.failover()
  await useThroughFailover(t, app, cookie, async () => (await sentinels.masterPort()) !== before)
  t.equal(await sentinels.masterPort(), sentinels.replica.port, 'the replica is the master now, and took writes')
})

