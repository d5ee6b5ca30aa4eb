import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { MfaNotEnabled, UserNotFound } from '../../errors.js'
import { toSessionView } from '../../plugins/app/session-index.js'
import { RevokedResponse, SessionsResponse, UsernameParams } from '../../schemas/auth.js'
import { SESSION_SECURITY } from '../../schemas/security.js'
import { errorResponses } from '../../schemas/error.js'
import { MfaStatus } from '../../schemas/mfa.js'

/** Everything under /admin needs the admin role. */
const adminRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('preHandler', app.authorize('admin'))

  async function accountOf(username: string) {
    const account = await app.users.findAccount(username)
    if (!account) throw new UserNotFound()
    return account
  }
  const userIdOf = async (username: string) => (await accountOf(username)).user.id

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
      const sessions = await app.sessions.list(await userIdOf(request.params.username))
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
      const { user } = await accountOf(request.params.username)
      const revoked = await app.sessions.endAll(user)
      app.recordEvent(request.log, 'revoke', { userId: user.id, sessions: revoked, by: request.user.id }, revoked)
      return { revoked }
    },
  )

  app.get(
    '/users/:username/mfa',
    {
      schema: {
        summary: 'Whether a user has two-factor login, since when, and how many recovery codes are left',
        tags: ['admin'],
        security: SESSION_SECURITY,
        params: UsernameParams,
        response: { 200: MfaStatus, ...errorResponses(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request) => app.mfa.status(await accountOf(request.params.username)),
  )

  app.delete(
    '/users/:username/mfa',
    {
      // Taking a user's second factor away is as sensitive as changing one's own.
      preHandler: app.requireFresh(),
      schema: {
        summary: "Reset a user's two-factor login (a lost authenticator): turns it off and ends every session of the user (fresh session)",
        tags: ['admin'],
        security: SESSION_SECURITY,
        params: UsernameParams,
        response: { 200: RevokedResponse, ...errorResponses(400, 401, 403, 404, 409, 429, 503) },
      },
    },
    async (request) => {
      const { user } = await accountOf(request.params.username)
      if (!(await app.mfa.disable(user))) throw new MfaNotEnabled()
      const revoked = await app.sessions.endAll(user)
      app.recordEvent(request.log, 'mfa_reset', { userId: user.id, sessions: revoked, by: request.user.id }, revoked)
      return { revoked }
    },
  )
}

export default adminRoutes
