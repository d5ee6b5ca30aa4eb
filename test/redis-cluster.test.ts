import { setTimeout as sleep } from 'node:timers/promises'
import { Cluster } from 'ioredis'
import t from 'tap'
import { connectRedis } from '../src/plugins/external/redis.js'
import { instancePairs } from './support/app-process.js'
import { build, freePort, json, loggedIn, sessionKey, uniquePrefix } from './support/helper.js'
import { RedisCluster } from './support/redis-topologies.js'
import { RACE_ENV, raceEveryEnding } from './support/session-races.js'
import { exerciseApi, useThroughFailover } from './support/topology-scenarios.js'

// Real Clusters, and the session races on one: about a minute and a half on a 2-core machine.
t.setTimeout(300_000)

t.test('on a Redis Cluster (3 masters)', async (t) => {
  const cluster = await RedisCluster.start({ masters: 3 })
  t.teardown(() => cluster.stop())
  await exerciseApi(t, cluster.env)
  t.test('sessions spread over the masters: no hash tag puts them all in one slot', async (t) => {
    const spreadPrefix = uniquePrefix()
    const app = await build(t, { ...cluster.env, REDIS_PREFIX: spreadPrefix, LOGIN_RATE_LIMIT_MAX: '100' })
    for (let i = 0; i < 12; i++) await loggedIn(app, `spread${i}`)
    const perMaster = await cluster.keysPerMaster(`${spreadPrefix}sess:*`)
    t.equal(perMaster.length, 3)
    t.ok(perMaster.filter((count) => count > 0).length >= 2, `sessions per master: ${perMaster}`)
  })
  t.test('every start connects at once: a failed first ready check does not leave the start waiting', async (t) => {
    // ioredis never settled connect() after its ready check failed and it reconnected: 5 of 40 starts hung for 5 s.
    const connection = { topology: 'cluster' as const, nodes: cluster.nodes.map(({ port }) => ({ host: '127.0.0.1', port })) }
    const started = Date.now()
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, () => connectRedis(connection).then((redis) => (redis.disconnect(), 'connected'), (error: Error) => error.message)),
    )
    t.same(outcomes.filter((outcome) => outcome !== 'connected'), [], '40 starts, all connected')
    t.ok(Date.now() - started < 4000, 'none waited out the start timeout')
  })
})

t.test('on a Redis Cluster, no way of ending a session is undone by its in-flight writes', async (t) => {
  const cluster = await RedisCluster.start({ masters: 3 })
  t.teardown(() => cluster.stop())
  const keyPrefix = uniquePrefix()
  const instances = instancePairs(t, { ...cluster.env, REDIS_PREFIX: keyPrefix, ...RACE_ENV })
  const redis = new Cluster(cluster.nodes.map(({ port }) => ({ host: '127.0.0.1', port })))
  t.teardown(() => redis.disconnect())
  raceEveryEnding(t, { redis, keyPrefix, trials: 8, instances, admin: (await instances())[0]! })
})

t.test('Cluster failover: a master stops, its replica takes over, its sessions still work', async (t) => {
  const cluster = await RedisCluster.start({ masters: 3, replicas: 1 })
  t.teardown(() => cluster.stop())
  const prefix = uniquePrefix()
  const app = await build(t, { ...cluster.env, REDIS_PREFIX: prefix })
  const cookie = await loggedIn(app, 'clustered')
  const failing = await cluster.masterOf(sessionKey(prefix, cookie))
  await sleep(300) // replication to the replica is asynchronous
  await failing.halt()
  await useThroughFailover(t, app, cookie, async () => (await cluster.masterOf(sessionKey(prefix, cookie))) !== failing)
  t.equal((await app.inject({ method: 'POST', url: '/auth/login', ...json({ username: 'clustered', password: 'nope nope' }) })).statusCode, 401)
})

t.test('a Cluster that cannot be reached stops the start with RedisUnreachableError naming it', async (t) => {
  const port = await freePort()
  await t.rejects(build(t, { REDIS_CLUSTER_NODES: `127.0.0.1:${port}` }), { name: 'RedisUnreachableError', message: /cluster 127\.0\.0\.1/ })
})
