import Fastify, { type FastifyInstance } from 'fastify'
import pg from 'pg'
import { sessionService, type AppConfig } from 'redis-session-api'
import { NOTES_TABLE, notesRoutes } from './notes.ts'

/** The host app: its own Fastify and its own PostgreSQL pool, with the session service mounted in it. */
export async function buildHostApp(config: AppConfig, { logger = false } = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger, trustProxy: config.trustProxy })
  const db = new pg.Pool({ connectionString: config.database.url })
  app.addHook('onClose', () => db.end())
  await db.query(NOTES_TABLE)
  // The service's routes (/auth, /api, /admin, /health, /docs) and ours, which use its guards and request.user.
  await app.register(sessionService, { config, routes: notesRoutes(db) })
  return app
}
