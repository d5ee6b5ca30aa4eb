import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsync } from 'fastify'
import type pg from 'pg'
import { answer, defineError, errorResponses, NoContent, SESSION_SECURITY } from 'redis-session-api'

// The host's own table, created by the host's own migration (a real app would run its migration tool here:
// node-pg-migrate, Kysely's Migrator, ...). The service keeps its tables in a schema of its own and never sees this
// one; a note refers to its owner's account there, and goes with it.
export function notesTable(serviceSchema: string): string {
  return `CREATE TABLE IF NOT EXISTS notes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id uuid NOT NULL REFERENCES "${serviceSchema}".users (id) ON DELETE CASCADE,
    text text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  )`
}

const NoteNotFound = defineError('NOTE_NOT_FOUND', 'No such note', 404)

const Note = Type.Object({ id: Type.String(), text: Type.String(), createdAt: Type.String({ format: 'date-time' }) }, { additionalProperties: false })
const NewNote = Type.Object({ text: Type.String({ minLength: 1, maxLength: 1000 }) }, { additionalProperties: false })
const NoteParams = Type.Object({ id: Type.String({ pattern: '^[0-9]{1,18}$' }) }, { additionalProperties: false })
const documented = { tags: ['notes'], security: SESSION_SECURITY }

interface NoteRow { id: string; text: string; created_at: Date }
const toNote = (row: NoteRow) => ({ id: row.id, text: row.text, createdAt: row.created_at.toISOString() })

/** Notes: each user lists and writes their own; an admin deletes anyone's. */
export function notesRoutes(db: pg.Pool): FastifyPluginAsync {
  return async (app) => {
    app.get('/notes', {
      preHandler: app.requireUser,
      schema: { ...documented, operationId: 'listNotes', summary: 'Your notes, newest first', response: { 200: answer('Your notes', Type.Array(Note)) } },
    }, async (request) => {
      const { rows } = await db.query<NoteRow>('SELECT id, text, created_at FROM notes WHERE owner_id = $1 ORDER BY id DESC', [request.user.id])
      return rows.map(toNote)
    })

    app.post<{ Body: { text: string } }>('/notes', {
      preHandler: app.requireUser,
      schema: { ...documented, operationId: 'createNote', summary: 'Write a note', body: NewNote, response: { 201: answer('The note', Note) } },
    }, async (request, reply) => {
      const { rows } = await db.query<NoteRow>('INSERT INTO notes (owner_id, text) VALUES ($1, $2) RETURNING id, text, created_at', [request.user.id, request.body.text])
      return reply.code(201).send(toNote(rows[0]!))
    })

    app.delete<{ Params: { id: string } }>('/notes/:id', {
      preHandler: app.requireRole('admin'),
      schema: { ...documented, operationId: 'deleteNote', summary: "Delete anyone's note (admins)", params: NoteParams, response: { 204: NoContent, ...errorResponses('NOTE_NOT_FOUND') } },
    }, async (request, reply) => {
      const { rowCount } = await db.query('DELETE FROM notes WHERE id = $1', [request.params.id])
      if (rowCount === 0) throw new NoteNotFound()
      return reply.code(204).send()
    })
  }
}
