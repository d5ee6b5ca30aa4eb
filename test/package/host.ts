// What a host app writes against the package: only its name, never a path into it. Type-checked, not run.
import { Type } from '@sinclair/typebox'
import Fastify, { type FastifyPluginAsync } from 'fastify'
import { answer, defineError, errorResponses, loadConfig, NoContent, SESSION_SECURITY, sessionService, type SessionUser } from 'redis-session-api'

const NoteNotFound = defineError('NOTE_NOT_FOUND', 'No such note', 404)

const notes: FastifyPluginAsync = async (app) => {
  app.guardRoutes(app.requireUser)
  app.get('/notes', {
    schema: { operationId: 'listNotes', summary: 'My notes', security: SESSION_SECURITY, response: { 200: answer('My notes', Type.Object({ owner: Type.String() })) } },
  }, async (request) => {
    const user: SessionUser = request.user
    return { owner: user.username }
  })
  app.delete('/notes/:id', {
    preHandler: [app.requireRole('admin'), app.requireFresh(300)],
    schema: { operationId: 'deleteNote', summary: 'Delete a note', security: SESSION_SECURITY, response: { 204: NoContent, ...errorResponses('NOTE_NOT_FOUND') } },
  }, async () => {
    throw new NoteNotFound()
  })
  // @ts-expect-error: a scope is 'read' or 'write'
  app.requireScope('admin')
}

export const app = Fastify({ logger: true })
await app.register(sessionService, { config: loadConfig(process.env), routes: notes })
app.get('/ping', async () => ({ pong: true }))
