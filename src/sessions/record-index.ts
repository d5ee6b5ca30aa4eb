import type { RedisClient } from '../platform/redis/client.js'
import { decodeFields } from './records.js'

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
 * Reads a per-user index (a sorted set of handles scored by a time, each naming a record at `recordKey(handle)`)
 * with each record, read whole (a record is a few short fields), and prunes the entries whose record is gone. Records
 * expire on their own in Redis, so an index learns of it only when read. An entry is pruned only once older than the
 * creation window, since records are listed before they are created (see the invariants in sessions/service.ts).
 */
export async function readIndex(
  redis: RedisClient,
  index: string,
  recordKey: (handle: string) => string,
): Promise<IndexedRecord[]> {
  const scored = await redis.zrange(index, 0, -1, 'WITHSCORES')
  const entries = Array.from({ length: scored.length / 2 }, (_, i) => ({ handle: scored[2 * i]!, score: Number(scored[2 * i + 1]) }))
  const stored = await Promise.all(entries.map(({ handle }) => redis.hgetall(recordKey(handle))))
  const exists = (i: number) => Object.keys(stored[i]!).length > 0
  const settled = Date.now() - RECORD_CREATION_WINDOW_MS
  const gone = entries.filter(({ score }, i) => !exists(i) && score < settled).map(({ handle }) => handle)
  if (gone.length > 0) await redis.zrem(index, ...gone)
  return entries.flatMap((entry, i) => (exists(i) ? [{ ...entry, record: decodeFields(stored[i]!) }] : []))
}
