import fp from 'fastify-plugin'
import type PgBoss from 'pg-boss'
import { createJobQueue } from './queue.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** pg-boss on the accounts' PostgreSQL: durable jobs with retries (mail). Its schema is ready (database plugin). */
    jobs: PgBoss
    /** Logs a failed statement of the queue (PostgreSQL down): polling and maintenance go on and recover by themselves. */
    jobQueueFailed(error: unknown): void
  }
}

/**
 * Starts pg-boss on the app's database pool, so queue statements fail fast like every query (and an outage answers
 * 503), and stops it with the app (after the plugins that run workers have stopped them: see startWorkers).
 */
export default fp(
  async function jobQueuePlugin(app) {
    const boss = createJobQueue(app.queueDb, { supervise: true })
    // Polling and maintenance fail while PostgreSQL is down and resume by themselves: an operator's warning, not a crash.
    const failed = (error: unknown) => app.log.warn({ err: error }, 'job queue: PostgreSQL statement failed')
    boss.on('error', failed)
    app.decorate('jobQueueFailed', failed)
    await boss.start()
    app.addHook('onClose', () => boss.stop({ graceful: true, timeout: STOP_TIMEOUT_MS }))
    app.decorate('jobs', boss)
  },
  { name: 'job-queue', dependencies: ['database'] },
)

const STOP_TIMEOUT_MS = 5000
