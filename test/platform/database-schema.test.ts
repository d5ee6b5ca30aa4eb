import { sql } from 'kysely'
import t, { type Test } from 'tap'
import { MIGRATIONS } from '../../src/platform/database/migrations/index.js'
import { startServer, waitForListening } from '../support/app-process.js'
import { build, freePort, TEST_SECRET, testPostgres, testRedis, type App } from '../support/helper.js'

// The schema is versioned: the service migrates an empty database itself, and refuses one it does not match.

let databases = 0
const emptyDatabase = async () => (await testPostgres()).createDatabase(`schema_${++databases}`)

async function serviceEnv(databaseUrl: string, extra: Record<string, string> = {}) {
  return { SESSION_SECRET: TEST_SECRET, REDIS_URL: (await testRedis()).url, DATABASE_URL: databaseUrl, PORT: String(await freePort()), HOST: '127.0.0.1', ...extra }
}

t.test('an empty database is migrated at start, once, even by two instances starting together', async (t) => {
  const url = await emptyDatabase()
  const [one, two] = await Promise.all([build(t, { DATABASE_URL: url }), build(t, { DATABASE_URL: url })])
  const { rows } = await sql<{ name: string }>`SELECT name FROM redis_session_api.kysely_migration ORDER BY name`.execute(one.db)
  t.same(rows.map((row) => row.name), Object.keys(MIGRATIONS), 'every migration recorded once')
  t.equal((await one.inject({ method: 'POST', url: '/auth/register', payload: { username: 'first', password: 'long enough password' } })).statusCode, 201)
  t.equal((await two.inject({ method: 'POST', url: '/auth/login', payload: { username: 'first', password: 'long enough password' } })).statusCode, 200)
  const again = await build(t, { DATABASE_URL: url })
  t.equal((await again.inject({ method: 'POST', url: '/auth/login', payload: { username: 'first', password: 'long enough password' } })).statusCode, 200, 'a restart keeps the data')
})

t.test('with DATABASE_MIGRATE=false the start refuses a schema that is behind; npm run migrate brings it up', async (t) => {
  const url = await emptyDatabase()
  const refused = startServer(t, await serviceEnv(url, { DATABASE_MIGRATE: 'false' }))
  t.not(await refused.exited, 0)
  t.match(refused.stderr().trim(), /^Cannot start: the database schema is behind .*npm run migrate/)
  t.equal(refused.stderr().trim().split('\n').length, 1, 'one line')

  const migrate = startServer(t, { DATABASE_URL: url }, 'src/cli/migrate.ts')
  t.equal(await migrate.exited, 0)
  t.match(migrate.stdout(), `Applied ${Object.keys(MIGRATIONS).join(', ')}`)
  const rerun = startServer(t, { DATABASE_URL: url }, 'src/cli/migrate.ts')
  t.equal(await rerun.exited, 0)
  t.match(rerun.stdout(), /is up to date/, 'running it again changes nothing')

  const started = startServer(t, await serviceEnv(url, { DATABASE_MIGRATE: 'false' }))
  await waitForListening(started)
  t.pass('the service starts on the migrated schema')
})

t.test('a database migrated by a newer version stops the start with one line', async (t) => {
  const url = await emptyDatabase()
  const app = await build(t, { DATABASE_URL: url })
  await sql`INSERT INTO redis_session_api.kysely_migration (name, timestamp) VALUES ('9999-from-the-future', now())`.execute(app.db)
  const server = startServer(t, await serviceEnv(url))
  t.not(await server.exited, 0)
  t.match(server.stderr().trim(), /^Cannot start: the database schema is newer than this version of the service \(it has run 9999-from-the-future\)/)
  t.equal(server.stderr().trim().split('\n').length, 1, 'one line')
})

t.test('an unreachable PostgreSQL stops the start with one line naming the URL tried, without its password', async (t) => {
  const port = await freePort()
  const server = startServer(t, await serviceEnv(`postgres://app:hunter2secret@127.0.0.1:${port}/accounts`))
  t.not(await server.exited, 0)
  const stderr = server.stderr().trim()
  t.match(stderr, new RegExp(`^Cannot start: cannot reach PostgreSQL at postgres://app:\\*\\*\\*@127\\.0\\.0\\.1:${port}/accounts`))
  t.match(stderr, /DATABASE_URL/)
  t.notMatch(stderr, 'hunter2secret')
  t.equal(stderr.split('\n').length, 1, 'one line, no stack trace')
})

t.test('a DATABASE_URL that is not a PostgreSQL URL is a configuration error naming it', async (t) => {
  const server = startServer(t, await serviceEnv('mysql://127.0.0.1/accounts'))
  t.not(await server.exited, 0)
  t.match(server.stderr().trim(), /^Invalid configuration: DATABASE_URL/)
})

// The service's tables live in a schema of their own (DATABASE_SCHEMA), so that a host's tables and migrations, in
// public or elsewhere, never meet them.

const OUR_TABLES = ['account_tokens', 'kysely_migration', 'kysely_migration_lock', 'security_events', 'signing_keys', 'users']
/** What versions before 0.5 had: signing_keys came with 0.6, security_events with 0.7. */
const TABLES_BEFORE_05 = OUR_TABLES.filter((table) => table !== 'signing_keys' && table !== 'security_events')

/** The tables (and views) in `schema`, or only those of `type` ('BASE TABLE', 'VIEW'); a partitioned table's partitions aside. */
async function tablesIn(databaseUrl: string, schema: string, type = '%'): Promise<string[]> {
  const { rows } = await (await testPostgres()).query(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type LIKE $2
       AND table_name NOT IN (SELECT relname FROM pg_class WHERE relispartition) ORDER BY table_name`,
    [schema, type],
    new URL(databaseUrl).pathname.slice(1),
  )
  return rows.map((row: { table_name: string }) => row.table_name)
}
const onDatabase = async (databaseUrl: string, statement: string) => (await testPostgres()).query(statement, [], new URL(databaseUrl).pathname.slice(1))
const PASSWORD = 'long enough password'
const login = (app: App, username: string) => app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })

t.test("the service's tables and its record of migrations are in its own schema; a host's in public are left alone", async (t) => {
  const url = await emptyDatabase()
  // A host that was there first, with a users table and a Kysely record of its own under the default names.
  await onDatabase(url, 'CREATE TABLE users (id serial PRIMARY KEY, nickname text)')
  await onDatabase(url, "INSERT INTO users (nickname) VALUES ('host row')")
  await onDatabase(url, 'CREATE TABLE kysely_migration (name varchar(255) PRIMARY KEY, timestamp varchar(255) NOT NULL)')
  await onDatabase(url, "INSERT INTO kysely_migration VALUES ('0001-host-notes', now())")

  const app = await build(t, { DATABASE_URL: url })
  t.equal((await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'beside', password: PASSWORD } })).statusCode, 201)
  t.same(await tablesIn(url, 'redis_session_api'), OUR_TABLES)
  t.same(await tablesIn(url, 'public'), ['kysely_migration', 'users'], 'only the host\'s tables in public')
  t.same((await onDatabase(url, 'SELECT nickname FROM public.users')).rows, [{ nickname: 'host row' }])
  t.same((await onDatabase(url, 'SELECT name FROM public.kysely_migration')).rows, [{ name: '0001-host-notes' }], "the host's record is the host's")
})

t.test('DATABASE_SCHEMA names the schema', async (t) => {
  const url = await emptyDatabase()
  const app = await build(t, { DATABASE_URL: url, DATABASE_SCHEMA: 'auth' })
  t.equal((await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'named', password: PASSWORD } })).statusCode, 201)
  t.same(await tablesIn(url, 'auth'), OUR_TABLES)
  t.same(await tablesIn(url, 'redis_session_api'), [])
})

/** A database as versions before 0.5 left it: the same tables and rows, in public. */
async function migratedBefore05(t: Test): Promise<string> {
  const url = await emptyDatabase()
  const app = await build(t, { DATABASE_URL: url })
  t.equal((await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'veteran', password: PASSWORD } })).statusCode, 201)
  await app.close()
  await onDatabase(url, 'DROP TABLE redis_session_api.signing_keys')
  await onDatabase(url, 'DROP TABLE redis_session_api.security_events')
  await onDatabase(url, 'DROP FUNCTION redis_session_api.security_events_refuse_change()')
  await onDatabase(url, "DELETE FROM redis_session_api.kysely_migration WHERE name IN ('0006-signing-keys', '0007-security-events')")
  for (const table of TABLES_BEFORE_05) await onDatabase(url, `ALTER TABLE redis_session_api.${table} SET SCHEMA public`)
  await onDatabase(url, 'DROP SCHEMA redis_session_api')
  return url
}

t.test('a database migrated before 0.5 has its tables moved into the schema at start, with their rows, by one of two instances', async (t) => {
  const url = await migratedBefore05(t)
  const [one, two] = await Promise.all([build(t, { DATABASE_URL: url }), build(t, { DATABASE_URL: url })])
  t.same(await tablesIn(url, 'redis_session_api'), OUR_TABLES)
  t.same(await tablesIn(url, 'public', 'BASE TABLE'), [], 'no table of ours left in public')
  t.equal((await login(one, 'veteran')).statusCode, 200, 'the account moved with its table')
  t.equal((await login(two, 'veteran')).statusCode, 200)
  t.equal((await two.inject({ method: 'POST', url: '/auth/register', payload: { username: 'VETERAN', password: PASSWORD } })).json().code, 'USERNAME_TAKEN', 'its unique index too')
})

t.test('with DATABASE_MIGRATE=false a database migrated before 0.5 is refused until npm run migrate moves it', async (t) => {
  const url = await migratedBefore05(t)
  await t.rejects(build(t, { DATABASE_URL: url, DATABASE_MIGRATE: 'false' }), { name: 'SchemaMismatchError', message: /still in the schema "public".*npm run migrate/ })
  t.same(await tablesIn(url, 'redis_session_api'), [], 'nothing moved')
  const migrate = startServer(t, { DATABASE_URL: url }, 'src/cli/migrate.ts')
  t.equal(await migrate.exited, 0)
  const app = await build(t, { DATABASE_URL: url, DATABASE_MIGRATE: 'false' })
  t.equal((await login(app, 'veteran')).statusCode, 200)
})

t.test('an instance of the older version still serving in a rolling deploy reads and writes the moved tables through views', async (t) => {
  const url = await migratedBefore05(t)
  const app = await build(t, { DATABASE_URL: url })
  t.same(await tablesIn(url, 'public', 'VIEW'), ['account_tokens', 'users'])
  // Statements as 0.4 sends them: plain table names, on a connection with the default search_path.
  const older = (statement: string) => onDatabase(url, statement)
  const { rows } = await older("UPDATE users SET last_login_at = now() WHERE lower(username) = 'veteran' RETURNING id")
  t.equal(rows.length, 1, 'an update through the view reaches the row')
  await older("INSERT INTO users (id, username, roles, password_hash) VALUES (gen_random_uuid(), 'latecomer', '{user}', 'x')")
  t.ok(await app.accounts.find({ username: 'latecomer' }), 'an insert through the view is in the moved table')
  await older(`INSERT INTO account_tokens (token_hash, user_id, purpose, email, expires_at) VALUES ('h', '${rows[0].id}', 'verify_email', 'a@b.test', now())`)
  t.equal((await onDatabase(url, 'SELECT count(*)::int AS n FROM redis_session_api.account_tokens')).rows[0].n, 1)
})
