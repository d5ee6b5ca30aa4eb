import t from 'tap'
import { injected } from '../support/client.js'
import { loggedIn } from '../support/flows.js'
import { build, ownPostgres, type App } from '../support/helper.js'

// PostgreSQL gone after a change was made: the request is still answered, and its event is counted unwritten (its
// log line, at error level, holds it whole).

async function metric(app: App, series: string): Promise<number> {
  const text = (await app.inject({ url: '/metrics' })).body
  const line = text.split('\n').find((candidate) => candidate.startsWith(series))
  return line === undefined ? 0 : Number(line.split(' ').at(-1))
}

t.test('a logout while PostgreSQL hangs: answered, its event counted unwritten; written again once it is back', async (t) => {
  const postgres = await ownPostgres(t)
  const app = await build(t, { DATABASE_URL: await postgres.createDatabase('events_outage') })
  const via = injected(app)
  const cookie = await loggedIn(via, 'steady')
  const written = await metric(app, 'security_events_total{outcome="written"}')
  t.equal(written, 2, 'the signup and the sign-in')
  await postgres.halt()
  t.equal((await via.call('POST', '/auth/logout', { cookie })).status, 204, 'the logout (Redis alone) is answered')
  t.equal(await metric(app, 'security_events_total{outcome="unwritten"}'), 1, 'its event counted unwritten')
  await postgres.resume()
  await loggedIn(via, 'back')
  t.equal(await metric(app, 'security_events_total{outcome="written"}'), written + 2, 'events are written again, no restart')
})
