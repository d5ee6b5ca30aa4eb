import { StoreUnavailable } from '../../errors.js'
import type { RedisClient } from './client.js'

/**
 * How long a session end waits for replicas (Redis WAIT), below the 500 ms command timeout so that WAIT's own answer
 * (how many replicas have the writes) always arrives.
 */
export const REPLICA_WAIT_MS = 300

/** Resolves once the writes sent so far to the node that holds `key` are on enough replicas. */
export type ReplicationCheck = (key: string) => Promise<void>

/**
 * Replication is asynchronous: a deletion the master acknowledged but had not yet passed on is lost when a replica
 * takes over, and an ended session would come back. So a session end asks the master (WAIT) whether `replicas`
 * replicas have it, and answers 503 STORE_UNAVAILABLE when they do not: the client retries, and the retry reaches
 * the new master. A master demoted in a failover has no replicas left, so a deletion it took is always refused.
 * The key routes WAIT to the right node of a Cluster: WAIT counts the writes of its own connection, the one that
 * carried the deletion.
 */
export function replicationCheck(redis: RedisClient, replicas: number): ReplicationCheck {
  if (replicas === 0) return async () => {}
  return async (key) => {
    const results = await redis.pipeline().exists(key).wait(replicas, REPLICA_WAIT_MS).exec()
    const [error, acknowledged] = results?.[1] ?? [new Error('no answer to WAIT'), 0]
    if (error) throw error
    if (Number(acknowledged) < replicas) throw new StoreUnavailable()
  }
}
