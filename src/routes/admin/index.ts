import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { UserNotFound } from '../../errors.js'
import { toSessionView } from '../../plugins/session-index.js'
import { RevokedResponse, SessionsResponse, UsernameParams } from '../../schemas/auth.js'
import { SESSION_SECURITY } from '../../schemas/security.js'
import { errorResponses } from '../../schemas/error.js'

/** Everything under /admin needs the admin role. */
const adminRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('preHandler', app.authorize('admin'))

  async function userIdOf(username: string): Promise<string> {
    const user = await app.users.findByUsername(username)
    if (!user) throw new UserNotFound()
    return user.id
  }

  app.get(
    '/users/:username/sessions',
    {
      schema: {
        summary: "A user's live sessions",
        tags: ['admin'],
        security: SESSION_SECURITY,
        params: UsernameParams,
        response: { 200: SessionsResponse, ...errorResponses(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request) => {
      const sessions = await app.sessionIndex.list(await userIdOf(request.params.username))
      return { sessions: sessions.map((session) => toSessionView(session, null)) }
    },
  )

  app.delete(
    '/users/:username/sessions',
    {
      schema: {
        summary: 'End every session of a user',
        tags: ['admin'],
        security: SESSION_SECURITY,
        params: UsernameParams,
        response: { 200: RevokedResponse, ...errorResponses(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request) => {
      const userId = await userIdOf(request.params.username)
      const revoked = await app.sessionIndex.revokeAll(userId)
      app.recordEvent(request.log, 'revoke', { userId, sessions: revoked, by: request.session.user?.id }, revoked)
      return { revoked }
    },
  )
}

export default adminRoutes
