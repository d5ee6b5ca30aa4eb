import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { instancePairs } from '../support/app-process.js'
import { build, jsonWith, loggedIn, sessionKey, uniquePrefix, type App } from '../support/helper.js'
import { RedisSentinels, waitFor } from '../support/redis-topologies.js'
import { RACE_ENV, raceThroughFailover } from '../support/session-races.js'
import { exerciseApi, useThroughFailover } from '../support/topology-scenarios.js'

// Real Sentinel groups and failovers: about a minute and a half on a 2-core machine.
t.setTimeout(300_000)

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

/**
 * The moment of a failover when the old master still takes writes: the replica has stopped replicating from it
 * (it is being promoted), so a deletion the old master takes never reaches the node that takes over.
 */
async function loggedInThenReplicaDetached(t: Test, env: Record<string, string>) {
  const sentinels = await RedisSentinels.start()
  t.teardown(() => sentinels.stop())
  const keyPrefix = uniquePrefix()
  const app = await build(t, { ...sentinels.env, REDIS_PREFIX: keyPrefix, ...env })
  const cookie = await loggedIn(app, 'unconfirmed')
  const token = await createToken(app, cookie)
  await sentinels.replicaInSync()
  const replica = sentinels.replica.client(t)
  await waitFor('the session on the replica', async () => (await replica.exists(sessionKey(keyPrefix, cookie))) === 1)
  await replica.replicaof('NO', 'ONE')
  const logout = () => app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie } })
  const revokeToken = () => app.inject({ method: 'DELETE', url: `/auth/tokens/${token.id}`, headers: { cookie } })
  return { logout, revokeToken, onReplica: () => replica.exists(sessionKey(keyPrefix, cookie)) }
}

async function createToken(app: App, cookie: string): Promise<{ id: string; token: string }> {
  const created = await app.inject({ method: 'POST', url: '/auth/tokens', ...jsonWith({ cookie }, { name: 'ci', scopes: ['read'] }) })
  if (created.statusCode !== 201) throw new Error(`token not created: ${created.body}`)
  return created.json()
}

// Every ending waits for the replicas alike: a logout and an access token's revoke are told to retry, never that they
// are done while the node that takes over still has the session or token.
for (const [ending, act, notDone] of [
  ['a logout', 'logout', 'not that it is logged out'],
  ['an access-token revoke', 'revokeToken', 'not that the token is gone'],
] as const) {
  t.test(`${ending} no replica has confirmed answers 503 STORE_UNAVAILABLE, so the client retries`, async (t) => {
    const refused = await (await loggedInThenReplicaDetached(t, {}))[act]()
    t.equal(refused.statusCode, 503)
    t.equal(refused.json().code, 'STORE_UNAVAILABLE', `told to retry, ${notDone}`)
  })
}

t.test('why: with REDIS_WAIT_REPLICAS=0 that logout answers 204 while the node taking over keeps the session', async (t) => {
  const { logout, onReplica } = await loggedInThenReplicaDetached(t, { REDIS_WAIT_REPLICAS: '0' })
  t.equal((await logout()).statusCode, 204)
  t.equal(await onReplica(), 1, 'after the failover, the logged-out session would work again')
})

t.test('a revoked access token is refused after a Sentinel failover', async (t) => {
  const sentinels = await RedisSentinels.start()
  t.teardown(() => sentinels.stop())
  const app = await build(t, sentinels.env)
  const cookie = await loggedIn(app, 'revoker')
  const { id, token } = await createToken(app, cookie)
  const withToken = () => app.inject({ url: '/api/dashboard', headers: { authorization: `Bearer ${token}` } })
  t.equal((await withToken()).statusCode, 200, 'the token works')
  t.equal((await app.inject({ method: 'DELETE', url: `/auth/tokens/${id}`, headers: { cookie } })).statusCode, 204, 'revoked')
  const before = await sentinels.masterPort()
  await sentinels.failover()
  await waitFor('the replica to take over', async () => (await sentinels.masterPort()) !== before)
  await useThroughFailover(t, app, cookie, async () => true)
  const after = await withToken()
  t.equal(after.statusCode, 401, 'the revoke held through the failover')
  t.equal(after.json().code, 'SESSION_EXPIRED')
})
