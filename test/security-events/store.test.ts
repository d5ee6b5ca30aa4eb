import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import t from 'tap'
import type { NewSecurityEvent } from '../../src/security-events/store.js'
import { build, type App } from '../support/helper.js'

// The table itself: append-only whoever asks, kept for the retention and no longer, paged without gaps or repeats.

const DAY = 86_400_000

const eventOf = (userId: string, overrides: Partial<NewSecurityEvent> = {}): NewSecurityEvent => ({
  type: 'login',
  userId,
  actorType: 'user',
  actorId: userId,
  address: '198.51.100.7',
  userAgent: 'Firefox 133 on Linux',
  session: null,
  details: {},
  ...overrides,
})

/** What PostgreSQL answers a statement: 'ok', or its SQLSTATE. */
async function outcome(app: App, statement: ReturnType<typeof sql>): Promise<string> {
  try {
    await statement.execute(app.db)
    return 'ok'
  } catch (error) {
    return (error as { code?: string }).code ?? String(error)
  }
}

t.test('no UPDATE, DELETE or TRUNCATE succeeds, for a superuser and with replication triggers off', async (t) => {
  const app = await build(t)
  const { store } = app.securityEvents
  const userId = randomUUID()
  await store.append([eventOf(userId)])
  const { rows } = await sql<{ superuser: boolean }>`SELECT rolsuper AS superuser FROM pg_roles WHERE rolname = current_user`.execute(app.db)
  t.equal(rows[0]?.superuser, true, 'the service connects as a superuser here: a REVOKE would not bind it')
  const table = sql.id('redis_session_api', 'security_events')
  for (const replica of [false, true]) {
    const tried = async (statement: ReturnType<typeof sql>) =>
      app.db.connection().execute(async (connection) => {
        if (replica) await sql`SET session_replication_role = replica`.execute(connection)
        try {
          await statement.execute(connection)
          return 'ok'
        } catch (error) {
          return (error as { code?: string }).code
        } finally {
          await sql`RESET session_replication_role`.execute(connection)
        }
      })
    const label = replica ? ' (session_replication_role = replica)' : ''
    t.equal(await tried(sql`UPDATE ${table} SET type = 'logout'`), '42501', `UPDATE refused${label}`)
    t.equal(await tried(sql`DELETE FROM ${table}`), '42501', `DELETE refused${label}`)
    t.equal(await tried(sql`TRUNCATE ${table}`), '42501', `TRUNCATE refused${label}`)
  }
  t.equal((await store.page({ userId }, 10)).length, 1, 'the event is still there, unchanged')
  t.equal((await store.page({ userId }, 10))[0]?.type, 'login')
  t.equal(await outcome(app, sql`INSERT INTO ${table} (type, actor_type) VALUES ('logout', 'system')`), 'ok', 'appending still works')
})

t.test('the retention pass drops whole months older than the setting, and nothing younger', async (t) => {
  const app = await build(t)
  const { store } = app.securityEvents
  const now = new Date()
  await store.preparePartitions(now, new Date(now.getTime() - 800 * DAY))
  const userId = randomUUID()
  const ages = [10, 200, 364, 366, 400, 500, 700, 790]
  for (const days of ages) {
    await app.db.insertInto('securityEvents').values({
      type: 'login',
      userId,
      actorType: 'user',
      actorId: null,
      address: null,
      userAgent: null,
      session: null,
      details: JSON.stringify({ days }),
      occurredAt: new Date(now.getTime() - days * DAY),
    }).execute()
  }
  const dropped = await store.dropExpired(365, now)
  t.ok(dropped.length >= 12, `months dropped: ${dropped.join(', ')}`)
  const kept = (await store.page({ userId }, 100)).map((event) => event.details.days as number).sort((a, b) => a - b)
  t.same(kept.filter((days) => days < 365), [10, 200, 364], 'every event younger than the retention is kept')
  t.ok(kept.every((days) => days < 365 + 31), `only events of the month that straddles the cutoff outlive it (kept: ${kept.join(', ')} days)`)
  t.same(await store.dropExpired(365, now), [], 'a second pass finds nothing more to drop')
  await store.append([eventOf(userId)])
  t.equal((await store.page({ userId, types: ['login'] }, 100)).length, kept.length + 1, 'the current month still takes events')
})

t.test('paging newest first shows every event once while others are written', async (t) => {
  const app = await build(t)
  const { store } = app.securityEvents
  const userId = randomUUID()
  const before = await store.append(Array.from({ length: 300 }, () => eventOf(userId)))
  const writing = (async () => {
    for (let batch = 0; batch < 20; batch++) await store.append(Array.from({ length: 5 }, () => eventOf(userId, { type: 'logout' })))
  })()
  const seen: string[] = []
  let cursor: string | undefined
  for (;;) {
    const page = await store.page({ userId, ...(cursor && { before: cursor }) }, 7)
    seen.push(...page.map((event) => event.id))
    if (page.length < 7) break
    cursor = page.at(-1)!.id
  }
  await writing
  t.equal(new Set(seen).size, seen.length, 'no event twice')
  const shown = new Set(seen)
  t.ok(before.every((event) => shown.has(event.id)), 'every event written before paging began, once')
  t.same(seen, [...seen].sort((a, b) => Number(BigInt(b) - BigInt(a))), 'newest first')
})
