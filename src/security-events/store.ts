import { sql, type Expression, type Selectable, type SqlBool } from 'kysely'
import type { ActorType, Database, SecurityEventsTable } from '../platform/database/schema.js'
import type { SecurityEventType } from './events.js'

/**
 * The `security_events` table (migration 0007) and its monthly partitions: the only code that reads or writes them.
 *
 * Invariants:
 * - Append-only: no UPDATE, DELETE or TRUNCATE succeeds on any partition, whoever runs it (triggers that raise, set on
 *   each partition as it is made and enabled ALWAYS). Events older than the retention leave with their month's
 *   partition, dropped whole once its last day is older than the retention: an event is kept at least as long as
 *   the retention and at most a month longer.
 * - Partitions exist ahead of the clock (PARTITION_MONTHS_AHEAD): `preparePartitions` runs at every start and with
 *   the daily retention pass, under an advisory lock, so instances doing it at once make each partition once.
 * - Newest first is highest id first: ids come from one sequence, in the order events were written. A page is the
 *   events below a cursor id, so paging while events are written shows every event older than the first page
 *   once (new ones land above the cursor).
 */

/** A row as it is read (the table's columns: platform/database/schema.ts). */
type Row = Selectable<SecurityEventsTable>

/** An event as it is written: `userId` null when no account is known. */
export interface NewSecurityEvent extends Omit<Row, 'id' | 'occurredAt' | 'type'> {
  type: SecurityEventType
  /** A name to find the account by when `userId` is null (looked up in the same statement); never stored itself. */
  username?: string
}

/** An event as it is read. */
export interface SecurityEvent extends Omit<Row, 'type' | 'actorType' | 'actorId'> {
  type: SecurityEventType
  actor: { type: ActorType; id: string | null }
}

export interface SecurityEventFilter {
  userId?: string
  types?: readonly string[]
  /** An address, or a network in CIDR form (`203.0.113.0/24`). */
  address?: string
  from?: Date
  to?: Date
  /** Only events older than this id (the previous page's last). */
  before?: string
}

/** Months of partitions made ahead of the current one. */
export const PARTITION_MONTHS_AHEAD = 2

// Any number will do, as long as nothing else in the database takes the same advisory lock.
const PARTITION_LOCK = 7_340_226_982

const TABLE = 'security_events'

/** The first instant of the month `offset` months after the month of `at` (UTC). */
const monthStart = (at: Date, offset = 0) => new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + offset, 1))
const partitionName = (month: Date) => `${TABLE}_${month.toISOString().slice(0, 7).replace('-', '_')}`
const PARTITION_NAME = /^security_events_(\d{4})_(\d{2})$/

const toEvent = ({ actorType, actorId, type, ...row }: Row): SecurityEvent => ({
  ...row,
  type: type as SecurityEventType,
  actor: { type: actorType, id: actorId },
})

export interface SecurityEventStore {
  /** Writes events in one statement (within a transaction when given) and answers them as stored. */
  append(events: readonly NewSecurityEvent[], within?: Database): Promise<SecurityEvent[]>
  /** Up to `limit` events matching `filter`, newest first. */
  page(filter: SecurityEventFilter, limit: number): Promise<SecurityEvent[]>
  /** Makes the partitions from the month of `from` (default: now) to PARTITION_MONTHS_AHEAD months after now. */
  preparePartitions(now: Date, from?: Date): Promise<void>
  /** Drops the partitions whose every event is older than `retentionDays` before `now`: the names dropped. */
  dropExpired(retentionDays: number, now: Date): Promise<string[]>
}

export function securityEventStore(db: Database, schema: string): SecurityEventStore {
  const qualified = (name: string) => sql.id(schema, name)

  async function makePartition(trx: Database, month: Date): Promise<void> {
    const name = partitionName(month)
    const { rows } = await sql<{ found: boolean }>`SELECT to_regclass(${`"${schema}"."${name}"`}) IS NOT NULL AS found`.execute(trx)
    if (rows[0]?.found) return
    const [from, to] = [month.toISOString(), monthStart(month, 1).toISOString()]
    await sql`CREATE TABLE ${qualified(name)} PARTITION OF ${qualified(TABLE)} FOR VALUES FROM (${sql.lit(from)}) TO (${sql.lit(to)})`.execute(trx)
    const refuse = sql`EXECUTE FUNCTION ${qualified('security_events_refuse_change')}()`
    await sql`CREATE TRIGGER refuse_change BEFORE UPDATE OR DELETE ON ${qualified(name)} FOR EACH ROW ${refuse}`.execute(trx)
    await sql`CREATE TRIGGER refuse_truncate BEFORE TRUNCATE ON ${qualified(name)} FOR EACH STATEMENT ${refuse}`.execute(trx)
    await sql`ALTER TABLE ${qualified(name)} ENABLE ALWAYS TRIGGER refuse_change, ENABLE ALWAYS TRIGGER refuse_truncate`.execute(trx)
  }

  async function partitions(trx: Database): Promise<string[]> {
    const { rows } = await sql<{ name: string }>`
      SELECT child.relname AS name FROM pg_inherits
      JOIN pg_class child ON child.oid = pg_inherits.inhrelid
      WHERE pg_inherits.inhparent = to_regclass(${`"${schema}"."${TABLE}"`})
    `.execute(trx)
    return rows.map((row) => row.name)
  }

  function matching(filter: SecurityEventFilter) {
    let query = db.selectFrom('securityEvents').selectAll()
    if (filter.userId !== undefined) query = query.where('userId', '=', filter.userId)
    if (filter.types !== undefined && filter.types.length > 0) query = query.where('type', 'in', filter.types)
    if (filter.address !== undefined) query = query.where((eb) => sql<SqlBool>`${eb.ref('address')} <<= ${filter.address}::inet` as Expression<SqlBool>)
    if (filter.from !== undefined) query = query.where('occurredAt', '>=', filter.from)
    if (filter.to !== undefined) query = query.where('occurredAt', '<', filter.to)
    if (filter.before !== undefined) query = query.where('id', '<', filter.before)
    return query
  }

  return {
    async append(events, within = db) {
      if (events.length === 0) return []
      const rows = await within
        .insertInto('securityEvents')
        .values(events.map((event) => ({
          type: event.type,
          userId: event.userId ?? (event.username === undefined
            ? null
            : sql<string | null>`(SELECT id FROM ${qualified('users')} WHERE lower(username) = ${event.username.toLowerCase()})`),
          actorType: event.actorType,
          actorId: event.actorId,
          address: event.address,
          userAgent: event.userAgent,
          session: event.session,
          details: JSON.stringify(event.details),
        })))
        .returningAll()
        .execute()
      return rows.map(toEvent)
    },

    async page(filter, limit) {
      const rows = await matching(filter).orderBy('id', 'desc').limit(limit).execute()
      return rows.map(toEvent)
    },

    async preparePartitions(now, from = now) {
      await db.transaction().execute(async (trx) => {
        await sql`SELECT pg_advisory_xact_lock(${PARTITION_LOCK})`.execute(trx)
        for (let month = monthStart(from); month <= monthStart(now, PARTITION_MONTHS_AHEAD); month = monthStart(month, 1)) {
          await makePartition(trx, month)
        }
      })
    },

    async dropExpired(retentionDays, now) {
      const keepFrom = now.getTime() - retentionDays * 86_400_000
      return db.transaction().execute(async (trx) => {
        await sql`SELECT pg_advisory_xact_lock(${PARTITION_LOCK})`.execute(trx)
        const dropped: string[] = []
        for (const name of await partitions(trx)) {
          const match = PARTITION_NAME.exec(name)
          if (match === null) continue
          const end = Date.UTC(Number(match[1]), Number(match[2]), 1)
          if (end > keepFrom) continue
          // DROP, not DELETE: the rows leave with their table, which the triggers do not stop (they guard rows).
          await sql`DROP TABLE ${qualified(name)}`.execute(trx)
          dropped.push(name)
        }
        return dropped
      })
    },
  }
}
