import type { RedisKeys } from '../lib/keys.js'
import type { RedisClient } from '../platform/redis/client.js'
import type { ReplicationCheck } from '../platform/redis/replication.js'
import { decodeFields, sessionRecords, type SessionRecords } from './records.js'

/**
 * How long after an index entry was written its record may still be on the way (listed first, then created): an
 * entry without a record is pruned only once it is older. Far above the 500 ms a Redis command may take.
 */
export const RECORD_CREATION_WINDOW_MS = 60_000

/** A live entry of an index: the record's handle, the entry's score and the record's attributes. */
export interface IndexedRecord {
  handle: string
  score: number
  record: Record<string, unknown>
}

/**
 * The records of the sessions keyspace (logins, bearer sessions and personal access tokens: records.ts) and the
 * per-user indexes that list them: a sorted set of handles, scored by a time. The only code that deletes a session
 * key, so every ending keeps the same order (the invariants of service.ts):
 * - a record is deleted first, then, once enough replicas have the deletion (REDIS_WAIT_REPLICAS), unlisted, and only
 *   when the delete found it: an entry whose record was not found may be a record being created (listed first);
 * - an ending is answered only after the replicas confirmed it (StoreUnavailable, 503, otherwise), so no failover
 *   brings back a record that was ended, whatever kind of session it was.
 */
export interface SessionStore {
  /** Reads and writes of one record (records.ts). */
  records: SessionRecords
  /** Whether the record `handle` exists. */
  exists(handle: string): Promise<boolean>
  /**
   * The live entries of an index, each with its record read whole (a record is a few short fields); entries whose
   * record is gone (records expire on their own, so an index learns of it only when read) are pruned once older than
   * the creation window.
   */
  readIndex(index: string): Promise<IndexedRecord[]>
  /** Ends one record, unlisted by the caller (who knows its index): whether the delete found it. */
  end(handle: string): Promise<boolean>
  /** Ends the records `handles` and unlists the ones it found from `index`: which it ended. */
  endListed(index: string, handles: string[]): Promise<string[]>
}

export interface SessionStoreOptions {
  keys: RedisKeys
  /** Resolves once a deletion is on enough replicas; throws StoreUnavailable otherwise. */
  confirmEnded: ReplicationCheck
}

export function createSessionStore(redis: RedisClient, { keys, confirmEnded }: SessionStoreOptions): SessionStore {
  const recordKey = keys.session

  async function endEach(handles: string[]): Promise<string[]> {
    // One key per DEL: records spread over every node of a Redis Cluster.
    const deleted = await Promise.all(handles.map((handle) => redis.del(recordKey(handle))))
    const ended = handles.filter((_, i) => deleted[i] === 1)
    await Promise.all(ended.map((handle) => confirmEnded(recordKey(handle))))
    return ended
  }

  return {
    records: sessionRecords(redis),

    async exists(handle) {
      return (await redis.exists(recordKey(handle))) === 1
    },

    async readIndex(index) {
      const scored = await redis.zrange(index, 0, -1, 'WITHSCORES')
      const entries = Array.from({ length: scored.length / 2 }, (_, i) => ({ handle: scored[2 * i]!, score: Number(scored[2 * i + 1]) }))
      const stored = await Promise.all(entries.map(({ handle }) => redis.hgetall(recordKey(handle))))
      const exists = (i: number) => Object.keys(stored[i]!).length > 0
      const settled = Date.now() - RECORD_CREATION_WINDOW_MS
      const gone = entries.filter(({ score }, i) => !exists(i) && score < settled).map(({ handle }) => handle)
      if (gone.length > 0) await redis.zrem(index, ...gone)
      return entries.flatMap((entry, i) => (exists(i) ? [{ ...entry, record: decodeFields(stored[i]!) }] : []))
    },

    async end(handle) {
      return (await endEach([handle])).length === 1
    },

    async endListed(index, handles) {
      if (handles.length === 0) return []
      const ended = await endEach(handles)
      if (ended.length > 0) await redis.zrem(index, ...ended)
      return ended
    },
  }
}
