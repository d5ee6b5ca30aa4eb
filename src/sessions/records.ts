import type { Result } from 'ioredis'
import { defineScripts, type RedisClient } from '../platform/redis/client.js'
import { packUserAgent, unpackUserAgent } from '../lib/user-agent.js'

/**
 * Sessions as Redis holds them: one hash per session, one field per session attribute (its JSON), under the session's
 * handle (keys.ts). Personal access tokens are records of the same kind. This module owns the session key's scripts.
 *
 * Concurrency rules. Every script touches one key, so each is one atomic step, on a Cluster too:
 * - Only `create` makes a session key, and only when the key is new. Every other write (`update`, `increment`,
 *   `slide`) applies to an existing key or not at all, so nothing can bring back a session that was ended
 *   (deleted) or expired, whatever requests of it were in flight.
 * - `update` sets the fields a request changed and deletes those it removed: last writer wins per field, and two
 *   requests that change different fields never undo each other.
 * - `increment` is atomic (HINCRBY): read-modify-write values lose no update under any concurrency.
 * - The TTL is set once at creation; writes keep it (HSET does not touch it), only the sliding expiry (`slide`) moves
 *   it. The hash also holds when the TTL ends (EXPIRY_FIELD), set by the same scripts that set the TTL, so that a read
 *   is one command (HGETALL, no PTTL): half the commands of the hottest path, in the process and in Redis.
 */

/**
 * Fields whose names start with `@` are the store's own, beside the session's attributes (whose names never do): no
 * request reads, writes or deletes them as attributes. The refresh family's fields (refresh-families.ts) are of them.
 */
export const STORE_FIELD_MARK = '@'
const isStoreField = (name: string) => name.startsWith(STORE_FIELD_MARK)

/** When the session's TTL ends (epoch milliseconds). Short: it is in every session. */
export const EXPIRY_FIELD = `${STORE_FIELD_MARK}e`

/** A session's stored fields (name → JSON; the stored expiry among them) and when Redis drops it (epoch milliseconds). */
export interface StoredSession {
  fields: Record<string, string>
  expiresAt: number
}

/** What a changing request writes: fields to set (name → JSON) and fields to delete. */
export interface SessionChanges {
  set: Record<string, string>
  removed: string[]
}

// ARGV: TTL in ms, then field/value pairs.
const CREATE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`

// ARGV: how many field/value pairs follow, the pairs, then the fields to delete.
const UPDATE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local last = tonumber(ARGV[1]) * 2 + 1
if last > 1 then redis.call('HSET', KEYS[1], unpack(ARGV, 2, last)) end
if #ARGV > last then redis.call('HDEL', KEYS[1], unpack(ARGV, last + 1)) end
return 1
`

// ARGV: the TTL in ms and when it ends. PEXPIRE leaves a missing key missing: a slide never brings a session back.
const SLIDE_SCRIPT = `
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], '${EXPIRY_FIELD}', ARGV[2])
return 1
`

const INCREMENT_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
`

// Converts a whole-JSON session into a hash, keeping its TTL, unless it changed since it was read.
const CONVERT_SCRIPT = `
if redis.call('TYPE', KEYS[1]).ok ~= 'string' or redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    createSession(key: string, ttlMs: number, ...fieldsAndValues: string[]): Result<number, Context>
    updateSession(key: string, setCount: number, ...fieldsAndValues: string[]): Result<number, Context>
    incrementSessionField(key: string, field: string, by: number): Result<number | null, Context>
    convertWholeSession(key: string, raw: string, ...fieldsAndValues: string[]): Result<number, Context>
    slideSession(key: string, ttlMs: number, expiresAt: number): Result<number, Context>
  }
}

/**
 * Redis keeps a small hash as one compact list (a listpack) only while every value is at most 64 bytes
 * (hash-max-listpack-value); one longer value (a User-Agent is about 120) turns the whole hash into a hash table, which
 * doubles what the session costs. So a longer value is stored in 64-byte chunks: `userAgent`, `userAgent.1`, ... Its
 * last chunk is never full (JSON may end in a space), so a reader stops there, whatever chunks a concurrent write of a
 * longer value left behind.
 */
const CHUNK_BYTES = 64
const CHUNK_SEPARATOR = '.'

/** JSON in ASCII only (other characters as \u escapes), so that a chunk of 64 characters is 64 bytes. */
const asciiJson = (value: unknown) => JSON.stringify(value).replace(/[\u0080-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)

interface Compaction {
  pack(value: unknown): unknown
  /** Also given what an earlier version stored: told apart by its shape. */
  unpack(stored: unknown): unknown
}

const isUser = (value: unknown): value is { id: string; username: string; roles: string[] } =>
  typeof value === 'object' && value !== null && 'id' in value && 'username' in value && 'roles' in value

/** Shorter forms of what every session holds: the user without its field names, the User-Agent packed. */
const COMPACTIONS: Record<string, Compaction> = {
  user: {
    pack: (user) => (isUser(user) ? [user.id, user.username, user.roles] : user),
    unpack: (stored) => (Array.isArray(stored) ? { id: stored[0], username: stored[1], roles: stored[2] } : stored),
  },
  userAgent: {
    pack: (userAgent) => (typeof userAgent === 'string' ? packUserAgent(userAgent) : userAgent),
    unpack: (stored) => (typeof stored === 'string' ? unpackUserAgent(stored) : stored),
  },
}

/** Session attributes as stored fields: each value's JSON, chunked; undefined values and the `skip` names are left out. */
export function encodeFields(data: Record<string, unknown>, skip?: ReadonlySet<string>): Record<string, string> {
  const fields: Record<string, string> = {}
  for (const [name, value] of Object.entries(data)) {
    if (value === undefined || skip?.has(name)) continue
    let json = asciiJson(Object.hasOwn(COMPACTIONS, name) ? COMPACTIONS[name]!.pack(value) : value)
    if (json.length % CHUNK_BYTES === 0) json += ' '
    fields[name] = json.slice(0, CHUNK_BYTES)
    for (let start = CHUNK_BYTES; start < json.length; start += CHUNK_BYTES) {
      fields[name + CHUNK_SEPARATOR + start / CHUNK_BYTES] = json.slice(start, start + CHUNK_BYTES)
    }
  }
  return fields
}

/** The attributes of stored fields, chunks joined (fields written whole by earlier versions read as they are). */
export function decodeFields(fields: Record<string, string>): Record<string, unknown> {
  const data: Record<string, unknown> = {}
  for (const name in fields) {
    if (name.includes(CHUNK_SEPARATOR) || isStoreField(name)) continue
    let json = fields[name]!
    // Only a full first chunk can have more: every read of a short value skips the lookups.
    for (let chunk = 1; json.length === chunk * CHUNK_BYTES && fields[name + CHUNK_SEPARATOR + chunk] !== undefined; chunk++) {
      json += fields[name + CHUNK_SEPARATOR + chunk]
    }
    const value: unknown = JSON.parse(json)
    data[name] = Object.hasOwn(COMPACTIONS, name) ? COMPACTIONS[name]!.unpack(value) : value
  }
  return data
}

/** What changed from `before` to `after` (both as stored fields; the store's own fields are not the request's to change). */
export function changesBetween(before: Record<string, string>, after: Record<string, string>): SessionChanges {
  const set: Record<string, string> = {}
  for (const name in after) if (before[name] !== after[name]) set[name] = after[name]!
  return { set, removed: Object.keys(before).filter((name) => !(name in after) && !isStoreField(name)) }
}

export function hasChanges({ set, removed }: SessionChanges): boolean {
  return removed.length > 0 || Object.keys(set).length > 0
}

const flatten = (fields: Record<string, string>) => Object.entries(fields).flat()

/** A session stored whole (one JSON string) by a version before per-field writes: HGETALL refuses its key. */
const WHOLE = Symbol('stored whole')
function storedWhole(error: unknown): typeof WHOLE {
  if (error instanceof Error && error.message.startsWith('WRONGTYPE')) return WHOLE
  throw error
}

export interface SessionRecords {
  /** The session at `key`, or null when there is none. */
  read(key: string): Promise<StoredSession | null>
  /** Creates the session with `fields`, living `ttlMs`; false when the key exists already. */
  create(key: string, fields: Record<string, string>, ttlMs: number): Promise<boolean>
  /** Applies the changes if the session still exists; false when it is gone. */
  update(key: string, changes: SessionChanges): Promise<boolean>
  /** Adds `by` to an integer field of an existing session: its new value, or null when the session is gone. */
  increment(key: string, field: string, by: number): Promise<number | null>
  /** Moves an existing session's expiry to `ttlMs` from now; false when it is gone. */
  slide(key: string, ttlMs: number): Promise<boolean>
}

export function sessionRecords(redis: RedisClient): SessionRecords {
  defineScripts(redis, {
    createSession: { numberOfKeys: 1, lua: CREATE_SCRIPT },
    updateSession: { numberOfKeys: 1, lua: UPDATE_SCRIPT },
    incrementSessionField: { numberOfKeys: 1, lua: INCREMENT_SCRIPT },
    convertWholeSession: { numberOfKeys: 1, lua: CONVERT_SCRIPT },
    slideSession: { numberOfKeys: 1, lua: SLIDE_SCRIPT },
  })

  /** An upgrade logs no one out: a session stored whole is read as before and converted on the way. */
  async function readWhole(key: string): Promise<Record<string, string> | null> {
    const raw = await redis.get(key)
    if (raw === null) return null
    const fields = encodeFields(JSON.parse(raw) as Record<string, unknown>)
    if (Object.keys(fields).length > 0) await redis.convertWholeSession(key, raw, ...flatten(fields))
    return fields
  }

  /**
   * The expiry of a session stored by a version before EXPIRY_FIELD, from its TTL, until its next slide stores it. A
   * key without a TTL (-1), or gone meanwhile (-2), counts as due now, so the next touch gives it one.
   */
  async function expiryFromTtl(key: string): Promise<number> {
    return Date.now() + Math.max(await redis.pttl(key), 0)
  }

  return {
    async read(key) {
      const stored = await redis.hgetall(key).catch(storedWhole)
      const fields = stored === WHOLE ? await readWhole(key) : stored
      if (fields === null || Object.keys(fields).length === 0) return null
      // The field stays in `fields` (a delete would slow every later access to the object): decodeFields and
      // changesBetween pass over it.
      const expiresAt = fields[EXPIRY_FIELD]
      return { fields, expiresAt: expiresAt === undefined ? await expiryFromTtl(key) : Number(expiresAt) }
    },

    async create(key, fields, ttlMs) {
      return (await redis.createSession(key, ttlMs, ...flatten(fields), EXPIRY_FIELD, String(Date.now() + ttlMs))) === 1
    },

    async slide(key, ttlMs) {
      return (await redis.slideSession(key, ttlMs, Date.now() + ttlMs)) === 1
    },

    async update(key, { set, removed }) {
      return (await redis.updateSession(key, Object.keys(set).length, ...flatten(set), ...removed)) === 1
    },

    async increment(key, field, by) {
      return redis.incrementSessionField(key, field, by)
    },
  }
}
