import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
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
  ip: string
  userAgent: string
}

/** How the API shows a session. */
export function toSessionView({ handle, createdAt, ip, userAgent }: IndexedSession, currentHandle: string | null) {
  const created = new Date(createdAt).toISOString()
  // Sessions are not touched on reads yet, so the last sign of life on record is the login.
  return { id: handle, createdAt: created, lastSeenAt: created, ip, userAgent, current: handle === currentHandle }
}

export interface SessionIndex {
  /** Records a new session; ends the oldest ones beyond the per-user maximum and returns how many it ended. */
  add(userId: string, handle: string, createdAt: number): Promise<number>
  remove(userId: string, handle: string): Promise<void>
  /** The user's live sessions, newest first; entries of expired sessions are pruned on the way. */
  list(userId: string): Promise<IndexedSession[]>
  /** Ends one session of the user; false when the user has no such session. */
  revoke(userId: string, handle: string): Promise<boolean>
  /** Ends every session of the user but `keep`; returns how many it ended. */
  revokeAll(userId: string, keep?: string): Promise<number>
}

export interface SessionIndexOptions {
  keyPrefix: string
  /** 0: no limit. */
  maxSessionsPerUser: number
}

interface StoredSession {
  createdAt?: number
  ip?: string
  userAgent?: string
}

/**
 * A sorted set per user lists the handles of their sessions. Sessions expire on their own in Redis, so the set is
 * pruned whenever it is read or grows: it holds at most the live sessions plus those expired since the last login.
 */
export function createSessionIndex(redis: Redis, { keyPrefix, maxSessionsPerUser }: SessionIndexOptions): SessionIndex {
  const keys = redisKeys(keyPrefix)
  const sessionKey = (handle: string) => `${keys.sessionPrefix}${handle}`

  /** Handles with their stored session, oldest first, after dropping the entries of sessions that are gone. */
  async function liveSessions(userId: string): Promise<Array<[string, string]>> {
    const index = keys.userSessions(userId)
    const handles = await redis.zrange(index, 0, -1)
    const stored = await Promise.all(handles.map((handle) => redis.get(sessionKey(handle))))
    const gone = handles.filter((_, i) => stored[i] === null)
    if (gone.length > 0) await redis.zrem(index, ...gone)
    return handles.flatMap((handle, i) => (stored[i] === null ? [] : [[handle, stored[i]!] as [string, string]]))
  }

  async function end(userId: string, handles: string[]): Promise<number> {
    if (handles.length === 0) return 0
    const [[, deleted]] = (await redis
      .multi()
      .del(...handles.map(sessionKey))
      .zrem(keys.userSessions(userId), ...handles)
      .exec()) as [[Error | null, number], [Error | null, number]]
    return deleted
  }

  return {
    async add(userId, handle, createdAt) {
      await redis.zadd(keys.userSessions(userId), createdAt, handle)
      const live = await liveSessions(userId)
      const excess = maxSessionsPerUser > 0 ? live.length - maxSessionsPerUser : 0
      return excess > 0 ? end(userId, live.slice(0, excess).map(([h]) => h).filter((h) => h !== handle)) : 0
    },

    async remove(userId, handle) {
      await redis.zrem(keys.userSessions(userId), handle)
    },

    async list(userId) {
      return (await liveSessions(userId))
        .map(([handle, raw]) => {
          const { createdAt = 0, ip = '', userAgent = '' } = JSON.parse(raw) as StoredSession
          return { handle, createdAt, ip, userAgent }
        })
        .sort((a, b) => b.createdAt - a.createdAt)
    },

    async revoke(userId, handle) {
      const indexed = await redis.zscore(keys.userSessions(userId), handle)
      return indexed !== null && (await end(userId, [handle])) > 0
    },

    async revokeAll(userId, keep) {
      const handles = await redis.zrange(keys.userSessions(userId), 0, -1)
      return end(userId, handles.filter((handle) => handle !== keep))
    },
  }
}

export default fp<SessionIndexOptions>(
  async function sessionIndexPlugin(app, options) {
    app.decorate('sessionIndex', createSessionIndex(app.redis, options))
  },
  { name: 'session-index', dependencies: ['redis'] },
)
