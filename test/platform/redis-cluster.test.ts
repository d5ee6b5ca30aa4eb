import { setTimeout as sleep } from 'node:timers/promises'
import { Cluster } from 'ioredis'
import t from 'tap'
import { connectRedis } from '../../src/platform/redis/plugin.js'
import { instancePairs } from '../support/app-process.js'
import type { Redis } from 'ioredis'
import { BROWSER_USER_AGENT, build, commandsOnEach, freePort, json, loggedIn, PASSWORD, postLogin, postRegister, sessionCookie, sessionKey, uniquePrefix } from '../support/helper.js'
import { RedisCluster } from '../support/redis-topologies.js'
import { RACE_ENV, raceEveryEnding } from '../support/session-races.js'
import { dashboard, exerciseApi, useThroughFailover } from '../support/topology-scenarios.js'
import { redisKeys } from '../../src/lib/keys.js'

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
    const perMaster = await cluster.keysPerMaster(redisKeys(spreadPrefix).session('*'))
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

/** The keys of a command MONITOR saw (none for a command without keys), as Redis itself finds them. */
async function keysOf(client: Redis, [command, ...args]: string[]): Promise<string[]> {
  return (await client.call('COMMAND', 'GETKEYS', command!, ...args).catch(() => [])) as string[]
}

const slotOf = async (client: Redis, key: string) => Number(await client.call('CLUSTER', 'KEYSLOT', key))

/** How many of the commands name the key most of them name, leaving out the per-IP rate-limit counters. */
function busiestKey(commandKeys: string[][], rateLimitPrefix: string): number {
  const uses = new Map<string, number>()
  for (const key of commandKeys.flat()) if (!key.startsWith(rateLimitPrefix)) uses.set(key, (uses.get(key) ?? 0) + 1)
  return Math.max(...uses.values())
}

/** Each master's share of the commands, e.g. [0.31, 0.36, 0.33]. */
const shares = (perMaster: string[][][]) => {
  const total = perMaster.reduce((sum, commands) => sum + commands.length, 0)
  return perMaster.map((commands) => Number((commands.length / total).toFixed(2)))
}

t.test('at scale on a Cluster: many users, every master carries its share of sessions, logins and slides, in one slot each', async (t) => {
  const cluster = await RedisCluster.start({ masters: 3 })
  t.teardown(() => cluster.stop())
  const prefix = uniquePrefix()
  const app = await build(t, {
    ...cluster.env,
    REDIS_PREFIX: prefix,
    LOGIN_RATE_LIMIT_MAX: '1000',
    RATE_LIMIT_MAX: '100000',
    SESSION_IDLE_TTL: '600',
    SESSION_TOUCH_INTERVAL: '1',
    // 90 logins at once would queue some 20 s of key derivations at the production cost, past the queue's bound
    // (503, test/accounts/password-hashing.test.ts); what this test counts is Redis's commands, which the cost does not change.
    PASSWORD_HASH_COST: '10',
  })
  const users = Array.from({ length: 30 }, (_, i) => `member${i}`)
  for (const username of users) await postRegister(app, username)
  const masters = await cluster.masters()
  const headers = { 'user-agent': BROWSER_USER_AGENT }
  let cookies: string[] = []
  // The login storm: three sessions of each user, all at once.
  const onLogin = await commandsOnEach(masters, async () => {
    const logins = users.flatMap((username) => [1, 2, 3].map(() => postLogin(app, username, PASSWORD, headers)))
    cookies = (await Promise.all(logins)).map((response) => sessionCookie(response))
  })
  t.equal(cookies.length, 90)
  await sleep(1100)
  // Sliding expiry: every session's first read after the touch interval slides it.
  const onTouch = await commandsOnEach(masters, async () => {
    const reads = await Promise.all(cookies.map((cookie) => dashboard(app, cookie)))
    t.same([...new Set(reads.map((response) => response.statusCode))], [200], 'every session read')
  })

  const sessionsPerMaster = await cluster.keysPerMaster(redisKeys(prefix).session('*'))
  const indexesPerMaster = await cluster.keysPerMaster(redisKeys(prefix).userSessions('*'))
  t.equal(sessionsPerMaster.reduce((a, b) => a + b), 90)
  t.ok(sessionsPerMaster.every((count) => count >= 15), `sessions per master: ${sessionsPerMaster}`)
  t.ok(indexesPerMaster.every((count) => count >= 2), `users' session indexes per master: ${indexesPerMaster}`)
  t.ok(shares(onLogin).every((share) => share >= 0.15), `commands of the login storm per master: ${onLogin.map((c) => c.length)}`)
  t.ok(shares(onTouch).every((share) => share >= 0.15), `commands of the slides per master: ${onTouch.map((c) => c.length)}`)
  const slides = onTouch.map((commands) => commands.filter(([command]) => command === 'pexpire').length)
  t.ok(slides.every((count) => count >= 15), `expiry slides per master: ${slides}`)

  const client = masters[0]!.client(t)
  const keysOfEach = (perMaster: string[][][]) => Promise.all(perMaster.flat().map((command) => keysOf(client, command)))
  const [loginKeys, touchKeys] = [await keysOfEach(onLogin), await keysOfEach(onTouch)]
  // A session's key is named by its own read and slide, a user's by their three sessions; a key of all users would
  // be named by each of the 90.
  const [busiestOnTouch, busiestOnLogin] = [busiestKey(touchKeys, redisKeys(prefix).rateLimitPrefix), busiestKey(loginKeys, redisKeys(prefix).rateLimitPrefix)]
  t.ok(busiestOnTouch < 45, `the slides: no key is named by the slides of many users (at most ${busiestOnTouch} times)`)
  t.ok(busiestOnLogin < 45, `the logins: no key is named by the logins of many users (at most ${busiestOnLogin} times)`)
  const commands = [...onLogin, ...onTouch].flat()
  const slots = await Promise.all([...loginKeys, ...touchKeys].map(async (keys) => new Set(await Promise.all(keys.map((key) => slotOf(client, key))))))
  t.ok(commands.length > 1000, `${commands.length} commands seen`)
  t.same(commands.filter((_, i) => slots[i]!.size > 1), [], 'every command keeps to one slot')
  const metrics = (await app.inject({ url: '/metrics' })).body
  t.notMatch(metrics, /^redis_command_errors_total\{/m, 'and none failed')
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
