import fp from 'fastify-plugin'
import fastifyCookie from '@fastify/cookie'
import fastifySession, { type SessionStore } from '@fastify/session'
import { RedisStore } from 'connect-redis'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Redis } from 'ioredis'
import { sessionKeyId } from '../lib/keys.js'
import { memoizedSigner } from '../lib/memoized-signer.js'
import { SessionCache } from '../lib/session-cache.js'

export interface SessionUser {
  id: string
  username: string
  roles: string[]
}

declare module 'fastify' {
  // What a session holds: little, so that reading it stays cheap.
  interface Session {
    user?: SessionUser
    /** Epoch milliseconds of the login that created the session. */
    createdAt?: number
    /** Client IP and User-Agent (at most 256 characters) at login, shown in the user's list of sessions. */
    ip?: string
    userAgent?: string
    views?: number
  }
  interface FastifyInstance {
    sessionCookie: SessionCookie
  }
}

export interface SessionCookie {
  /** The session ID of a validly signed session cookie on the request (the session may still be gone), else null. */
  signedId(request: FastifyRequest): string | null
  clear(reply: FastifyReply): void
}

export interface SessionPluginOptions {
  redis: Redis
  keyPrefix: string
  secrets: string[]
  cookieName: string
  cookieSecure: boolean
  ttlSeconds: number
  /** Sessions kept in process, invalidated by Redis client tracking; 0 reads every session from Redis. */
  cacheSize: number
}

/** Signatures remembered per process: enough for the sessions active in a busy minute. */
const SIGNER_MEMO_SIZE = 10_000

/**
 * What a session stores of its cookie: only when it expires. The attributes that are the same for every session
 * (path, flags) come from the plugin options when the session is read back, so Redis does not hold a copy of each.
 */
export const slimSessionSerializer = {
  parse: (raw: string) => JSON.parse(raw),
  stringify(session: { cookie?: { expires?: Date | null; originalMaxAge?: number | null } }) {
    const { cookie, ...data } = session
    return JSON.stringify({ ...data, cookie: { expires: cookie?.expires, originalMaxAge: cookie?.originalMaxAge } })
  },
}

/**
 * When the session ends: the expiry stored with it. (On read-back @fastify/session rolls `cookie.expires` forward
 * from now and keeps the stored value as `originalExpires`.)
 */
export function sessionExpiresAt(cookie: object): Date | null {
  const { originalExpires, expires } = cookie as { originalExpires?: Date | null; expires?: Date | null }
  return originalExpires ?? expires ?? null
}

/** Stores each session under a hash of its ID instead of the ID itself. */
function hashedIds(store: SessionStore): SessionStore {
  return {
    get: (sessionId, callback) => store.get(sessionKeyId(sessionId), callback),
    set: (sessionId, session, callback) => store.set(sessionKeyId(sessionId), session, callback),
    destroy: (sessionId, callback) => store.destroy(sessionKeyId(sessionId), callback),
  }
}

/** connect-redis for writes; reads go through the cache, and every write or delete evicts the key first. */
function cachedStore(redisStore: RedisStore, cache: SessionCache, keyPrefix: string): SessionStore {
  return {
    get(sessionId, callback) {
      cache.read(keyPrefix + sessionId).then((raw) => callback(null, raw === null ? null : JSON.parse(raw)), callback)
    },
    set(sessionId, session, callback) {
      cache.forget(keyPrefix + sessionId)
      redisStore.set(sessionId, session as Parameters<RedisStore['set']>[1], callback)
    },
    destroy(sessionId, callback) {
      cache.forget(keyPrefix + sessionId)
      redisStore.destroy(sessionId, callback)
    },
  }
}

/**
 * Cookie parsing and server-side sessions in Redis. Registered only around the routes that use a session,
 * so that health checks and unknown routes skip the cookie and session work entirely.
 */
export default fp<SessionPluginOptions>(
  async function sessionPlugin(app, options) {
    const signer = memoizedSigner(options.secrets, SIGNER_MEMO_SIZE)
    const redisStore = new RedisStore({
      client: options.redis,
      prefix: options.keyPrefix,
      ttl: options.ttlSeconds,
      serializer: slimSessionSerializer,
    })
    let store = redisStore as SessionStore
    if (options.cacheSize > 0) {
      const cache = new SessionCache(options.redis, options.keyPrefix, options.cacheSize, app.log)
      await cache.start()
      app.addHook('onClose', async () => cache.close())
      store = cachedStore(redisStore, cache, options.keyPrefix)
    }
    store = hashedIds(store)
    const cookiePath = '/'
    const cookieAttributes = { path: cookiePath, httpOnly: true, sameSite: 'lax', secure: options.cookieSecure } as const
    await app.register(fastifyCookie, { secret: signer })

    // A cookie signed with an older SESSION_SECRET is valid, but @fastify/session would see that it differs from the
    // ID signed with the first secret and clear it. Present it re-signed instead, and re-issue it on the response.
    const renewedCookies = new WeakSet<FastifyRequest>()
    app.addHook('onRequest', (request, _reply, done) => {
      const value = request.cookies[options.cookieName]
      const unsigned = value === undefined ? null : signer.unsign(value)
      if (unsigned?.renew && unsigned.value !== null) {
        request.cookies[options.cookieName] = signer.sign(unsigned.value)
        renewedCookies.add(request)
      }
      done()
    })
    await app.register(fastifySession, {
      secret: signer,
      cookieName: options.cookieName,
      cookie: { ...cookieAttributes, maxAge: options.ttlSeconds * 1000 },
      // Only a login creates a session: anonymous requests write nothing to Redis and get no cookie.
      saveUninitialized: false,
      // An unchanged session is not written back; rolling would rewrite it on every request.
      rolling: false,
      store,
    })

    app.addHook('onSend', (request, reply, payload, done) => {
      const { session } = request
      if (session?.user && renewedCookies.has(request)) {
        const expires = sessionExpiresAt(session.cookie) ?? undefined
        reply.setCookie(options.cookieName, session.encryptedSessionId, { ...cookieAttributes, expires })
      }
      done(null, payload)
    })

    // What these routes answer belongs to one user: no shared or browser cache may keep it.
    app.addHook('onRequest', (_request, reply, done) => {
      reply.header('cache-control', 'no-store')
      done()
    })

    app.decorate('sessionCookie', {
      signedId(request) {
        const value = request.cookies[options.cookieName]
        return value === undefined ? null : signer.unsign(value).value
      },
      clear(reply) {
        reply.clearCookie(options.cookieName, { path: cookiePath })
      },
    } satisfies SessionCookie)
  },
  { name: 'session' },
)
