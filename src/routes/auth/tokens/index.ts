import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { SessionExpired, TokenNotFound } from '../../../errors.js'
import { SESSION_SECURITY } from '../../../schemas/security.js'
import { errorResponses, NoContent } from '../../../schemas/error.js'
import { CreatedToken, DEFAULT_TOKEN_DAYS, NewToken, TokenParams, TokensResponse } from '../../../schemas/tokens.js'
import { keptUserAgent } from '../../../lib/user-agent.js'
import { answer } from '../../../schemas/components.js'

/** Personal access tokens of the logged-in user: /auth/tokens. Managing them takes a login, never a token. */
const tokenRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.guardRoutes(app.requireLogin)
  const documented = { tags: ['tokens'], security: SESSION_SECURITY }

  app.post(
    '',
    {
      // A token outlives the session that made it: making one is as sensitive as a password change.
      preHandler: app.requireFresh(),
      schema: {
        ...documented,
        operationId: 'createAccessToken',
        summary: 'Create a personal access token (fresh session; its secret is in this answer only)',
        body: NewToken,
        response: { 201: answer('The new token, its secret shown only here', CreatedToken), ...errorResponses('TOKEN_LIMIT_REACHED') },
      },
    },
    async (request, reply) => {
      const { name, scopes, expiresInDays = DEFAULT_TOKEN_DAYS } = request.body
      const { user } = request
      const userAgent = keptUserAgent(request.headers['user-agent'])
      const created = await app.accessTokens.create(user, { name, scopes, expiresInDays }, { ip: request.ip, userAgent })
      // Made while its session was being ended (a disable, a delete, logging out everywhere): it must not outlive it.
      if (!(await app.sessionLifecycle.isLive(request))) {
        await app.accessTokens.revoke(user.id, created.id)
        throw new SessionExpired()
      }
      app.recordEvent(request, 'token_created', { userId: user.id, token: created.id, scopes, expiresInDays })
      return reply.code(201).send(created)
    },
  )

  app.get(
    '',
    {
      schema: {
        ...documented,
        operationId: 'listAccessTokens',
        summary: 'My personal access tokens (never their secrets), newest first',
        response: { 200: answer('My personal access tokens', TokensResponse) },
      },
    },
    async (request) => ({ tokens: await app.accessTokens.list(request.user.id) }),
  )

  app.delete(
    '/:id',
    {
      schema: {
        ...documented,
        operationId: 'revokeAccessToken',
        summary: 'Revoke one of my personal access tokens, on every instance',
        params: TokenParams,
        response: { 204: NoContent, ...errorResponses('TOKEN_NOT_FOUND') },
      },
    },
    async (request, reply) => {
      const userId = request.user.id
      // Another user's token is "not found" too: the answer must not confirm that a handle exists.
      if (!(await app.accessTokens.revoke(userId, request.params.id))) throw new TokenNotFound()
      app.recordEvent(request, 'token_revoked', { userId, token: request.params.id })
      return reply.code(204).send()
    },
  )
}

export default tokenRoutes
