import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import t from 'tap'
import { instancePairs } from './app-process.js'
import { build, loggedIn, uniquePrefix } from './helper.js'
import { RedisSentinels, waitFor } from './redis-topologies.js'
import { RACE_ENV, raceThroughFailover } from './session-races.js'
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


t.test('Sentinel failovers in the middle of the race', async (t) => {
  const sentinels = await RedisSentinels.start()
  t.teardown(() => sentinels.stop())
  const keyPrefix = uniquePrefix()
  const instances = await instancePairs(t, { ...sentinels.env, REDIS_PREFIX: keyPrefix, ...RACE_ENV })()
  const sentinelAddresses = sentinels.env.REDIS_SENTINELS!.split(',').map((address) => ({ host: '127.0.0.1', port: Number(address.split(':')[1]) }))
  const redis = new Redis({ sentinels: sentinelAddresses, name: sentinels.env.REDIS_SENTINEL_NAME! })
  t.teardown(() => redis.disconnect())
  // A failover still finishing (the old master not yet a replica) refuses the next one: retry until it starts.
  const failover = () => waitFor('a new failover to start', () => sentinels.failover().then(() => true))
  raceThroughFailover(t, { instances, redis, keyPrefix, trials: 4, failover, settled: () => sentinels.replicaInSync() })
})
