import Fastify, { type FastifyInstance } from 'fastify'
import pg from 'pg'
import { sessionService, type AppConfig } from 'redis-session-api'
import { notesRoutes, notesTable } from './notes.ts'

/** The host app: its own Fastify and its own PostgreSQL pool, with the session service mounted in it. */
export async function buildHostApp(config: AppConfig, { logger = false } = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger, trustProxy: config.trustProxy })
  const db = new pg.Pool({ connectionString: config.database.url })
  app.addHook('onClose', () => db.end())
  // The service's routes (/auth, /api, /admin, /health, /docs) and ours, which use its guards and request.user.
  await app.register(sessionService, { config, routes: notesRoutes(db) })
  // Once the service's schema is there: a note refers to its owner's account.
  await db.query(notesTable(config.database.schema))
  return app
}
