import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { logIn, loggedIn } from '../support/flows.js'
import { build, PostgresServer } from '../support/helper.js'

// What a login costs PostgreSQL beside its key derivation (docs/performance.md): the account read by name, then one
// statement that checks the login epoch still holds (invariant 2 of sessions/service.ts) and notes the login.

t.test('a login sends PostgreSQL two statements about the account: the read, and the check that notes it', async (t) => {
  const postgres = await PostgresServer.start({ logStatements: true })
  t.teardown(() => postgres.stop())
  const app = await build(t, { DATABASE_URL: await postgres.createDatabase('login_queries') })
  await loggedIn(app, 'counted')
  const { id } = (await app.inject({ url: '/auth/me', headers: { cookie: await logIn(app, 'counted') } })).json().user as { id: string }
  // The log is read as PostgreSQL writes it: give it time to catch up before and after.
  await sleep(500)
  const statements: string[] = []
  const stop = postgres.onStatement((statement, parameters) => {
    if (statement.includes('"users"') && (parameters.includes(id) || parameters.includes("'counted'"))) statements.push(statement)
  })
  t.teardown(stop)
  await logIn(app, 'counted')
  await sleep(500)
  t.equal(statements.length, 2, statements.join('\n'))
  t.match(statements[0], /^select /, 'the account, by name')
  t.match(statements[1], /^update "redis_session_api"."users" set "last_login_at" = now\(\) where "id" = \$1 and "login_epoch" = \$2/, 'the epoch checked where the login is noted')
})
