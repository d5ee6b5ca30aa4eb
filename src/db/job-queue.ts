import { CompiledQuery } from 'kysely'
import PgBoss from 'pg-boss'
import type { Database } from './schema.js'

/**
 * pg-boss, the durable job queue (mail), keeps its tables in a schema of its own in the same database, so that a job
 * can be queued in the same transaction as the change it belongs to: both commit or neither does.
 */
export const QUEUE_SCHEMA = 'pgboss'

/** A Kysely database (or transaction) as pg-boss's connection: jobs sent through it belong to its transaction. */
export function queueConnection(db: Database): PgBoss.Db {
  // Without the camelCase plugin: pg-boss reads its rows by its own column names.
  const plain = db.withoutPlugins()
  return { executeSql: (text, values = []) => plain.executeQuery(CompiledQuery.raw(text, values)) }
}

export interface JobQueueOptions {
  /** Runs pg-boss's maintenance (expiring, retrying, archiving jobs) on this instance; instances take turns by lock. */
  supervise: boolean
}

export function createJobQueue(db: Database, { supervise }: JobQueueOptions): PgBoss {
  return new PgBoss({ db: queueConnection(db), schema: QUEUE_SCHEMA, migrate: false, supervise, schedule: false })
}

/**
 * Installs or upgrades pg-boss's schema when `migrate`; otherwise throws when it is missing or behind. pg-boss takes a
 * lock, so instances that start together are safe.
 */
export async function prepareJobQueue(db: Database, { migrate }: { migrate: boolean }): Promise<void> {
  const boss = new PgBoss({ db: queueConnection(db), schema: QUEUE_SCHEMA, migrate, supervise: false, schedule: false })
  try {
    await boss.start()
  } finally {
    await boss.stop({ graceful: false })
  }
}
