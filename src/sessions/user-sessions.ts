import fp from 'fastify-plugin'
import type { RedisKeys } from '../lib/keys.js'
import { countKeys, type RedisClient } from '../platform/redis/client.js'
import type { SessionStore } from './store.js'

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
  /** Lists a session about to be created (see the order of steps below). */
  add(userId: string, handle: string, createdAt: number): Promise<void>
  /** Ends the user's least recently seen sessions so that one more fits under the per-user maximum; returns how many. */
  makeRoom(userId: string): Promise<number>
  /** Slides a session's expiry to `ttlMs` from now and records that its user was seen at `seenAt`. */
  touch(userId: string, handle: string, ttlMs: number, seenAt: number): Promise<void>
  /** Unlists a session that was just deleted. */
  remove(userId: string, handle: string): Promise<void>
  /** The user's live sessions, newest first; entries of sessions that are gone are pruned on the way. */
  list(userId: string): Promise<IndexedSession[]>
  /** Ends one session of the user; false when the user has no such session. */
  revoke(userId: string, handle: string): Promise<boolean>
  /** Ends every session of the user but `keep`; returns how many it ended. */
  revokeAll(userId: string, keep?: string): Promise<number>
  /** Drops the user's index: for a deleted account, once its sessions have ended. */
  forget(userId: string): Promise<void>
  /** How many sessions and access tokens are live, all users together: exact on small stores, else estimated. */
  countLive(): Promise<number>
  /** Whether the session (or token) `handle` still exists. */
  exists(handle: string): Promise<boolean>
}

export interface SessionIndexOptions {
  keys: RedisKeys
  /** 0: no limit. */
  maxSessionsPerUser: number
  /** The longest a session can live: an index untouched for that long lists only dead sessions. */
  longestSessionMs: number
  /** Where the sessions are: every ending goes through it. */
  store: SessionStore
}

/**
 * A sorted set per user lists the handles of their sessions, scored by when each was last seen; sessions expire on
 * their own in Redis, so the set is pruned whenever it is read, and it expires itself once its newest session must
 * have ended.
 *
 * It keeps the first invariant of the sessions service (sessions/service.ts, which alone calls the steps below in order), a
 * live session is always listed:
 * - creating: the entry is added first, then the session is created (only if new). In between, an entry lists a
 *   session that does not exist yet: listings skip it, and pruning spares entries younger than the creation window;
 * - ending: the session is deleted first, then its entry removed, and only for sessions the DEL found. An entry
 *   whose DEL found nothing may belong to a session still being created, which then stays listed (a later listing
 *   prunes it once it is old enough and still has no session).
 */
export function createSessionIndex(redis: RedisClient, options: SessionIndexOptions): SessionIndex {
  const { keys, maxSessionsPerUser, longestSessionMs, store } = options

  /** The user's sessions, least recently seen first, after dropping the entries of sessions that are gone. */
  async function liveSessions(userId: string): Promise<IndexedSession[]> {
    const live = await store.readIndex(keys.userSessions(userId))
    return live.map(({ handle, score: lastSeenAt, record: { createdAt, ip, userAgent, remember } }) => ({
      handle,
      createdAt: typeof createdAt === 'number' ? createdAt : lastSeenAt,
      lastSeenAt,
      ip: typeof ip === 'string' ? ip : '',
      userAgent: typeof userAgent === 'string' ? userAgent : '',
      remember: remember === true,
    }))
  }

  const end = async (userId: string, handles: string[]) => (await store.endListed(keys.userSessions(userId), handles)).length

  return {
    exists: (handle) => store.exists(handle),

    async add(userId, handle, createdAt) {
      const index = keys.userSessions(userId)
      await Promise.all([redis.zadd(index, createdAt, handle), redis.pexpire(index, longestSessionMs)])
    },

    async makeRoom(userId) {
      if (maxSessionsPerUser <= 0) return 0
      // The index lists every live session and maybe some gone since (pruned when read): under the cap with them
      // all, a login needs no room, and reads one number instead of every session.
      if ((await redis.zcard(keys.userSessions(userId))) < maxSessionsPerUser) return 0
      const live = await liveSessions(userId)
      const excess = live.length + 1 - maxSessionsPerUser
      return excess > 0 ? end(userId, live.slice(0, excess).map((session) => session.handle)) : 0
    },

    async touch(userId, handle, ttlMs, seenAt) {
      // A slide leaves a missing session missing, and XX puts no revoked session back on the list.
      await Promise.all([store.records.slide(keys.session(handle), ttlMs), redis.zadd(keys.userSessions(userId), 'XX', seenAt, handle)])
    },

    async remove(userId, handle) {
      await redis.zrem(keys.userSessions(userId), handle)
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

    async forget(userId) {
      await redis.del(keys.userSessions(userId))
    },

    countLive: () => countKeys(redis, keys.sessionPrefix),
  }
}

export default fp<SessionIndexOptions>(
  async function sessionIndexPlugin(app, options) {
    app.decorate('sessionIndex', createSessionIndex(app.redis, options))
    // What versions before 0.3 kept (keys.ts) would otherwise stay in Redis for good; older instances still running
    // in a rolling upgrade may write it again, until the next start. Best effort: a start while Redis refuses writes
    // (a failover under way) must still serve, answering 503 until writes come back.
    await app.redis.unlink(options.keys.legacyLiveSessions).catch((error: Error) => {
      app.log.warn({ err: error }, 'could not delete the legacy live-sessions key; the next start tries again')
    })
  },
  { name: 'session-index', dependencies: ['redis'] },
)
