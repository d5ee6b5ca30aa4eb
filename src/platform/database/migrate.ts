import { DEFAULT_MIGRATION_TABLE, Migrator, sql, type MigrationResultSet } from 'kysely'
import { MIGRATIONS } from './migrations/index.js'
import { prepareJobQueue } from '../job-queue/queue.js'
import type { Database } from './schema.js'

// Numbers that nothing else in the database takes as advisory locks.
const JOB_QUEUE_SETUP_LOCK = 0x6a6f6273
const SCHEMA_MOVE_LOCK = 0x73636d76

/** What versions before 0.5 kept in `public`: the tables migrations 0001 to 0005 created, and Kysely's record of them. */
const TABLES_BEFORE_OWN_SCHEMA = ['kysely_migration', 'kysely_migration_lock', 'users', 'account_tokens']
/** The tables an older instance reads and writes while it serves (its migrator ran at its start). */
const ROLLING_DEPLOY_VIEWS = ['users', 'account_tokens']

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

/** The migrator, with its record of migrations in the service's schema, beside the tables it made. */
function migrator(db: Database, schema: string): Migrator {
  return new Migrator({ db: db.withoutPlugins(), provider: { getMigrations: async () => MIGRATIONS }, migrationTableSchema: schema })
}

/** Whether `schema.table` exists. */
async function tableExists(db: Database, schema: string, table: string): Promise<boolean> {
  const { rows } = await sql<{ found: boolean }>`SELECT to_regclass(${`"${schema}"."${table}"`}) IS NOT NULL AS found`.execute(db)
  return rows[0]?.found === true
}

/** A database a version before 0.5 migrated: its tables and record of migrations are in `public`, ours not yet made. */
async function inPublic(db: Database, schema: string): Promise<boolean> {
  if ((await tableExists(db, schema, DEFAULT_MIGRATION_TABLE)) || !(await tableExists(db, 'public', DEFAULT_MIGRATION_TABLE))) return false
  // A host's own Kysely record in public is not ours: ours names our first migration.
  const { rows } = await sql<{ ours: boolean }>`SELECT EXISTS (SELECT 1 FROM public.kysely_migration WHERE name = '0001-accounts') AS ours`.execute(db)
  return rows[0]?.ours === true
}

/**
 * Moves what versions before 0.5 made in `public` into the service's schema, in one transaction, under a lock: of
 * instances starting together, the first moves and the others find it moved. The rows, indexes and constraints move
 * with their tables. A move is a migration: without `migrate`, a database still to move is refused.
 */
async function moveOutOfPublic(db: Database, { migrate, schema }: { migrate: boolean; schema: string }): Promise<void> {
  await sql`SELECT pg_advisory_lock(${SCHEMA_MOVE_LOCK})`.execute(db)
  try {
    if (!(await inPublic(db, schema))) return
    if (!migrate) throw new SchemaMismatchError(`the service's tables are still in the schema "public" and DATABASE_MIGRATE is off; run "npm run migrate" first to move them to "${schema}"`)
    await db.transaction().execute(async (trx) => {
      await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(trx)
      for (const table of TABLES_BEFORE_OWN_SCHEMA) await sql`ALTER TABLE public.${sql.id(table)} SET SCHEMA ${sql.id(schema)}`.execute(trx)
      // Instances of the older version still serving in a rolling deploy query the plain names: a view of one table
      // takes their reads and writes to the moved one. Drop them once every instance runs this version.
      for (const table of ROLLING_DEPLOY_VIEWS) {
        await sql`CREATE VIEW public.${sql.id(table)} AS SELECT * FROM ${sql.id(schema)}.${sql.id(table)}`.execute(trx)
      }
    })
  } finally {
    await sql`SELECT pg_advisory_unlock(${SCHEMA_MOVE_LOCK})`.execute(db)
  }
}

export async function schemaState(db: Database, schema: string): Promise<SchemaState> {
  const known = await migrator(db, schema).getMigrations()
  const pending = known.filter((migration) => migration.executedAt === undefined).map((migration) => migration.name)
  // Kysely's record of the migrations run is absent before the first.
  if (!(await tableExists(db, schema, DEFAULT_MIGRATION_TABLE))) return { pending, unknown: [] }
  const { rows } = await sql<{ name: string }>`SELECT name FROM ${sql.table(`${schema}.${DEFAULT_MIGRATION_TABLE}`)}`.execute(db.withoutPlugins())
  return { pending, unknown: rows.map((row) => row.name).filter((name) => !(name in MIGRATIONS)) }
}

/**
 * Runs every pending migration, each in its own transaction; Kysely holds a lock meanwhile, so instances that start
 * together run each migration once. Returns the names run.
 */
export async function migrateToLatest(db: Database, schema: string): Promise<string[]> {
  const { error, results }: MigrationResultSet = await migrator(db, schema).migrateToLatest()
  if (error) {
    const failed = results?.find((result) => result.status === 'Error')?.migrationName
    throw new SchemaMismatchError(`migration ${failed ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`)
  }
  return (results ?? []).map((result) => result.migrationName)
}

/**
 * Makes sure the schema is the one this code expects, the job queue's included (`db` with one connection, made by
 * createMigrationDatabase): applies pending migrations when `migrate`, and otherwise refuses to go on. A schema newer
 * than the code always stops it: an older version must not write to it. Everything is in `schema`; a database that
 * a version before 0.5 migrated has its tables moved there first (a migration too: refused when not `migrate`).
 */
export async function prepareSchema(db: Database, { migrate, schema }: { migrate: boolean; schema: string }): Promise<string[]> {
  await moveOutOfPublic(db, { migrate, schema })
  const { pending, unknown } = await schemaState(db, schema)
  if (unknown.length > 0) {
    throw new SchemaMismatchError(`the database schema is newer than this version of the service (it has run ${unknown.join(', ')}); deploy the newer version or restore a matching database`)
  }
  if (pending.length > 0 && !migrate) {
    throw new SchemaMismatchError(`the database schema is behind (${pending.join(', ')} not run) and DATABASE_MIGRATE is off; run "npm run migrate" first`)
  }
  const ran = pending.length > 0 ? await migrateToLatest(db, schema) : []
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
