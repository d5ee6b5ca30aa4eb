import type { FastifySessionObject, SessionStore as FastifySessionStore } from '@fastify/session'
import { RedisStore } from 'connect-redis'
import type { Session } from 'fastify'
import { SessionExpired } from '../errors.js'
import { handleOf, type RedisKeys } from '../lib/keys.js'
import type { RedisClient } from '../platform/redis/client.js'
import { changesBetween, decodeFields, encodeFields, hasChanges } from './records.js'
import type { SessionStore } from './store.js'
import { expiryAfter, pastAbsoluteLimit, type SessionTimeouts, type SessionTiming } from '../lib/session-timeouts.js'

/**
 * The @fastify/session store, on the per-field records of sessions/records.ts (whose opening comment states the
 * concurrency rules). @fastify/session hands the store a whole session to save; this store writes only what the
 * request changed, by comparing with the fields as they were loaded (or last written) by that request:
 * - a session without a baseline is new (a login, a regenerated ID) and is created, only if its ID is new, after its
 *   user's index lists it (invariant 1 of sessions/service.ts);
 * - a loaded session writes its changed fields only while it still exists; when it was ended meanwhile, the save
 *   fails with SessionExpired (401), so the request answers as if it had come after the end.
 * Only a session with a user is ever stored: anonymous requests write nothing.
 *
 * It is a connect-redis store (the stack's Redis store for @fastify/session; 8.1 is the last line that takes an
 * ioredis client) whose reads, writes and deletion are replaced: connect-redis stores a session as one JSON string,
 * and its delete neither tells whether it found the session nor waits for replicas, so all three go through the
 * sessions store (store.ts), the one owner of every ending. What stays of connect-redis is the store object
 * @fastify/session expects (the express-session Store base class it imports, why express-session is a runtime
 * dependency; docs/how-it-works.md).
 *
 * The store keeps the user's index in step only on creation (listed first); ending a session and unlisting it are the
 * sessions service's (sessions/service.ts), which knows whose session it is.
 */

/**
 * Session properties that are never stored: the cookie (rebuilt on load), expiresAt (read from the TTL) and handle
 * (the key's hash, known on load).
 */
const UNSTORED = new Set(['cookie', 'expiresAt', 'handle'])

/**
 * A request that proved its session by a JWT access token knows the session's handle, never its ID: it is loaded under
 * this mark and the handle, as a cookie would load it under its ID. No ID ever starts with it (IDs are base64url), and
 * the value is signed like any cookie's, so only the session plugin can make one (sessions/http.ts).
 */
export const BY_HANDLE = '~'

/** The hash a session ID (or a handle under BY_HANDLE) is stored under. */
export function handleOfSessionId(sessionId: string): string {
  return sessionId.startsWith(BY_HANDLE) ? sessionId.slice(BY_HANDLE.length) : handleOf(sessionId)
}

/** The hash a session is stored, counted and logged under: from the load, so that a request hashes its ID once. */
export function sessionHandle(session: FastifySessionObject): string {
  return session.handle ?? handleOfSessionId(session.sessionId)
}

/** The names of the session attributes that are stored. */
export function storedFieldNames(session: Session): string[] {
  return Object.keys(session).filter((name) => !UNSTORED.has(name))
}

/** A session's attributes by name, as route code sets them (`request.session.views = 2`). */
const attributesOf = (session: Session) => session as unknown as Record<string, unknown>

const storedFields = (session: Session) => encodeFields(attributesOf(session), UNSTORED)

/** Where the session index is told about a new session before the session is created. */
export interface NewSessionListing {
  add(userId: string, handle: string, createdAt: number): Promise<void>
}

export interface FastifySessionStoreOptions {
  redis: RedisClient
  keys: RedisKeys
  timeouts: SessionTimeouts
  index: NewSessionListing
  /** The sessions' records and their one way of ending. */
  store: SessionStore
  /** Called with the handle of a session ended on read because its absolute limit has passed. */
  onAbsoluteExpiry: (handle: string) => void
}

export interface FieldWiseSessionStore extends FastifySessionStore {
  /** Records what a session loaded by a request holds, the baseline its later save is compared with. */
  trackLoaded(session: Session): void
  /** Adds `by` to an integer field in Redis atomically; throws SessionExpired when the session is gone. */
  increment(session: FastifySessionObject, field: string, by: number): Promise<number>
}

/**
 * What a session held when its request loaded or last wrote it, kept on the request's Session under a symbol (which
 * @fastify/session neither copies nor hashes, nor JSON shows): a WeakMap entry per request would cost every garbage
 * collection an ephemeron to trace.
 */
const BASELINE = Symbol('stored fields')
/**
 * The stored fields of a loaded session, kept on its decoded `user` object, which @fastify/session copies by reference
 * into the request's Session: trackLoaded takes them as the baseline instead of encoding the session again.
 */
const LOADED = Symbol('loaded fields')
type Tracked = { [BASELINE]?: Record<string, string>; [LOADED]?: Record<string, string> }
const tracked = (object: object) => object as Tracked

export function createFastifySessionStore(options: FastifySessionStoreOptions): FieldWiseSessionStore {
  const { redis, keys, timeouts, index, store, onAbsoluteExpiry } = options
  const { records } = store
  function keyOf(sessionId: string): { handle: string; key: string } {
    const handle = handleOfSessionId(sessionId)
    return { handle, key: keys.session(handle) }
  }

  async function create(sessionId: string, session: Session, userId: string, fields: Record<string, string>): Promise<void> {
    const { handle, key } = keyOf(sessionId)
    const now = Date.now()
    const expiresAt = expiryAfter(timeouts, session, now)
    await index.add(userId, handle, session.createdAt ?? now)
    // 122 random bits make a clash unheard of; were it to happen, the other session must not be taken over.
    if (!(await records.create(key, fields, expiresAt - now))) throw new Error('session ID clash: refusing to overwrite a session')
  }

  function destroy(sessionId: string, callback: (error?: unknown) => void): void {
    store.end(handleOfSessionId(sessionId)).then(() => callback(), callback)
  }

  async function save(sessionId: string, session: Session): Promise<void> {
    const baseline = tracked(session)[BASELINE]
    const fields = storedFields(session)
    if (baseline === undefined) {
      if (!session.user) return
      await create(sessionId, session, session.user.id, fields)
    } else {
      const changes = changesBetween(baseline, fields)
      if (!hasChanges(changes)) return
      if (!(await records.update(keyOf(sessionId).key, changes))) throw new SessionExpired()
    }
    tracked(session)[BASELINE] = fields
  }

  const fieldWise: FieldWiseSessionStore = {
    get(sessionId, callback) {
      const { handle, key } = keyOf(sessionId)
      records.read(key).then((stored) => {
        if (stored === null) return callback(null, null)
        const session = decodeFields(stored.fields) as SessionTiming & Record<string, unknown>
        // An access token's lifetime is its TTL, set at creation; the session limits do not apply to it.
        if (session.token === undefined && pastAbsoluteLimit(timeouts, session, Date.now())) {
          onAbsoluteExpiry(handle)
          destroy(sessionId, (error) => callback(error, null))
          return
        }
        // A persistent ("remember me") cookie expires with the session; any other lasts until the browser closes.
        session.cookie = { originalMaxAge: null, expires: session.remember ? new Date(stored.expiresAt) : null }
        session.expiresAt = stored.expiresAt
        session.handle = handle
        if (typeof session.user === 'object' && session.user !== null) tracked(session.user)[LOADED] = stored.fields
        callback(null, session as unknown as Session)
      }, callback)
    },
    set(sessionId, session, callback) {
      save(sessionId, session).then(() => callback(), callback)
    },
    destroy,
    trackLoaded(session) {
      tracked(session)[BASELINE] = (session.user && tracked(session.user)[LOADED]) ?? storedFields(session)
    },
    async increment(session, field, by) {
      const value = await records.increment(keyOf(session.sessionId).key, field, by)
      if (value === null) throw new SessionExpired()
      attributesOf(session)[field] = value
      // Already in Redis: the save at the end of the request must not write it again.
      const baseline = tracked(session)[BASELINE]
      if (baseline) baseline[field] = String(value)
      return value
    },
  }
  return Object.assign(new RedisStore({ client: redis, prefix: keys.sessionPrefix }), fieldWise)
}
