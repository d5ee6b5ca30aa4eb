import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { RedisServer, freePort } from '../../src/testing/redis-server.js'

/** What the app needs to reach a topology. */
export type TopologyEnv = Record<string, string>

/** Waits until `check` holds, polling; throws `what` after `ms`. */
async function waitFor(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) {
    if (await check().catch(() => false)) return
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** A client that reports instead of retrying, for looking into one server. */
function probe(port: number): Redis {
  const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true })
  client.on('error', () => {})
  return client
}

async function ask<T>(port: number, command: (client: Redis) => Promise<T>): Promise<T> {
  const client = probe(port)
  try {
    await client.connect()
    return await command(client)
  } finally {
    client.disconnect()
  }
}

/** False when something listens on the port. (Not `once(server, 'listening')`: it rejects on EADDRINUSE.) */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/** A free port whose cluster bus port (port + 10000) is free too. */
async function freeClusterPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 30_000)
    if (!taken.has(port) && (await portIsFree(port)) && (await portIsFree(port + 10_000))) return port
  }
}

/** A real Redis Cluster of local redis-server processes: `masters` masters, each with `replicas` replicas. */
export class RedisCluster {
  private constructor(readonly nodes: RedisServer[]) {}

  get env(): TopologyEnv {
    return { REDIS_CLUSTER_NODES: this.nodes.map((node) => `127.0.0.1:${node.port}`).join(',') }
  }

  static async start({ masters = 3, replicas = 0 } = {}): Promise<RedisCluster> {
    const cluster = new RedisCluster([])
    try {
      await cluster.form(masters, replicas)
      return cluster
    } catch (error) {
      // The nodes started so far would keep the test process alive: a failed start stops them.
      await cluster.stop()
      throw error
    }
  }

  private async form(masters: number, replicas: number): Promise<void> {
    const { nodes } = this
    const taken = new Set<number>()
    for (let i = 0; i < masters * (1 + replicas); i++) {
      const port = await freeClusterPort(taken)
      taken.add(port)
      const extraArgs = ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '1000']
      nodes.push(await RedisServer.start({ port, extraArgs }))
    }
    const addresses = nodes.map((node) => `127.0.0.1:${node.port}`)
    const created = spawnSync('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes'])
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`)
    await waitFor('every node to know the whole cluster', async () => {
      const states = await Promise.all(nodes.map((node) => ask(node.port, (client) => client.cluster('INFO'))))
      const complete = (info: string) =>
        info.includes('cluster_state:ok') && info.includes('cluster_slots_ok:16384') && info.includes(`cluster_known_nodes:${nodes.length}`)
      if (!states.every(complete)) return false
      // ...and every node's slot map names a reachable address for each range.
      const maps = await Promise.all(nodes.map((node) => ask(node.port, (client) => client.cluster('SLOTS'))))
      return maps.every((ranges) => ranges.length === masters && ranges.every(([, , master]) => Boolean(master?.[0]) && Number(master?.[1]) > 0))
    })
    if (replicas > 0) {
      await waitFor('every replica to be in sync', async () => {
        const roles = await Promise.all(nodes.map((node) => ask(node.port, (client) => client.info('replication'))))
        return roles.filter((info) => info.includes('master_link_status:up')).length === masters * replicas
      })
    }
  }

  /** The node that serves `key` as master now, as the first node that answers sees it. */
  async masterOf(key: string): Promise<RedisServer> {
    const askAny = async <T>(command: (client: Redis) => Promise<T>): Promise<T> => {
      for (const node of this.nodes) {
        try {
          return await ask(node.port, command)
        } catch {
          // stopped: ask the next one
        }
      }
      throw new Error('no cluster node answers')
    }
    const slot = await askAny((client) => client.cluster('KEYSLOT', key))
    const ranges = await askAny((client) => client.cluster('SLOTS'))
    const [, , [, port] = []] = ranges.find(([from, to]) => slot >= from && slot <= to)!
    return this.nodes.find((node) => node.port === port)!
  }

  /** The nodes that are masters now. */
  async masters(): Promise<RedisServer[]> {
    const roles = await Promise.all(this.nodes.map((node) => ask(node.port, (client) => client.info('replication'))))
    return this.nodes.filter((_, i) => roles[i]!.includes('role:master'))
  }

  /** How many keys matching `pattern` each master holds. */
  async keysPerMaster(pattern: string): Promise<number[]> {
    return Promise.all((await this.masters()).map((node) => ask(node.port, async (client) => (await client.keys(pattern)).length)))
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()))
  }
}

const MASTER_NAME = 'mymaster'

/** A master, one replica and three Sentinels watching them: real local processes. */
export class RedisSentinels {
  private constructor(
    readonly master: RedisServer,
    readonly replica: RedisServer,
    private readonly sentinels: Array<{ port: number; process: ChildProcess }>,
    private readonly dir: string,
  ) {}

  get env(): TopologyEnv {
    return { REDIS_SENTINELS: this.sentinels.map(({ port }) => `127.0.0.1:${port}`).join(','), REDIS_SENTINEL_NAME: MASTER_NAME }
  }

  static async start(): Promise<RedisSentinels> {
    // Replicas sync at once rather than after Redis's default 5 s delay (session ends wait for a replica: WAIT).
    const master = await RedisServer.start({ extraArgs: ['--repl-diskless-sync-delay', '0'] })
    const replica = await RedisServer.start({ extraArgs: ['--replicaof', '127.0.0.1', String(master.port)] })
    const dir = await mkdtemp(join(tmpdir(), 'redis-sentinel-'))
    const sentinels: Array<{ port: number; process: ChildProcess }> = []
    for (let i = 0; i < 3; i++) {
      const port = await freePort()
      const config = join(dir, `sentinel-${port}.conf`)
      await writeFile(
        config,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master.port} 2`,
          `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
          `sentinel failover-timeout ${MASTER_NAME} 5000`,
          '',
        ].join('\n'),
      )
      sentinels.push({ port, process: spawn('redis-server', [config, '--sentinel'], { stdio: 'ignore' }) })
    }
    const group = new RedisSentinels(master, replica, sentinels, dir)
    try {
      await waitFor('the sentinels to know the replica and each other', async () => {
        const views = await Promise.all(
          sentinels.map(({ port }) =>
            ask(port, async (client) => [
              ((await client.call('SENTINEL', 'REPLICAS', MASTER_NAME)) as unknown[]).length,
              ((await client.call('SENTINEL', 'SENTINELS', MASTER_NAME)) as unknown[]).length,
            ])),
        )
        return views.every(([replicas, others]) => replicas === 1 && others === 2)
      })
      await group.replicaInSync()
    } catch (error) {
      await group.stop()
      throw error
    }
    return group
  }

  /** The port of the master the Sentinels point to now. */
  async masterPort(): Promise<number> {
    const [, port] = (await ask(this.sentinels[0]!.port, (client) => client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME))) as [string, string]
    return Number(port)
  }

  /** Waits until the server that is not the master replicates from it. */
  async replicaInSync(): Promise<void> {
    await waitFor('the replica to be in sync', async () => {
      const masterPort = await this.masterPort()
      const replica = [this.master, this.replica].find(({ port }) => port !== masterPort)!
      const info = await ask(replica.port, (client) => client.info('replication'))
      return info.includes(`master_port:${masterPort}`) && info.includes('master_link_status:up')
    })
  }

  /** Asks the Sentinels to promote the replica, as after a master failure. */
  async failover(): Promise<void> {
    await ask(this.sentinels[0]!.port, (client) => client.call('SENTINEL', 'FAILOVER', MASTER_NAME))
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.sentinels.map(async ({ process }) => {
        if (process.exitCode !== null) return
        const exited = once(process, 'exit')
        process.kill('SIGKILL')
        await exited
      }),
    )
    await Promise.all([this.master.stop(), this.replica.stop()])
    await rm(this.dir, { recursive: true, force: true })
  }
}

export { waitFor }
