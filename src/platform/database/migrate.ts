import { DEFAULT_MIGRATION_TABLE, Migrator, sql, type MigrationResultSet } from 'kysely'
import { MIGRATIONS } from './migrations/index.js'
import { prepareJobQueue } from '../job-queue/queue.js'
import type { Database } from './schema.js'

// Any number that nothing else in the database takes as an advisory lock.
const JOB_QUEUE_SETUP_LOCK = 0x6a6f6273

/** The database's schema does not match this version of the code; the message says what to do. */
export class SchemaMismatchError extends Error {
  override name = 'SchemaMismatchError'
}

export interface SchemaState {
  /** Migrations this code has that the database has not run. */
  pending: string[]
  /** Migrations the database has run that this code does not know: it was migrated by a newer version. */
  unknown: string[]
}

function migrator(db: Database): Migrator {
  return new Migrator({ db: db.withoutPlugins(), provider: { getMigrations: async () => MIGRATIONS } })
}

export async function schemaState(db: Database): Promise<SchemaState> {
  const known = await migrator(db).getMigrations()
  // Kysely's own names, not camelCased.
  const plain = db.withoutPlugins()
  const pending = known.filter((migration) => migration.executedAt === undefined).map((migration) => migration.name)
  // Kysely's record of the migrations run is absent before the first.
  const tables = await plain.introspection.getTables({ withInternalKyselyTables: true })
  if (!tables.some((table) => table.name === DEFAULT_MIGRATION_TABLE)) return { pending, unknown: [] }
  const { rows } = await sql<{ name: string }>`SELECT name FROM ${sql.table(DEFAULT_MIGRATION_TABLE)}`.execute(plain)
  return { pending, unknown: rows.map((row) => row.name).filter((name) => !(name in MIGRATIONS)) }
}

/**
 * Runs every pending migration, each in its own transaction; Kysely holds a lock meanwhile, so instances that start
 * together run each migration once. Returns the names run.
 */
export async function migrateToLatest(db: Database): Promise<string[]> {
  const { error, results }: MigrationResultSet = await migrator(db).migrateToLatest()
  if (error) {
    const failed = results?.find((result) => result.status === 'Error')?.migrationName
    throw new SchemaMismatchError(`migration ${failed ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`)
  }
  return (results ?? []).map((result) => result.migrationName)
}

/**
 * Makes sure the schema is the one this code expects, the job queue's included (`db` with one connection): applies
 * pending migrations when `migrate`, and otherwise refuses to go on. A schema newer than the code always stops it: an
 * older version must not write to it.
 */
export async function prepareSchema(db: Database, { migrate }: { migrate: boolean }): Promise<string[]> {
  const { pending, unknown } = await schemaState(db)
  if (unknown.length > 0) {
    throw new SchemaMismatchError(`the database schema is newer than this version of the service (it has run ${unknown.join(', ')}); deploy the newer version or restore a matching database`)
  }
  if (pending.length > 0 && !migrate) {
    throw new SchemaMismatchError(`the database schema is behind (${pending.join(', ')} not run) and DATABASE_MIGRATE is off; run "npm run migrate" first`)
  }
  const ran = pending.length > 0 ? await migrateToLatest(db) : []
  // pg-boss's own lock does not cover creating its schema: two instances starting on an empty database would both
  // try. `db` has a single connection (see the database plugin), so the lock and the work share a session.
  await sql`SELECT pg_advisory_lock(${JOB_QUEUE_SETUP_LOCK})`.execute(db)
  try {
    await prepareJobQueue(db, { migrate })
  } catch (error) {
    if (migrate) throw error
    const reason = error instanceof Error ? error.message : String(error)
    throw new SchemaMismatchError(`the job queue's schema is not ready (${reason}) and DATABASE_MIGRATE is off; run "npm run migrate" first`)
  } finally {
    await sql`SELECT pg_advisory_unlock(${JOB_QUEUE_SETUP_LOCK})`.execute(db)
  }
  return ran
}
