/**
 * `npm run migrate`: applies the pending migrations to DATABASE_URL (for deployments that start the service with
 * DATABASE_MIGRATE=false and migrate as a step of their own). Reads only the DATABASE_* variables (and .env).
 */
import { loadDatabaseConfig } from '../config.js'
import { createMigrationDatabase } from '../platform/database/connection.js'
import { prepareSchema } from '../platform/database/migrate.js'
import { redactUrl } from '../lib/redact-url.js'

async function main(): Promise<string> {
  const config = loadDatabaseConfig(process.env, { dotenv: true })
  const db = createMigrationDatabase(config)
  try {
    const ran = await prepareSchema(db, { migrate: true, schema: config.schema })
    const where = redactUrl(config.url, 'DATABASE_URL')
    return ran.length > 0 ? `Applied ${ran.join(', ')} to ${where}.` : `${where} is up to date.`
  } finally {
    await db.destroy()
  }
}

try {
  console.log(await main())
} catch (error) {
  console.error(`Migration failed: ${error instanceof Error ? error.message : String(error)}`)
  process.exitCode = 1
}
