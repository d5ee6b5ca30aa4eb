import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import type { RedisClient } from '../redis/client.js'

/** Counters outlive their window a little, so that a late flush still lands in the right one. */
const EXPIRY_SLACK_MS = 1000

export interface RateLimitStoreOptions {
  redis: RedisClient
  keyPrefix: string
  /** 0: every request is an INCR in Redis (exact). Above 0: counts are added to Redis at most this often. */
  syncIntervalMs: number
}

interface WindowCounter {
  expiresAt: number
  /** The count Redis returned at the last flush: every instance's requests, this one's included. */
  synced: number
  /** Requests this instance has admitted since that flush. */
  pending: number
  /** Whether this instance has set the key's expiry: the window's end is fixed, so once per window is enough. */
  expirySet: boolean
}

type IncrCallback = Parameters<FastifyRateLimitStore['incr']>[1]
type RouteLimitOptions = Parameters<FastifyRateLimitStore['child']>[0]

/**
 * Fixed-window counters in Redis.
 *
 * Exact mode (interval 0, used for login and registration) costs one round trip per request, with a window that
 * starts at the client's first request (`<prefix><client>`). Synced mode (the global limit), with windows aligned to
 * the clock (`<prefix><window start>:<client>`), costs none on the request path: each instance counts locally and adds its counts to Redis once per
 * interval, judging each request on the last total Redis returned plus what it has counted since. The error is
 * bounded: across N instances, a client can get at most what the other N-1 instances admit it within one interval
 * beyond the limit. While Redis is unreachable each instance keeps enforcing the limit on its own count.
 */
class CountingStore implements FastifyRateLimitStore {
  private readonly counters = new Map<string, WindowCounter>()
  private flushTimer: NodeJS.Timeout | null = null

  constructor(private readonly options: RateLimitStoreOptions) {}

  incr(client: string, callback: IncrCallback, timeWindow: number, _max: number): void {
    if (this.options.syncIntervalMs === 0) {
      this.incrementInRedis(`${this.options.keyPrefix}${client}`, timeWindow).then((result) => callback(null, result), callback)
      return
    }
    const now = Date.now()
    // Synced windows are aligned to the clock so that every instance adds to the same one.
    const windowStart = now - (now % timeWindow)
    const expiresAt = windowStart + timeWindow
    const key = `${this.options.keyPrefix}${windowStart}:${client}`
    const ttl = expiresAt - now
    let counter = this.counters.get(key)
    if (!counter) {
      counter = { expiresAt, synced: 0, pending: 0, expirySet: false }
      this.counters.set(key, counter)
    }
    counter.pending++
    this.scheduleFlush()
    callback(null, { current: counter.synced + counter.pending, ttl })
  }

  child(routeOptions: RouteLimitOptions): FastifyRateLimitStore {
    // At run time the plugin passes the route as `routeInfo` (its typings say otherwise).
    const { routeInfo } = routeOptions as RouteLimitOptions & { routeInfo?: { method?: unknown; url?: string } }
    const route = `${String(routeInfo?.method ?? '')}${routeInfo?.url ?? ''}`
    // Route limits guard credentials: always exact.
    return new CountingStore({ ...this.options, keyPrefix: `${this.options.keyPrefix}${route}:`, syncIntervalMs: 0 })
  }

  /** One atomic round trip; the window starts at the client's first request, as in @fastify/rate-limit. */
  private async incrementInRedis(key: string, timeWindow: number): Promise<{ current: number; ttl: number }> {
    const results = await this.options.redis.multi().set(key, 0, 'PX', timeWindow, 'NX').incr(key).pttl(key).exec()
    const [[incrError, current] = [], [ttlError, ttl] = []] = results?.slice(1) ?? []
    if (incrError || ttlError || current === undefined) throw incrError ?? ttlError ?? new Error('rate-limit counter failed')
    return { current: Number(current), ttl: Number(ttl) }
  }

  private scheduleFlush(): void {
    if (this.flushTimer) return
    this.flushTimer = setTimeout(() => void this.flush(), this.options.syncIntervalMs)
    this.flushTimer.unref()
  }

  private async flush(): Promise<void> {
    this.flushTimer = null
    const now = Date.now()
    const { redis } = this.options
    const flushes: Array<Promise<void>> = []
    for (const [key, counter] of this.counters) {
      if (counter.expiresAt <= now) {
        this.counters.delete(key)
      } else if (counter.pending > 0) {
        const count = counter.pending
        // One key per command (a Redis Cluster cannot pipeline keys of different slots); auto-pipelining batches them.
        // A key read by many sessions or clients is flushed about once per request: its expiry goes with the first only.
        // The INCRBY is sent first: it creates the key the PEXPIREAT then finds.
        const added = redis.incrby(key, count)
        const expiry = counter.expirySet ? [] : [redis.pexpireat(key, counter.expiresAt + EXPIRY_SLACK_MS)]
        flushes.push(
          Promise.all([added, ...expiry]).then(([total]) => {
            counter.pending -= count
            counter.synced = total
            counter.expirySet = true
          }, () => {
            // Redis unreachable: the count stays pending and goes out with a later flush.
          }),
        )
      }
    }
    if (flushes.length === 0) return
    await Promise.all(flushes)
    if ([...this.counters.values()].some((counter) => counter.pending > 0)) this.scheduleFlush()
  }
}

/** The store class @fastify/rate-limit instantiates, bound to our Redis client and key prefix. */
export function countingStore(options: RateLimitStoreOptions): FastifyRateLimitStoreCtor {
  return class BoundCountingStore extends CountingStore {
    constructor() {
      super(options)
    }
  }
}
