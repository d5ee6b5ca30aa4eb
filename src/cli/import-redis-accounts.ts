/**
 * `npm run accounts:import-redis`: copies the accounts that versions before PostgreSQL kept in Redis (one hash per
 * user under REDIS_PREFIX + "user:") into PostgreSQL, with their ids, creation times, password hashes, roles, login
 * epochs, second factors and recovery codes, so that every user logs in after the upgrade as before. It reads the
 * service's own configuration (REDIS_*, DATABASE_URL, .env) and brings the schema up to date first.
 *
 * Safe to run again and while the new version serves: an account already in PostgreSQL is never overwritten (it is
 * the newer one once the new version serves), and the Redis hashes are left as they are. The summary names the
 * accounts it could not copy: a name now held by another account, or an account changed on one side since.
 */
import { loadConfig } from '../config.js'
import { createDatabase, createMigrationDatabase } from '../platform/database/connection.js'
import { prepareSchema } from '../platform/database/migrate.js'
import { redisKeys } from '../lib/keys.js'
import { scanKeys } from '../platform/redis/client.js'
import type { AccountCopy, CopyOutcome } from '../accounts/account.js'
import { userRecords } from '../accounts/records.js'
import { closeRedis, connectRedis } from '../platform/redis/plugin.js'

const RECOVERY_FIELD_PREFIX = 'recovery:'

/** An account in the layout versions before PostgreSQL stored in Redis; null for a hash that is not one. */
function legacyAccount(stored: Record<string, string>): AccountCopy | null {
  const { id, username, roles, createdAt, passwordHash, loginEpoch, totpSecret, totpEnabledAt, totpLastStep } = stored
  if (!id || !username || roles === undefined || !createdAt || !passwordHash) return null
  const recoveryCodeHashes = Object.keys(stored)
    .filter((field) => field.startsWith(RECOVERY_FIELD_PREFIX))
    .map((field) => field.slice(RECOVERY_FIELD_PREFIX.length))
  return {
    user: { id, username, roles: roles.split(',').filter(Boolean), createdAt },
    passwordHash,
    loginEpoch: Number(loginEpoch ?? 0),
    totp: totpSecret === undefined
      ? null
      : { secret: totpSecret, enabledAt: Number(totpEnabledAt), lastStep: totpLastStep === undefined ? null : Number(totpLastStep), recoveryCodeHashes },
  }
}

async function main(): Promise<void> {
  const config = loadConfig(process.env, { dotenv: true })
  const redis = await connectRedis(config.redis.connection)
  const { db } = createDatabase({ ...config.database, poolSize: 1, statementTimeoutMs: 0 })
  const migrations = createMigrationDatabase(config.database)
  try {
    await prepareSchema(migrations, { migrate: config.database.migrateOnStart, schema: config.database.schema }).finally(() => migrations.destroy())
    const records = userRecords(db)
    const tally: Record<CopyOutcome | 'unreadable', number> = { copied: 0, present: 0, changed: 0, nameTaken: 0, unreadable: 0 }
    const notCopied: string[] = []
    for await (const { key, node } of scanKeys(redis, redisKeys(config.redis.prefix).user('*'), 'hash')) {
      const account = legacyAccount(await node.hgetall(key))
      if (!account) {
        tally.unreadable++
        continue
      }
      const outcome = await records.copyIn(account)
      tally[outcome]++
      if (outcome === 'changed') notCopied.push(`${account.user.username} (changed since it was copied; PostgreSQL's version kept)`)
      if (outcome === 'nameTaken') notCopied.push(`${account.user.username} (the name belongs to another account in PostgreSQL)`)
    }
    console.log(
      `Accounts in Redis: ${tally.copied} copied, ${tally.present} already in PostgreSQL, ${tally.changed} changed since, `
      + `${tally.nameTaken} with a name taken, ${tally.unreadable} unreadable hashes skipped.`,
    )
    for (const line of notCopied) console.log(`not copied: ${line}`)
  } finally {
    await db.destroy()
    await closeRedis(redis)
  }
}

try {
  await main()
} catch (error) {
  console.error(`Import failed: ${error instanceof Error ? error.message : String(error)}`)
  process.exitCode = 1
}
