import type { FastifyBaseLogger } from 'fastify'
import type { Redis } from 'ioredis'
import { LRUCache } from 'lru-cache'
import type { StoredSession } from './session-records.js'

const INVALIDATION_CHANNEL = '__redis__:invalidate'

interface PendingRead {
  stale: boolean
}

/**
 * Recently read sessions, kept in process and invalidated by Redis server-assisted client-side caching: a second
 * connection asks Redis (CLIENT TRACKING ... BCAST PREFIX <session prefix>) to announce every change to a session
 * key, from any instance, so a revoked or changed session is dropped everywhere within a network round trip.
 *
 * The cache only answers while that announcement channel is known to be up: it is emptied and bypassed from the
 * moment either connection to Redis drops until tracking is set up again. A read that an invalidation overtakes
 * (Redis answered the old value, the change was announced before the answer arrived) is not cached. Entries never
 * outlive the session's own expiry.
 */
export class SessionCache {
  private readonly entries: LRUCache<string, StoredSession>
  private readonly pendingReads = new Map<string, Set<PendingRead>>()
  private readonly subscriber: Redis
  private subscriberTracking = false
  /** Changes whenever the cache is emptied, so that reads begun before cannot refill it. */
  private epoch = 0

  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    maxEntries: number,
    private readonly log: FastifyBaseLogger,
  ) {
    this.entries = new LRUCache({ max: maxEntries })
    this.subscriber = redis.duplicate({ autoResubscribe: false, enableAutoPipelining: false })
    this.subscriber.on('error', () => {})
    this.subscriber.on('ready', () => void this.track())
    this.subscriber.on('close', () => {
      this.subscriberTracking = false
      this.drop()
    })
    this.subscriber.on('message', (_channel: string, keys: string | string[] | null) => this.invalidate(keys))
    redis.on('close', () => this.drop())
  }

  async start(): Promise<void> {
    await this.subscriber.connect()
  }

  close(): void {
    this.subscriber.disconnect()
  }

  /** The session at `key`, from the cache when it can be trusted, else through `load` from Redis. */
  async read(key: string, load: (key: string) => Promise<StoredSession | null>): Promise<StoredSession | null> {
    const cached = this.active ? this.entries.get(key) : undefined
    if (cached !== undefined) return cached
    const pending: PendingRead = { stale: false }
    const epoch = this.epoch
    const reads = this.pendingReads.get(key) ?? new Set()
    reads.add(pending)
    this.pendingReads.set(key, reads)
    try {
      const stored = await load(key)
      if (stored !== null && this.active && epoch === this.epoch && !pending.stale) this.remember(key, stored)
      return stored
    } finally {
      reads.delete(pending)
      if (reads.size === 0) this.pendingReads.delete(key)
    }
  }

  /** Forgets a key this instance is about to change (the announcement would follow anyway). */
  forget(key: string): void {
    this.invalidate([key])
  }

  private get active(): boolean {
    return this.subscriberTracking && this.redis.status === 'ready'
  }

  private remember(key: string, stored: StoredSession): void {
    const ttl = stored.expiresAt - Date.now()
    if (ttl > 0) this.entries.set(key, stored, { ttl })
  }

  private async track(): Promise<void> {
    try {
      const id = await this.subscriber.client('ID')
      await this.subscriber.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', String(id), 'BCAST', 'PREFIX', this.keyPrefix)
      await this.subscriber.subscribe(INVALIDATION_CHANNEL)
      this.drop()
      this.subscriberTracking = true
    } catch (error) {
      this.log.warn({ err: error }, 'session cache: could not enable Redis client tracking; reading every session from Redis')
    }
  }

  /** `null` means Redis flushed everything it tracks. */
  private invalidate(keys: string | string[] | null): void {
    if (keys === null) {
      this.drop()
      return
    }
    for (const key of Array.isArray(keys) ? keys : [keys]) {
      this.entries.delete(key)
      for (const pending of this.pendingReads.get(key) ?? []) pending.stale = true
    }
  }

  private drop(): void {
    this.epoch++
    this.entries.clear()
  }
}
