import { setTimeout as delay } from 'node:timers/promises'
import { CompiledQuery } from 'kysely'
import PgBoss from 'pg-boss'
import type { Database } from '../database/schema.js'

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

/** Mail waiting for delivery (accounts/mail.ts). */
export const MAIL_QUEUE = 'mail'
/** Where a mail goes after its last attempt failed: kept for operators (docs/operations.md), never retried by itself. */
export const DEAD_MAIL_QUEUE = 'mail.dead'
/** Requests that may lead to a mail, looked into off the request path (lifecycle/recovery.ts). */
export const INTENT_QUEUE = 'account-mail'

/** Security events waiting for delivery to WEBHOOK_URL (security-events/webhooks.ts). */
export const WEBHOOK_QUEUE = 'webhook'
/** Where a delivery goes after its last attempt failed: kept for operators, never retried by itself. */
export const DEAD_WEBHOOK_QUEUE = 'webhook.dead'

/**
 * Every queue, created with the schema (two instances creating one at once can deadlock in pg-boss). Retries and
 * expiry are set per job, where the configuration is known.
 */
const QUEUES: PgBoss.Queue[] = [
  { name: DEAD_MAIL_QUEUE, retentionDays: 30 },
  { name: MAIL_QUEUE },
  { name: INTENT_QUEUE },
  { name: DEAD_WEBHOOK_QUEUE, retentionDays: 30 },
  { name: WEBHOOK_QUEUE },
]

/**
 * Installs or upgrades pg-boss's schema and creates the queues when `migrate`; otherwise throws when any is missing or
 * behind. The caller serializes instances (database/migrate.ts).
 */
export async function prepareJobQueue(db: Database, { migrate }: { migrate: boolean }): Promise<void> {
  const boss = new PgBoss({ db: queueConnection(db), schema: QUEUE_SCHEMA, migrate, supervise: false, schedule: false })
  try {
    await boss.start()
    for (const queue of QUEUES) {
      if (await boss.getQueue(queue.name)) continue
      if (!migrate) throw new Error(`queue ${queue.name} missing`)
      await boss.createQueue(queue.name, queue)
    }
  } finally {
    await boss.stop({ graceful: false })
  }
}

/** How often an idle worker asks the queue for work (a woken one asks at once). */
export const POLL_SECONDS = 1
/** Workers per queue and instance: each takes one job at a time, so one slow mail server holds up no more than one. */
export const WORKERS_PER_QUEUE = 4

/** A queue's workers on this instance. */
export interface Workers {
  /** Makes idle workers look for jobs now (after queueing one here) rather than at their next poll. */
  wake(): void
  /** Lets each worker finish the job in its hands, then stops them (before the database closes). */
  stop(): Promise<void>
}

export interface WorkerEvents {
  /** A statement of the queue itself failed (PostgreSQL down): the workers go on polling. */
  onQueueError(error: unknown): void
}

/** A job's retries: MAIL_RETRY_LIMIT more attempts, after MAIL_RETRY_DELAY_SECONDS doubling each time. */
export function retryOptions({ retryLimit, retryDelaySeconds }: { retryLimit: number; retryDelaySeconds: number }): PgBoss.RetryOptions {
  return { retryLimit, retryDelay: retryDelaySeconds, retryBackoff: true }
}

// Completing a job that was done is retried for a while: a job left active would be attempted again once it expires
// (a mail sent twice).
const COMPLETE_ATTEMPTS = 10
const COMPLETE_RETRY_MS = 1000

/**
 * Starts WORKERS_PER_QUEUE workers on `queue`, each fetching one job at a time and completing it when `handle`
 * resolves, failing it (to be retried) when it throws. pg-boss 10's own work() does the same but does not await its
 * complete and fail statements: one failing while PostgreSQL is down is an unhandled rejection, which ends the process
 * (pg-boss 11, which awaits them, needs Node 22). So this loop uses pg-boss's fetch, complete and fail itself.
 */
export function startWorkers<Data extends object>(
  boss: PgBoss,
  queue: string,
  handle: (job: PgBoss.JobWithMetadata<Data>) => Promise<void>,
  { onQueueError }: WorkerEvents,
): Workers {
  let stopping = false
  const sleeps = new Set<AbortController>()

  async function pause(ms: number): Promise<void> {
    const sleep = new AbortController()
    sleeps.add(sleep)
    await delay(ms, undefined, { signal: sleep.signal }).catch(() => {})
    sleeps.delete(sleep)
  }

  async function complete(id: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await boss.complete(queue, id)
      } catch (error) {
        onQueueError(error)
        if (attempt === COMPLETE_ATTEMPTS || stopping) return
        await pause(COMPLETE_RETRY_MS)
      }
    }
  }

  async function work(): Promise<void> {
    while (!stopping) {
      let job: PgBoss.JobWithMetadata<Data> | undefined
      try {
        ;[job] = await boss.fetch<Data>(queue, { includeMetadata: true, batchSize: 1 })
      } catch (error) {
        onQueueError(error)
      }
      if (job === undefined) {
        await pause(POLL_SECONDS * 1000)
        continue
      }
      try {
        await handle(job)
      } catch (error) {
        await boss.fail(queue, job.id, { message: error instanceof Error ? error.message : String(error) }).catch(onQueueError)
        continue
      }
      await complete(job.id)
    }
  }

  const loops = Array.from({ length: WORKERS_PER_QUEUE }, () => work())
  const wake = () => sleeps.forEach((sleep) => sleep.abort())
  return {
    wake,
    async stop() {
      stopping = true
      wake()
      await Promise.all(loops)
    },
  }
}
