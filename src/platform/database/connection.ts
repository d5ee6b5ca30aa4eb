import { CamelCasePlugin, Kysely, PostgresDialect, type KyselyConfig, type PostgresPool, type PostgresPoolClient } from 'kysely'
import pg from 'pg'
import type { Tables, Database } from './schema.js'

export type { Database } from './schema.js'

/** A connection that takes longer than this fails, so no request waits on an unreachable database. */
export const CONNECT_TIMEOUT_MS = 500
/** A hung server cannot cancel a statement itself: the client gives up this long after the statement timeout. */
const CLIENT_TIMEOUT_MARGIN_MS = 500

/**
 * Whose statement a query is, in the metrics: the service's (requests, and the work jobs do), or the job queue's own
 * (polling for jobs, completing them, maintenance), which an idle instance sends several times a second.
 */
export type QuerySource = 'service' | 'queue'

export interface DatabaseOptions {
  url: string
  poolSize: number
  /** 0: none (migrations may run long). */
  statementTimeoutMs: number
  /** Called with each query's duration, outcome and source (metrics). */
  onQuery?: (durationMs: number, failed: boolean, source: QuerySource) => void
  /** The schema of the service's tables: every table a query names is qualified with it. */
  schema?: string
}

/**
 * A pool that fails fast, like the Redis client: connecting gives up after CONNECT_TIMEOUT_MS (waiting for a free
 * connection too), a statement after the statement timeout; a dead connection is dropped and the next query opens
 * a new one, so the service recovers by itself when PostgreSQL returns.
 */
export function createDatabase({ url, poolSize, statementTimeoutMs, onQuery, schema }: DatabaseOptions): { db: Database; queueDb: Database; pool: pg.Pool } {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    application_name: 'redis-session-api',
    ...(statementTimeoutMs > 0 && { statement_timeout: statementTimeoutMs, query_timeout: statementTimeoutMs + CLIENT_TIMEOUT_MARGIN_MS }),
  })
  // An idle connection that PostgreSQL closes (a restart, a failover) is dropped by the pool; without a listener the
  // error would end the process.
  pool.on('error', () => {})
  const dialect = new PostgresDialect({ pool: markingFailures(pool) })
  const loggedAs = (source: QuerySource): Pick<KyselyConfig, 'log'> =>
    onQuery ? { log: (event) => onQuery(event.queryDurationMillis, event.level === 'error', source) } : {}
  const db = new Kysely<Tables>({ dialect, plugins: [new CamelCasePlugin()], ...loggedAs('service') })
  // The job queue's own statements, on the same pool, counted apart from the service's. Closed with `db`, which ends
  // the pool; without the camelCase plugin, as pg-boss reads its rows by its own column names.
  const queueDb = new Kysely<Tables>({ dialect, ...loggedAs('queue') })
  // Qualified by the query builder rather than by a search_path, which a pooler in transaction mode would not keep.
  return { db: schema === undefined ? db : db.withSchema(schema), queueDb, pool }
}

/**
 * The one connection that migrates: no statement timeout (a migration may run long), and the service's schema first
 * on its search_path, so that the migrations' plain table names (they were written before the schema) land there.
 */
export function createMigrationDatabase({ url, schema }: { url: string; schema: string }): Database {
  const { db, pool } = createDatabase({ url, poolSize: 1, statementTimeoutMs: 0 })
  // Queued on the new connection before anything the pool hands it out for; a schema that is not there yet is
  // skipped by PostgreSQL, and the migrator creates it before the first migration runs.
  pool.on('connect', (client) => void client.query(`SET search_path TO "${schema}"`).catch(() => {}))
  return db
}

const ignoreLostConnection = () => {}

/** Errors of the driver itself (refused, lost or timed-out connections), as opposed to the server's answers. */
const driverFailures = new WeakSet<Error>()

function markDriverFailure(error: unknown): never {
  if (error instanceof Error && !(error instanceof pg.DatabaseError)) driverFailures.add(error)
  throw error
}

/**
 * The pool as Kysely uses it, with every failure that is not an answer from the server marked, so that an outage is
 * told from a bug by what failed rather than by the wording of node-postgres's messages.
 */
function markingFailures(pool: pg.Pool): PostgresPool {
  return {
    async connect() {
      const client = await pool.connect().catch(markDriverFailure)
      // A connection lost while it is checked out (a statement running, a transaction between two) is reported to the
      // statement and also as an 'error' event on the client, which the pool listens for only while it is idle: unheard,
      // that event would end the process. The statement's failure says it all; the pool drops the broken client.
      client.on('error', ignoreLostConnection)
      const marked = {
        query: (sql: string, parameters: readonly unknown[]) => client.query(sql, [...parameters]).catch(markDriverFailure),
        release: (destroy?: boolean) => {
          client.off('error', ignoreLostConnection)
          client.release(destroy)
        },
      }
      // Without the cursor form of query: the service never streams a result.
      return marked as unknown as PostgresPoolClient
    },
    end: () => pool.end(),
  }
}

// SQLSTATE classes that mean the database cannot serve now, not that the request is wrong: connection exceptions
// (08), insufficient resources (53), operator intervention (57: shutdown, cannot connect now, statement timeout).
const OUTAGE_SQLSTATE = /^(08|53|57)/

/** True for an error that says PostgreSQL is down or overloaded: the request may succeed later (503, not 500). */
export function isDatabaseOutage(error: unknown): boolean {
  if (error instanceof pg.DatabaseError) return OUTAGE_SQLSTATE.test(error.code ?? '')
  return error instanceof Error && driverFailures.has(error)
}
