import type { SessionStore } from '@fastify/session'
import { RedisStore } from 'connect-redis'
import type { Result } from 'ioredis'
import type { RedisClient } from '../plugins/redis.js'
import { sessionKeyId } from './keys.js'
import type { SessionCache } from './session-cache.js'
import { expiryAfter, pastAbsoluteLimit, type SessionTimeouts, type SessionTiming } from './session-timeouts.js'

/** A session as Redis holds it, with when Redis will drop it (epoch milliseconds, from the key's TTL). */
export interface StoredSession {
  raw: string
  expiresAt: number
}

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** The session at KEYS[1] and its remaining TTL in milliseconds; null when there is none. */
    readSession(key: string): Result<[string, number] | null, Context>
  }
}

// One command instead of a pipelined GET + PTTL: the value and its TTL agree, and it measured faster.
const READ_SESSION_SCRIPT = `
local value = redis.call('GET', KEYS[1])
if not value then return nil end
return { value, redis.call('PTTL', KEYS[1]) }
`

/** Reads a session and its expiry in one round trip (EVALSHA of a script loaded once per connection). */
export function sessionReader(redis: RedisClient): (key: string) => Promise<StoredSession | null> {
  redis.defineCommand('readSession', { numberOfKeys: 1, lua: READ_SESSION_SCRIPT })
  return async (key) => {
    const found = await redis.readSession(key)
    if (found === null) return null
    const [raw, ttlMs] = found
    // A key without a TTL (-1) counts as due now, so the next touch gives it one.
    return { raw, expiresAt: Date.now() + Math.max(ttlMs, 0) }
  }
}

/**
 * What Redis holds of a session: its own fields only. The cookie is rebuilt on load (its attributes are the same
 * for everyone, its expiry is the key's TTL), and `expiresAt` is read from that TTL, so neither is stored.
 */
export const slimSessionSerializer = {
  parse: (raw: string) => JSON.parse(raw),
  stringify({ cookie: _cookie, expiresAt: _expiresAt, ...data }: { cookie?: unknown; expiresAt?: unknown }) {
    return JSON.stringify(data)
  },
}

export interface SessionStoreOptions {
  redis: RedisClient
  /** Sessions are stored at keyPrefix + sessionKeyId(session ID). */
  keyPrefix: string
  timeouts: SessionTimeouts
  /** Recently read sessions, kept in process; null reads each one from Redis. */
  cache: SessionCache | null
  /** Called with the handle of a session ended on read because its absolute limit has passed. */
  onAbsoluteExpiry: (handle: string) => void
}

/**
 * The @fastify/session store: connect-redis writes and deletes; reads fetch the value and TTL together (through the
 * cache when there is one). Keys are hashes of session IDs, so Redis holds nothing that works as a cookie.
 */
export function createSessionStore(options: SessionStoreOptions): SessionStore {
  const { redis, keyPrefix, timeouts, cache, onAbsoluteExpiry } = options
  const redisStore = new RedisStore({
    client: redis,
    prefix: keyPrefix,
    // Each write (a login, a changed session) sets the TTL from the session's own limits.
    ttl: (session) => Math.ceil((expiryAfter(timeouts, session as SessionTiming, Date.now()) - Date.now()) / 1000),
    serializer: slimSessionSerializer,
  })
  const read = sessionReader(redis)
  const load = cache ? (key: string) => cache.read(key, read) : read
  const forget = (handle: string) => cache?.forget(keyPrefix + handle)

  return {
    get(sessionId, callback) {
      const handle = sessionKeyId(sessionId)
      load(keyPrefix + handle).then((stored) => {
        if (stored === null) return callback(null, null)
        const session = JSON.parse(stored.raw) as SessionTiming & Record<string, unknown>
        if (pastAbsoluteLimit(timeouts, session, Date.now())) {
          onAbsoluteExpiry(handle)
          forget(handle)
          redisStore.destroy(handle, (error) => callback(error, null))
          return
        }
        // A persistent ("remember me") cookie expires with the session; any other lasts until the browser closes.
        const cookie = { originalMaxAge: null, expires: session.remember ? new Date(stored.expiresAt) : null }
        callback(null, { ...session, cookie, expiresAt: stored.expiresAt })
      }, callback)
    },
    set(sessionId, session, callback) {
      const handle = sessionKeyId(sessionId)
      forget(handle)
      redisStore.set(handle, session as Parameters<RedisStore['set']>[1], callback)
    },
    destroy(sessionId, callback) {
      const handle = sessionKeyId(sessionId)
      forget(handle)
      redisStore.destroy(handle, callback)
    },
  }
}
