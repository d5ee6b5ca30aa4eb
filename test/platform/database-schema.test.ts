import { sql } from 'kysely'
import t from 'tap'
import { MIGRATIONS } from '../../src/platform/database/migrations/index.js'
import { startServer, waitForListening } from '../support/app-process.js'
import { build, freePort, TEST_SECRET, testPostgres, testRedis } from '../support/helper.js'

// The schema is versioned: the service migrates an empty database itself, and refuses one it does not match.

let databases = 0
const emptyDatabase = async () => (await testPostgres()).createDatabase(`schema_${++databases}`)

async function serviceEnv(databaseUrl: string, extra: Record<string, string> = {}) {
  return { SESSION_SECRET: TEST_SECRET, REDIS_URL: (await testRedis()).url, DATABASE_URL: databaseUrl, PORT: String(await freePort()), HOST: '127.0.0.1', ...extra }
}

t.test('an empty database is migrated at start, once, even by two instances starting together', async (t) => {
  const url = await emptyDatabase()
  const [one, two] = await Promise.all([build(t, { DATABASE_URL: url }), build(t, { DATABASE_URL: url })])
  const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(one.db)
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
  await sql`INSERT INTO kysely_migration (name, timestamp) VALUES ('9999-from-the-future', now())`.execute(app.db)
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
