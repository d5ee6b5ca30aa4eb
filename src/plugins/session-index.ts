import fp from 'fastify-plugin'
import type { RedisClient } from './redis.js'
import { redisKeys } from '../lib/keys.js'

declare module 'fastify' {
  interface FastifyInstance {
    sessionIndex: SessionIndex
  }
}

/** What a listing shows of a session; `handle` is the hash it is stored under, useless as a cookie. */
export interface IndexedSession {
  handle: string
  createdAt: number
  /** Updated when the session's expiry slides, so at touch-interval granularity. */
  lastSeenAt: number
  ip: string
  userAgent: string
  remember: boolean
}

/** How the API shows a session. */
export function toSessionView(session: IndexedSession, currentHandle: string | null) {
  const { handle, createdAt, lastSeenAt, ip, userAgent, remember } = session
  return {
    id: handle,
    createdAt: new Date(createdAt).toISOString(),
    lastSeenAt: new Date(lastSeenAt).toISOString(),
    ip,
    userAgent,
    remember,
    current: handle === currentHandle,
  }
}

export interface SessionIndex {
  /** Records a new session; ends the least recently seen ones beyond the per-user maximum, returns how many. */
  add(userId: string, handle: string, createdAt: number, expiresAt: number): Promise<number>
  /** Slides a session's expiry to `ttlMs` from now and records that its user was seen at `seenAt`. */
  touch(userId: string, handle: string, ttlMs: number, seenAt: number): Promise<void>
  remove(userId: string, handle: string): Promise<void>
  /** The user's live sessions, newest first; entries of expired sessions are pruned on the way. */
  list(userId: string): Promise<IndexedSession[]>
  /** Ends one session of the user; false when the user has no such session. */
  revoke(userId: string, handle: string): Promise<boolean>
  /** Ends every session of the user but `keep`; returns how many it ended. */
  revokeAll(userId: string, keep?: string): Promise<number>
  /** How many sessions are live, all users together. */
  countLive(): Promise<number>
}

export interface SessionIndexOptions {
  keyPrefix: string
  /** 0: no limit. */
  maxSessionsPerUser: number
  /** The longest a session can live: an index untouched for that long lists only dead sessions. */
  longestSessionMs: number
}

/** The fields of a stored session that a listing shows. */
interface ListedFields {
  createdAt?: number
  ip?: string
  userAgent?: string
  remember?: boolean
}

/**
 * A sorted set per user lists the handles of their sessions, scored by when each was last seen. Sessions expire on
 * their own in Redis, so the set is pruned whenever it is read or grows: it holds at most the live sessions plus
 * those expired since the last login, and it expires itself once its newest session must have ended.
 */
export function createSessionIndex(redis: RedisClient, options: SessionIndexOptions): SessionIndex {
  const { keyPrefix, maxSessionsPerUser, longestSessionMs } = options
  const keys = redisKeys(keyPrefix)
  const sessionKey = (handle: string) => `${keys.sessionPrefix}${handle}`

  /** The user's sessions, least recently seen first, after dropping the entries of sessions that are gone. */
  async function liveSessions(userId: string): Promise<IndexedSession[]> {
    const index = keys.userSessions(userId)
    const scored = await redis.zrange(index, 0, -1, 'WITHSCORES')
    const entries = Array.from({ length: scored.length / 2 }, (_, i) => ({ handle: scored[2 * i]!, lastSeenAt: Number(scored[2 * i + 1]) }))
    const stored = await Promise.all(entries.map(({ handle }) => redis.get(sessionKey(handle))))
    const gone = entries.filter((_, i) => stored[i] === null).map(({ handle }) => handle)
    if (gone.length > 0) await redis.zrem(index, ...gone)
    return entries.flatMap(({ handle, lastSeenAt }, i) => {
      if (stored[i] === null) return []
      const { createdAt = lastSeenAt, ip = '', userAgent = '', remember = false } = JSON.parse(stored[i]!) as ListedFields
      return [{ handle, createdAt, lastSeenAt, ip, userAgent, remember }]
    })
  }

  /** Deletes sessions, then their index entries; returns how many still existed. */
  async function end(userId: string, handles: string[]): Promise<number> {
    if (handles.length === 0) return 0
    // One key per DEL: sessions spread over every node of a Redis Cluster.
    const deleted = await Promise.all(handles.map((handle) => redis.del(sessionKey(handle))))
    await Promise.all([redis.zrem(keys.userSessions(userId), ...handles), redis.zrem(keys.liveSessions, ...handles)])
    return deleted.reduce((sum, count) => sum + count, 0)
  }

  return {
    async add(userId, handle, createdAt, expiresAt) {
      const index = keys.userSessions(userId)
      await Promise.all([
        redis.zadd(index, createdAt, handle),
        redis.pexpire(index, longestSessionMs),
        redis.zadd(keys.liveSessions, expiresAt, handle),
      ])
      const live = await liveSessions(userId)
      const excess = maxSessionsPerUser > 0 ? live.length - maxSessionsPerUser : 0
      if (excess <= 0) return 0
      return end(userId, live.filter((session) => session.handle !== handle).slice(0, excess).map((session) => session.handle))
    },

    async touch(userId, handle, ttlMs, seenAt) {
      // XX: a session revoked in the meantime is not put back on the lists.
      await Promise.all([
        redis.pexpire(sessionKey(handle), ttlMs),
        redis.zadd(keys.userSessions(userId), 'XX', seenAt, handle),
        redis.zadd(keys.liveSessions, 'XX', seenAt + ttlMs, handle),
      ])
    },

    async remove(userId, handle) {
      await Promise.all([redis.zrem(keys.userSessions(userId), handle), redis.zrem(keys.liveSessions, handle)])
    },

    async list(userId) {
      return (await liveSessions(userId)).sort((a, b) => b.createdAt - a.createdAt)
    },

    async revoke(userId, handle) {
      const indexed = await redis.zscore(keys.userSessions(userId), handle)
      return indexed !== null && (await end(userId, [handle])) > 0
    },

    async revokeAll(userId, keep) {
      const handles = await redis.zrange(keys.userSessions(userId), 0, -1)
      return end(userId, handles.filter((handle) => handle !== keep))
    },

    async countLive() {
      // Expired sessions leave their entry behind; drop those first. Cheap: one range delete and a count.
      await redis.zremrangebyscore(keys.liveSessions, '-inf', Date.now())
      return redis.zcard(keys.liveSessions)
    },
  }
}

export default fp<SessionIndexOptions>(
  async function sessionIndexPlugin(app, options) {
    app.decorate('sessionIndex', createSessionIndex(app.redis, options))
  },
  { name: 'session-index', dependencies: ['redis'] },
)
