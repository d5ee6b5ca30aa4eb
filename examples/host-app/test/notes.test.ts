import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { logIn, makeAdmin, signUp, startTestServers, type TestServers } from 'redis-session-api/testing'
import { buildHostApp } from '../src/app.ts'

let servers: TestServers
before(async () => {
  servers = await startTestServers()
})
after(() => servers.stop())

/** The host app on a database and Redis prefix of its own. */
async function hostApp(t: { after(fn: () => Promise<unknown>): void }): Promise<FastifyInstance> {
  const app = await buildHostApp(await servers.config())
  t.after(() => app.close())
  return app
}

test('a user writes notes and lists only their own', async (t) => {
  const app = await hostApp(t)
  await signUp(app, { username: 'ada' })
  await signUp(app, { username: 'grace' })
  const ada = await logIn(app, { username: 'ada' })
  const grace = await logIn(app, { username: 'grace', transport: 'token' })

  const written = await app.inject({ method: 'POST', url: '/notes', headers: ada.headers, payload: { text: 'first' } })
  assert.equal(written.statusCode, 201)
  await app.inject({ method: 'POST', url: '/notes', headers: grace.headers, payload: { text: "grace's" } })

  const listed = await app.inject({ url: '/notes', headers: ada.headers })
  assert.deepEqual(listed.json().map((note: { text: string }) => note.text), ['first'])
})

test('without a session the notes answer 401 in the service\'s error shape', async (t) => {
  const app = await hostApp(t)
  const response = await app.inject({ url: '/notes' })
  assert.equal(response.statusCode, 401)
  assert.equal(response.json().code, 'UNAUTHENTICATED')
})

test('only an admin deletes a note; a note that is not there is a 404 in the same shape', async (t) => {
  const app = await hostApp(t)
  await signUp(app, { username: 'writer' })
  await signUp(app, { username: 'moderator' })
  const writer = await logIn(app, { username: 'writer' })
  const note = (await app.inject({ method: 'POST', url: '/notes', headers: writer.headers, payload: { text: 'spam' } })).json()

  const refused = await app.inject({ method: 'DELETE', url: `/notes/${note.id}`, headers: writer.headers })
  assert.equal(refused.statusCode, 403)
  assert.equal(refused.json().code, 'FORBIDDEN')

  await makeAdmin(app, 'moderator')
  const moderator = await logIn(app, { username: 'moderator' })
  assert.equal((await app.inject({ method: 'DELETE', url: `/notes/${note.id}`, headers: moderator.headers })).statusCode, 204)
  const again = await app.inject({ method: 'DELETE', url: `/notes/${note.id}`, headers: moderator.headers })
  assert.equal(again.statusCode, 404)
  assert.equal(again.json().code, 'NOTE_NOT_FOUND')
})

test('an account disabled through app.accounts loses its sessions at once', async (t) => {
  const app = await hostApp(t)
  const user = await signUp(app, { username: 'leaving' })
  const session = await logIn(app, { username: 'leaving' })
  assert.equal((await app.sessions.list(user.id)).length, 1)

  await app.accounts.disable(user.id, { reason: 'asked to leave' })
  assert.equal((await app.inject({ url: '/notes', headers: session.headers })).statusCode, 401)
  assert.equal((await app.accounts.find({ id: user.id }))?.state, 'disabled')
})

test("a deleted account's notes go with it", async (t) => {
  const config = await servers.config()
  const app = await buildHostApp(config)
  t.after(() => app.close())
  const user = await signUp(app, { username: 'departing' })
  const session = await logIn(app, { username: 'departing' })
  await app.inject({ method: 'POST', url: '/notes', headers: session.headers, payload: { text: 'mine' } })

  await app.accounts.remove(user.id)
  const { rows } = await servers.postgres.query('SELECT count(*)::int AS notes FROM notes', [], new URL(config.database.url).pathname.slice(1))
  assert.equal(rows[0].notes, 0)
})

test('the OpenAPI document lists the notes routes with their errors', async (t) => {
  const app = await hostApp(t)
  const document = (await app.inject({ url: '/docs/json' })).json()
  const remove = document.paths['/notes/{id}'].delete
  assert.ok(remove.responses['403'], 'the role guard documents its 403')
  assert.ok(remove.responses['404'], 'NOTE_NOT_FOUND is documented')
})
