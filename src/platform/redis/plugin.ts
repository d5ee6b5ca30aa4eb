import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import fp from 'fastify-plugin'
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'
import type { RedisConnection } from '../../config.js'
import { redactUrl } from '../../lib/redact-url.js'
import { watchUnansweredCommands, type RedisClient } from './client.js'

declare module 'fastify' {
  interface FastifyInstance {
    redis: RedisClient
  }
}

/** A command that gets no answer in this time fails, so no request waits on a hung Redis. */
export const COMMAND_TIMEOUT_MS = 500
const CONNECT_TIMEOUT_MS = 1000
/** Longest wait for the first connection at start (below Fastify's 10 s plugin timeout). */
const START_TIMEOUT_MS = 5000
/** Reconnect attempts back off to this delay at most, so service resumes within a second of Redis returning. */
const MAX_RECONNECT_DELAY_MS = 1000

export class RedisUnreachableError extends Error {
  override name = 'RedisUnreachableError'
  constructor(
    message: string,
    /** Redis answered, and refused the password or ACL user: it was reached. */
    readonly credentialsRefused = false,
  ) {
    super(message)
  }
}

/** Replies that say the connection was made and the credentials were not accepted. */
const CREDENTIALS_REFUSED = /^(WRONGPASS|NOAUTH|NOPERM)\b/

/**
 * ioredis queues commands while disconnected and retries each one ~20 times by default, which makes a request
 * hang for as long as Redis is down. We fail every command at once instead and keep reconnecting in the background.
 */
function reconnectDelay(attempt: number): number {
  return Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS)
}

export const FAIL_FAST_OPTIONS: RedisOptions = {
  lazyConnect: true,
  // Commands issued in the same tick (by concurrent requests) go out in one write: fewer syscalls under load.
  enableAutoPipelining: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  commandTimeout: COMMAND_TIMEOUT_MS,
  connectTimeout: CONNECT_TIMEOUT_MS,
  retryStrategy: reconnectDelay,
}

/**
 * The same for each node of a Cluster. A command on a slot whose master just failed is retried a few times, 100 ms
 * apart, while the cluster promotes a replica: a request fails after half a second rather than waiting it out.
 */
const CLUSTER_OPTIONS: ClusterOptions = {
  lazyConnect: true,
  enableAutoPipelining: true,
  enableOfflineQueue: false,
  retryDelayOnFailover: 100,
  retryDelayOnClusterDown: 100,
  retryDelayOnTryAgain: 100,
  maxRedirections: 5,
  slotsRefreshTimeout: CONNECT_TIMEOUT_MS,
  clusterRetryStrategy: reconnectDelay,
  redisOptions: { ...FAIL_FAST_OPTIONS, lazyConnect: false },
}

/** Sentinel: ioredis asks the sentinels for the master, and again whenever the connection to it drops. */
function sentinelClient(connection: Extract<RedisConnection, { topology: 'sentinel' }>): Redis {
  const { sentinels, name, password, sentinelPassword } = connection
  return new Redis({
    ...FAIL_FAST_OPTIONS,
    sentinels,
    name,
    ...(password && { password }),
    ...(sentinelPassword && { sentinelPassword }),
    // A demoted master refuses writes: reconnect, which asks the sentinels for the new one. (ioredis's
    // failoverDetector would notice sooner, but its sentinel connections outlive the client when sentinels stop.)
    reconnectOnError: (error) => error.message.startsWith('READONLY'),
    sentinelRetryStrategy: reconnectDelay,
  })
}

export function createRedisClient(connection: RedisConnection): RedisClient {
  switch (connection.topology) {
    case 'single':
      return new Redis(connection.url, FAIL_FAST_OPTIONS)
    case 'sentinel':
      return sentinelClient(connection)
    case 'cluster': {
      const { nodes, password } = connection
      return new Cluster(nodes, { ...CLUSTER_OPTIONS, redisOptions: { ...CLUSTER_OPTIONS.redisOptions, ...(password && { password }) } })
    }
  }
}

/** Where the client connects, without passwords, fit for a log line. */
export function describeRedisConnection(connection: RedisConnection): string {
  const list = (hosts: Array<{ host: string; port: number }>) => hosts.map(({ host, port }) => `${host}:${port}`).join(',')
  switch (connection.topology) {
    case 'single':
      return redactUrl(connection.url, 'REDIS_URL')
    case 'sentinel':
      return `master "${connection.name}" through sentinels ${list(connection.sentinels)}`
    case 'cluster':
      return `cluster ${list(connection.nodes)}`
  }
}

/** Connects once, or throws RedisUnreachableError without leaving a reconnect loop behind. */
export async function connectRedis(connection: RedisConnection): Promise<RedisClient> {
  const redis = createRedisClient(connection)
  // Without a listener ioredis prints every failed reconnect; the plugin logs state changes instead.
  redis.on('error', () => {})
  const gaveUp = new AbortController()
  try {
    // Ready is the 'ready' event, not connect()'s promise: when a Cluster client's ready check fails (a node not yet
    // connected), ioredis reconnects by itself but never settles the first connect() (about 1 start in 8 on a fresh
    // connection). connect() still rejects at once when no node answers. A client that keeps retrying discovery
    // (Cluster, Sentinel) is given up at start rather than left to hang.
    await Promise.race([
      once(redis, 'ready', { signal: gaveUp.signal }),
      redis.connect(),
      sleep(START_TIMEOUT_MS, undefined, { signal: gaveUp.signal }).then(() => {
        throw new Error(`no connection within ${START_TIMEOUT_MS} ms`)
      }),
    ])
  } catch (error) {
    redis.disconnect()
    const reason = error instanceof Error ? error.message : String(error)
    const where = describeRedisConnection(connection)
    if (CREDENTIALS_REFUSED.test(reason)) throw new RedisUnreachableError(`Redis at ${where} refused the credentials (${reason})`, true)
    throw new RedisUnreachableError(`cannot reach Redis at ${where} (${reason})`)
  } finally {
    gaveUp.abort()
  }
  return redis
}

function logConnectionChanges(redis: RedisClient, log: FastifyBaseLogger): void {
  let connected = true
  redis.on('close', () => {
    if (connected) log.warn('redis connection lost; requests that need the store answer 503 until it returns')
    connected = false
  })
  redis.on('ready', () => {
    if (!connected) log.info('redis connection restored')
    connected = true
  })
}

export async function closeRedis(redis: RedisClient): Promise<void> {
  if (redis.status === 'ready') {
    await redis.quit().catch(() => redis.disconnect())
  } else {
    redis.disconnect()
  }
}

export default fp<{ connection: RedisConnection }>(
  async function redisPlugin(app, { connection }) {
    const redis = await connectRedis(connection)
    app.log.info({ redis: describeRedisConnection(connection) }, 'redis connected')
    logConnectionChanges(redis, app.log)
    watchUnansweredCommands(redis)
    app.decorate<RedisClient>('redis', redis)
    app.addHook('onClose', () => closeRedis(redis))
  },
  { name: 'redis' },
)
