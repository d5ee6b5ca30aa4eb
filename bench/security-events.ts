/**
 * What a sign-in's security event costs (docs/security-events.md): the service writes it before the answer, in one
 * transaction (BEGIN, INSERT ... RETURNING, COMMIT), with one pg-boss job per webhook receiver in the same transaction.
 * Timed here on the bench's PostgreSQL, one at a time (the latency a sign-in waits) and four at a time (as the login
 * row sends them), without and with one receiver's delivery queued.
 */
import { randomUUID } from 'node:crypto'
import PgBoss from 'pg-boss'
import { createDatabase, createMigrationDatabase } from '../src/platform/database/connection.js'
import { prepareSchema } from '../src/platform/database/migrate.js'
import type { Database } from '../src/platform/database/schema.js'
import { createJobQueue, queueConnection, WEBHOOK_QUEUE } from '../src/platform/job-queue/queue.js'
import { securityEventStore, type NewSecurityEvent } from '../src/security-events/store.js'
import type { Stores } from './harness.js'

const SCHEMA = 'bench_events'
const WRITES = Number(process.env.BENCH_EVENT_WRITES ?? 2000)
const AT_ONCE = 4

export interface EventCost {
  name: string
  /** Statements per event, as PostgreSQL receives them. */
  statements: number
  p50Ms: number
  p99Ms: number
  /** Events written per second, AT_ONCE at a time. */
  perSecond: number
}

/** A sign-in's event as the service writes it: a browser's, with its details. */
const signIn = (userId: string): NewSecurityEvent => ({
  type: 'login',
  userId,
  actorType: 'user',
  actorId: userId,
  address: '203.0.113.9',
  userAgent: 'Firefox 133 on Linux',
  session: 'kq3V0d9cO4c6mZQ0bq7xq4v3m2Vn0v1n7C1o8V5yN3A',
  details: { transport: 'cookie', remember: false, authMethod: 'password', newDevice: false },
})

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

async function timed(name: string, statements: number, write: () => Promise<unknown>): Promise<EventCost> {
  for (let i = 0; i < 200; i++) await write()
  const latencies: number[] = []
  for (let i = 0; i < WRITES; i++) {
    const started = performance.now()
    await write()
    latencies.push(performance.now() - started)
  }
  latencies.sort((a, b) => a - b)
  const started = performance.now()
  let next = 0
  await Promise.all(Array.from({ length: AT_ONCE }, async () => {
    while (next++ < WRITES) await write()
  }))
  return { name, statements, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99), perSecond: WRITES / ((performance.now() - started) / 1000) }
}

export async function securityEventCost({ postgres }: Stores): Promise<EventCost[]> {
  console.error('measuring the cost of a security event')
  const url = await postgres.createDatabase('events')
  const migrations = createMigrationDatabase({ url, schema: SCHEMA })
  await prepareSchema(migrations, { migrate: true, schema: SCHEMA })
  await migrations.destroy()
  const { db } = createDatabase({ url, poolSize: AT_ONCE + 2, statementTimeoutMs: 2000, schema: SCHEMA })
  const store = securityEventStore(db, SCHEMA)
  await store.preparePartitions(new Date())
  const boss: PgBoss = createJobQueue(db, { supervise: false })
  await boss.start()
  try {
    const userId = randomUUID()
    const inTransaction = (alongside: (trx: Database) => Promise<unknown>) => db.transaction().execute(async (trx) => {
      const [stored] = await store.append([signIn(userId)], trx)
      await alongside(trx)
      return stored
    })
    return [
      await timed('the event alone (BEGIN, INSERT, COMMIT)', 3, () => inTransaction(async () => {})),
      await timed('the event and one webhook delivery queued', 4, () => inTransaction((trx) =>
        boss.insert([{ name: WEBHOOK_QUEUE, data: { url: 'http://receiver.test/', id: 'evt_1' } }], { db: queueConnection(trx) }))),
    ]
  } finally {
    await boss.stop({ graceful: false })
    await db.destroy()
  }
}

export function eventCostTable(costs: EventCost[], login: { p50Ms: number; databaseQueriesPerRequest: number | null } | undefined): string {
  const share = (ms: number) => (login ? `${((ms / login.p50Ms) * 100).toFixed(2)}%` : '')
  return [
    `| a sign-in's security event (${WRITES} writes) | statements | p50 ms | p99 ms | events/s, ${AT_ONCE} at once | p50 as a share of a sign-in's p50 |`,
    '|---|---:|---:|---:|---:|---:|',
    ...costs.map((cost) => `| ${cost.name} | ${cost.statements} | ${cost.p50Ms.toFixed(2)} | ${cost.p99Ms.toFixed(2)} | ${cost.perSecond.toFixed(0)} | ${share(cost.p50Ms)} |`),
    ...(login ? [`| for scale: POST /auth/login (the hot-path row) | ${login.databaseQueriesPerRequest?.toFixed(2) ?? '–'} | ${login.p50Ms.toFixed(1)} | | | |`] : []),
  ].join('\n')
}
