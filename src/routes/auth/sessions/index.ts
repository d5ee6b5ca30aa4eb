import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { SessionNotFound } from '../../../errors.js'
import { sessionHandle, toSessionView } from '../../../sessions/index.js'
import { RevokedResponse, SessionParams, SessionsResponse } from '../../../schemas/auth.js'
import { errorResponses, NoContent } from '../../../schemas/error.js'
import { SESSION_SECURITY } from '../../../schemas/security.js'
import { answer } from '../../../schemas/components.js'

/** My sessions: /auth/sessions. Every route takes a login, never an access token. */
const sessionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.guardRoutes(app.requireLogin)
  const documented = { tags: ['sessions'], security: SESSION_SECURITY }

  app.get(
    '',
    {
      schema: {
        ...documented,
        operationId: 'listMySessions',
        summary: 'My live sessions, newest first',
        response: { 200: answer('My live sessions, bearer ones included', SessionsResponse) },
      },
    },
    async (request) => {
      const sessions = await app.sessionLifecycle.list(request.user.id)
      return { sessions: sessions.map((session) => toSessionView(session, sessionHandle(request.session))) }
    },
  )

  app.delete(
    '/:id',
    {
      schema: {
        ...documented,
        operationId: 'endMySession',
        summary: 'End one of my sessions, on every instance (another than this one: from a fresh session)',
        params: SessionParams,
        response: { 204: NoContent, ...errorResponses('REAUTH_REQUIRED', 'SESSION_NOT_FOUND') },
      },
    },
    async (request, reply) => {
      const userId = request.user.id
      const current = request.params.id === sessionHandle(request.session)
      // Ending this session is a logout; ending another takes a fresh one (ASVS 5.0 §7.5.2), checked before the
      // handle is looked up so that a stale session learns nothing of it.
      if (!current) app.assertFresh(request)
      // Another user's session is "not found" too: the answer must not confirm that a handle exists.
      if (!(await app.sessionLifecycle.endOne(userId, request.params.id))) throw new SessionNotFound()
      app.recordEvent(request, 'revoke', { userId, session: request.params.id })
      if (current) app.sessionCookie.clear(reply)
      return reply.code(204).send()
    },
  )

  app.delete(
    '',
    {
      preHandler: app.requireFresh(),
      schema: {
        ...documented,
        operationId: 'endMyOtherSessions',
        summary: 'End all my other sessions, keep this one (fresh session)',
        response: { 200: answer('How many of my other sessions were ended', RevokedResponse) },
      },
    },
    async (request) => {
      const { user } = request
      const revoked = await app.sessionLifecycle.endAll(user, { keep: sessionHandle(request.session) })
      app.recordEvent(request, 'revoke', { userId: user.id, sessions: revoked, reason: 'other sessions' }, revoked)
      return { revoked }
    },
  )
}

export default sessionRoutes
