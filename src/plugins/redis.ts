import fp from 'fastify-plugin'
import { Redis, type RedisOptions } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis
  }
}

/** A command that gets no answer in this time fails, so no request waits on a hung Redis. */
export const COMMAND_TIMEOUT_MS = 500
const CONNECT_TIMEOUT_MS = 1000
/** Reconnect attempts back off to this delay at most, so service resumes within a second of Redis returning. */
const MAX_RECONNECT_DELAY_MS = 1000

export class RedisUnreachableError extends Error {
  override name = 'RedisUnreachableError'
}

/**
 * ioredis queues commands while disconnected and retries each one ~20 times by default, which makes a request
 * hang for as long as Redis is down. We fail every command at once instead and keep reconnecting in the background.
 */
export const FAIL_FAST_OPTIONS: RedisOptions = {
  lazyConnect: true,
  // Commands issued in the same tick (by concurrent requests) go out in one write: fewer syscalls under load.
  enableAutoPipelining: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  commandTimeout: COMMAND_TIMEOUT_MS,
  connectTimeout: CONNECT_TIMEOUT_MS,
  retryStrategy: (attempt: number) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
}

/** The URL without its password, fit for a log line. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return '<invalid REDIS_URL>'
  }
}

/** Connects once, or throws RedisUnreachableError without leaving a reconnect loop behind. */
export async function connectRedis(url: string): Promise<Redis> {
  const redis = new Redis(url, FAIL_FAST_OPTIONS)
  // Without a listener ioredis prints every failed reconnect; the plugin logs state changes instead.
  redis.on('error', () => {})
  try {
    await redis.connect()
  } catch (error) {
    redis.disconnect()
    const reason = error instanceof Error ? error.message : String(error)
    throw new RedisUnreachableError(`cannot reach Redis at ${redactRedisUrl(url)} (${reason})`)
  }
  return redis
}

function logConnectionChanges(redis: Redis, log: FastifyBaseLogger): void {
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

export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'ready') {
    await redis.quit().catch(() => redis.disconnect())
  } else {
    redis.disconnect()
  }
}

export default fp<{ url: string }>(
  async function redisPlugin(app, { url }) {
    const redis = await connectRedis(url)
    logConnectionChanges(redis, app.log)
    app.decorate('redis', redis)
    app.addHook('onClose', () => closeRedis(redis))
  },
  { name: 'redis' },
)
