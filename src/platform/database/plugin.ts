import fp from 'fastify-plugin'
import { sql } from 'kysely'
import type { DatabaseConfig } from '../../config.js'
import { createDatabase, createMigrationDatabase, type Database, type QuerySource } from './connection.js'
import { prepareSchema } from './migrate.js'
import { redactUrl } from '../../lib/redact-url.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** PostgreSQL, where accounts live (see accounts/records.ts). */
    db: Database
    /** The same pool for the job queue's own statements, which the metrics count apart (see QuerySource). */
    queueDb: Database
  }
}

/** Why the first connection failed, when PostgreSQL answered: its SQLSTATE says what to fix. */
export type DatabaseRefusal = 'credentials' | 'passwordMissing' | 'noDatabase' | null

export class DatabaseUnreachableError extends Error {
  override name = 'DatabaseUnreachableError'
  constructor(
    message: string,
    readonly refusal: DatabaseRefusal = null,
  ) {
    super(message)
  }
}

// invalid_authorization_specification (28000), invalid_password (28P01), invalid_catalog_name (3D000). A server that
// asks for a password the URL lacks gets no answer at all: node-postgres gives up before sending one (SCRAM or MD5).
function refusalOf(error: unknown): DatabaseRefusal {
  const { code, message } = error as { code?: unknown; message?: unknown }
  if (typeof message === 'string' && /client password must be a string|^Password must be a string/i.test(message)) return 'passwordMissing'
  if (code === '28P01' || code === '28000') return 'credentials'
  return code === '3D000' ? 'noDatabase' : null
}

/** The start's one line for a first connection that failed. */
function failureOf(refusal: DatabaseRefusal, where: string, reason: string): string {
  if (refusal === null) return `cannot reach PostgreSQL at ${where} (${reason})`
  if (refusal === 'passwordMissing') return `PostgreSQL at ${where} asks for a password, and DATABASE_URL has none`
  return `PostgreSQL at ${where} refused the connection (${reason})`
}

export interface DatabasePluginOptions {
  database: DatabaseConfig
  /** Called with each query's duration, outcome and source. */
  onQuery?: (durationMs: number, failed: boolean, source: QuerySource) => void
}

/**
 * Connects to PostgreSQL once at start (or throws DatabaseUnreachableError, one line), brings the schema up to date
 * or refuses a mismatched one (SchemaMismatchError), and closes the pool with the app.
 */
export default fp<DatabasePluginOptions>(
  async function databasePlugin(app, { database, onQuery }) {
    const { db, queueDb } = createDatabase({ ...database, ...(onQuery && { onQuery }) })
    try {
      await sql`SELECT 1`.execute(db)
    } catch (error) {
      await db.destroy()
      const reason = error instanceof Error ? error.message : String(error)
      const where = redactUrl(database.url, 'DATABASE_URL')
      const refusal = refusalOf(error)
      throw new DatabaseUnreachableError(failureOf(refusal, where, reason), refusal)
    }
    // Migrations may run longer than the statement timeout of requests: their own connection, without it.
    const migrations = createMigrationDatabase(database)
    try {
      const ran = await prepareSchema(migrations, { migrate: database.migrateOnStart, schema: database.schema })
      if (ran.length > 0) app.log.info({ migrations: ran }, 'database schema migrated')
    } catch (error) {
      await db.destroy()
      throw error
    } finally {
      await migrations.destroy()
    }
    app.addHook('onClose', () => db.destroy())
    app.log.info({ database: redactUrl(database.url, 'DATABASE_URL') }, 'database connected')
    app.decorate('db', db)
    app.decorate('queueDb', queueDb)
  },
  { name: 'database' },
)
