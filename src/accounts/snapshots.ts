import fp from 'fastify-plugin'
import type { Result } from 'ioredis'
import type { RedisKeys } from '../lib/keys.js'
import type { Database } from '../platform/database/connection.js'
import { defineScripts, type RedisClient } from '../platform/redis/client.js'
import type { ReplicationCheck } from '../platform/redis/replication.js'
import type { MfaStatus } from '../schemas/mfa.js'
import type { Account } from './account.js'
import { userRecords } from './records.js'

/** What a read shows of an account: GET /auth/me answers from it, with no PostgreSQL query. */
export type AccountSnapshot = Pick<Account, 'user' | 'email' | 'pendingEmail'> & { mfa: MfaStatus }

/**
 * How long a snapshot lives after its fill: reads go on from snapshots while PostgreSQL is down for up to this long,
 * and it bounds how long a snapshot could outlive a change whose refresh Redis refused (that change answered 503).
 */
export const SNAPSHOT_TTL_SECONDS = 3600

/** A deleted account's version: above any a row can reach (an integer column), so no fill writes over its tombstone. */
const DELETED_VERSION = 2 ** 31

/**
 * KEYS[1]: the snapshot, a string "<version>|<data>" (one GET reads it; a string of ~300 bytes takes about half the
 * memory of a hash, whose values over 64 bytes leave the compact encoding). ARGV: version, data, TTL in seconds.
 * Writes unless the stored version is as new or newer, and returns what the key holds afterwards: a fill that read
 * PostgreSQL before a change committed can never put its older version over the change's.
 */
const WRITE_SNAPSHOT_SCRIPT = `
local stored = redis.call('GET', KEYS[1])
if stored then
  local bar = string.find(stored, '|', 1, true)
  if bar and tonumber(string.sub(stored, 1, bar - 1)) >= tonumber(ARGV[1]) then return stored end
end
local value = ARGV[1] .. '|' .. ARGV[2]
redis.call('SET', KEYS[1], value, 'EX', ARGV[3])
return value
`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    writeAccountSnapshot(key: string, version: number, data: string, ttlSeconds: number): Result<string, Context>
  }
}

/**
 * The account snapshot: what reads need of an account (AccountSnapshot), once per user in Redis, so that a read
 * answers from Redis alone. This module owns the key (`accountSnapshot`); PostgreSQL stays the truth.
 *
 * Invariant: after a change of an account is answered, no read shows the account as it was before the change. (A
 * password change or reset touches nothing a snapshot holds, so it writes none.)
 * - Every change raises the row's version in its UPDATE (records.ts); the row lock orders the versions.
 * - A change refreshes the snapshot from PostgreSQL after it commits and before it answers (refresh), and waits for
 *   the replicas as a session end does; a deletion leaves a tombstone.
 * - A read that misses fills the snapshot from PostgreSQL; the write compares versions in one script, so a fill that
 *   read before a change and writes after it changes nothing, and the read answers what the key holds.
 */
export interface AccountSnapshots {
  /** The account's snapshot: from Redis, else filled from PostgreSQL; null when the account is gone. */
  read(userId: string): Promise<AccountSnapshot | null>
  /** Writes the account as PostgreSQL has it now (a tombstone when it is gone): after a change, before its answer. */
  refresh(userId: string): Promise<void>
}

export function snapshotOf(account: Account): AccountSnapshot {
  const { user, email, pendingEmail, mfa } = account
  const mfaStatus = mfa === null
    ? { enabled: false, enabledAt: null, recoveryCodesLeft: 0 }
    : { enabled: true, enabledAt: new Date(mfa.enabledAt).toISOString(), recoveryCodesLeft: mfa.recoveryCodesLeft }
  return { user, email, pendingEmail, mfa: mfaStatus }
}

export interface AccountSnapshotOptions {
  keys: RedisKeys
  /** Resolves once a write is on enough replicas (REDIS_WAIT_REPLICAS); throws StoreUnavailable otherwise. */
  confirmWritten: ReplicationCheck
}

export function createAccountSnapshots(redis: RedisClient, db: Database, { keys, confirmWritten }: AccountSnapshotOptions): AccountSnapshots {
  defineScripts(redis, { writeAccountSnapshot: { numberOfKeys: 1, lua: WRITE_SNAPSHOT_SCRIPT } })
  const records = userRecords(db)
  /** The data of a stored "<version>|<data>"; null for a tombstone (no data). */
  const parse = (stored: string): AccountSnapshot | null => {
    const data = stored.slice(stored.indexOf('|') + 1)
    return data === '' ? null : (JSON.parse(data) as AccountSnapshot)
  }

  async function write(userId: string, account: Account | null): Promise<AccountSnapshot | null> {
    const [version, data] = account === null ? [DELETED_VERSION, ''] : [account.version, JSON.stringify(snapshotOf(account))]
    return parse(await redis.writeAccountSnapshot(keys.accountSnapshot(userId), version, data, SNAPSHOT_TTL_SECONDS))
  }

  return {
    async read(userId) {
      const stored = await redis.get(keys.accountSnapshot(userId))
      if (stored !== null) return parse(stored)
      const account = await records.findById(userId)
      // A gone account leaves no trace from a read: its deletion wrote the tombstone.
      return account === null ? null : write(userId, account)
    },

    async refresh(userId) {
      await write(userId, await records.findById(userId))
      await confirmWritten(keys.accountSnapshot(userId))
    },
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    accountSnapshots: AccountSnapshots
  }
}

export interface AccountSnapshotsPluginOptions {
  keys: RedisKeys
  confirmWritten: ReplicationCheck
}

export default fp<AccountSnapshotsPluginOptions>(
  async function accountSnapshotsPlugin(app, options) {
    app.decorate('accountSnapshots', createAccountSnapshots(app.redis, app.db, options))
  },
  { name: 'account-snapshots', dependencies: ['redis', 'database'] },
)
