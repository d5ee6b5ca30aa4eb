import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsync } from 'fastify'
import t, { type Test } from 'tap'
import { answer } from '../../src/schemas/components.js'
import { NoContent } from '../../src/schemas/error.js'
import { SESSION_SECURITY } from '../../src/schemas/security.js'
import { build, json, loggedIn, postLogin, sessionCookie, type App } from '../support/helper.js'

const ADMIN = { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'admin-password', LOGIN_RATE_LIMIT_MAX: '100' }
const documented = (operationId: string) => ({ operationId, summary: operationId, tags: ['notes'], security: SESSION_SECURITY })
const Owner = Type.Object({ owner: Type.String() })

/** A host's routes as a host would write them: a folder guard, and guards on single routes beside it. */
const notes: FastifyPluginAsync = async (app) => {
  await app.register(async (notes) => {
    notes.guardRoutes(notes.requireUser)
    notes.get('/', { schema: { ...documented('listNotes'), response: { 200: answer('Whose notes', Owner) } } }, async (request) => ({ owner: request.user.username }))
    notes.delete('/:id', {
      preHandler: notes.requireRole('admin'),
      schema: { ...documented('deleteNote'), params: Type.Object({ id: Type.String() }), response: { 204: NoContent } },
    }, async (_request, reply) => reply.code(204).send())
    // A read that reveals enough to need the write scope.
    notes.get('/export', {
      preHandler: notes.requireScope('write'),
      schema: { ...documented('exportNotes'), response: { 200: answer('Whose notes', Owner) } },
    }, async (request) => ({ owner: request.user.username }))
  }, { prefix: '/notes' })
  // Guarded by requireFresh alone, no folder guard.
  app.post('/purge', { preHandler: app.requireFresh(), schema: { ...documented('purgeNotes'), response: { 204: NoContent } } }, async (_request, reply) => reply.code(204).send())
}

const withNotes = (t: Test, env: Record<string, string> = {}) => build(t, { ...ADMIN, ...env }, undefined, { routes: notes })

async function tokenOf(app: App, cookie: string, scopes: string[]): Promise<{ authorization: string }> {
  const created = await app.inject({ method: 'POST', url: '/auth/tokens', ...json({ name: scopes.join('-'), scopes }), headers: { 'cookie': cookie, 'content-type': 'application/json' } })
  return { authorization: `Bearer ${created.json().token}` }
}

t.test('a route guarded by its folder and by requireRole spends one unit of the credential limit per request', async (t) => {
  const app = await withNotes(t, { CREDENTIAL_RATE_LIMIT_MAX: '3' })
  const admin = sessionCookie(await postLogin(app, 'root', 'admin-password'))
  const statuses = []
  for (let i = 0; i < 4; i++) statuses.push((await app.inject({ method: 'DELETE', url: '/notes/1', headers: { cookie: admin } })).statusCode)
  t.same(statuses, [204, 204, 204, 429], 'three requests pass, as on a route with one guard; the fourth is limited')

  const reader = await loggedIn(app, 'reader')
  const reads = []
  for (let i = 0; i < 4; i++) reads.push((await app.inject({ url: '/notes', headers: { cookie: reader } })).statusCode)
  t.same(reads, [200, 200, 200, 429], 'the folder guard alone counts the same')
})

t.test('requireRole refuses a user without the role with 403 FORBIDDEN, and the document lists it on that route', async (t) => {
  const app = await withNotes(t)
  const cookie = await loggedIn(app, 'plainuser')
  const refused = await app.inject({ method: 'DELETE', url: '/notes/1', headers: { cookie } })
  t.equal(refused.statusCode, 403)
  t.equal(refused.json().code, 'FORBIDDEN')
  t.equal((await app.inject({ url: '/notes', headers: { cookie } })).statusCode, 200, 'the folder guard alone lets the user in')

  const { paths } = (await app.inject({ url: '/docs/json' })).json()
  const codesOf = (operation: { responses: Record<string, { content?: { 'application/json': { schema: unknown } } }> }, status: string) =>
    JSON.stringify(operation.responses[status]?.content?.['application/json'].schema ?? null)
  const remove = paths['/notes/{id}'].delete
  t.match(codesOf(remove, '403'), /FORBIDDEN/, 'the route guard documents its 403')
  t.match(codesOf(remove, '403'), /TOKEN_NOT_ALLOWED/)
  t.match(codesOf(remove, '401'), /UNAUTHENTICATED/)
  t.match(codesOf(remove, '429'), /RATE_LIMITED/)
  t.notMatch(codesOf(paths['/notes/'].get, '403'), /FORBIDDEN/, 'a route without requireRole does not list it')
  t.match(codesOf(paths['/purge'].post, '403'), /REAUTH_REQUIRED/, 'requireFresh documents its 403')
})

t.test('requireScope asks for its scope whatever the method; a session passes', async (t) => {
  const app = await withNotes(t)
  const cookie = await loggedIn(app, 'scoped')
  const readOnly = await tokenOf(app, cookie, ['read'])
  const writer = await tokenOf(app, cookie, ['read', 'write'])
  t.equal((await app.inject({ url: '/notes', headers: readOnly })).statusCode, 200, 'a GET needs only read elsewhere')
  const refused = await app.inject({ url: '/notes/export', headers: readOnly })
  t.equal(refused.statusCode, 403)
  t.equal(refused.json().code, 'INSUFFICIENT_SCOPE')
  t.same((await app.inject({ url: '/notes/export', headers: writer })).json(), { owner: 'scoped' })
  t.same((await app.inject({ url: '/notes/export', headers: { cookie } })).json(), { owner: 'scoped' })
})

t.test('requireFresh guards a route on its own: a fresh session passes, a stale one and a token are asked to re-authenticate', async (t) => {
  const app = await withNotes(t, { REAUTH_MAX_AGE_SECONDS: '1' })
  t.equal((await app.inject({ method: 'POST', url: '/purge' })).json().code, 'UNAUTHENTICATED')
  const cookie = await loggedIn(app, 'purger')
  t.equal((await app.inject({ method: 'POST', url: '/purge', headers: { cookie } })).statusCode, 204)
  const token = await tokenOf(app, cookie, ['read', 'write'])
  const withToken = await app.inject({ method: 'POST', url: '/purge', headers: token })
  t.equal(withToken.statusCode, 403)
  t.equal(withToken.json().code, 'REAUTH_REQUIRED', 'a token proves no recent credential')
  await new Promise((resolve) => setTimeout(resolve, 1100))
  const stale = await app.inject({ method: 'POST', url: '/purge', headers: { cookie } })
  t.equal(stale.statusCode, 403)
  t.equal(stale.json().code, 'REAUTH_REQUIRED')
})
