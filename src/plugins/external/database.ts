import fp from 'fastify-plugin'
import { sql } from 'kysely'
import type { DatabaseConfig } from '../../config.js'
import { createDatabase, type Database } from '../../db/database.js'
import { prepareSchema } from '../../db/migrate.js'
import { redactUrl } from '../../lib/redact-url.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** PostgreSQL, where accounts live (see lib/user-records.ts). */
    db: Database
  }
}

export class DatabaseUnreachableError extends Error {
  override name = 'DatabaseUnreachableError'
}

export interface DatabasePluginOptions {
  database: DatabaseConfig
  /** Called with each query's duration and outcome. */
  onQuery?: (durationMs: number, failed: boolean) => void
}

/**
 * Connects to PostgreSQL once at start (or throws DatabaseUnreachableError, one line), brings the schema up to date
 * or refuses a mismatched one (SchemaMismatchError), and closes the pool with the app.
 */
export default fp<DatabasePluginOptions>(
  async function databasePlugin(app, { database, onQuery }) {
    const { db } = createDatabase({ ...database, ...(onQuery && { onQuery }) })
    try {
      await sql`SELECT 1`.execute(db)
    } catch (error) {
      await db.destroy()
      const reason = error instanceof Error ? error.message : String(error)
      throw new DatabaseUnreachableError(`cannot reach PostgreSQL at ${redactUrl(database.url, 'DATABASE_URL')} (${reason})`)
    }
    // Migrations may run longer than the statement timeout of requests: their own connection, without it.
    const { db: migrations } = createDatabase({ ...database, poolSize: 1, statementTimeoutMs: 0 })
    try {
      const ran = await prepareSchema(migrations, { migrate: database.migrateOnStart })
      if (ran.length > 0) app.log.info({ migrations: ran }, 'database schema migrated')
    } catch (error) {
      await db.destroy()
      throw error
    } finally {
      await migrations.destroy()
    }
    app.addHook('onClose', () => db.destroy())
    app.decorate('db', db)
  },
  { name: 'database' },
)
