import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Forbidden } from '../../errors.js'
import { answer } from '../../schemas/components.js'
import { errorResponses } from '../../schemas/error.js'
import { VerifiedUser, VerifyQuery } from '../../schemas/jwt.js'
import { SESSION_SECURITY } from '../../schemas/security.js'

/**
 * GET /auth/verify: forward authentication for a proxy (nginx auth_request, Traefik ForwardAuth, Caddy forward_auth),
 * which passes the request's cookie or Authorization header here and lets the request through on 200, with the user in
 * X-User-Id, X-User-Name and X-User-Roles for the upstream. Any credential the service accepts will do: a session
 * cookie, a bearer session, a personal access token (it needs the read scope) or a JWT access token.
 */
const verifyRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.guardRoutes(app.requireUser)

  app.get(
    '/verify',
    {
      schema: {
        operationId: 'verifyRequest',
        summary: 'Forward auth: 200 with X-User-Id, X-User-Name and X-User-Roles for a valid credential (with ?role=, only for a user who has that role), 401 otherwise',
        tags: ['auth'],
        security: SESSION_SECURITY,
        querystring: VerifyQuery,
        response: { 200: answer('The credential is valid: the user, also in the X-User-* headers', VerifiedUser), ...errorResponses('FORBIDDEN') },
      },
    },
    async (request, reply) => {
      const { user } = request
      if (request.query.role !== undefined && !user.roles.includes(request.query.role)) throw new Forbidden()
      reply.headers({ 'x-user-id': user.id, 'x-user-name': user.username, 'x-user-roles': user.roles.join(',') })
      return { user: { id: user.id, username: user.username, roles: user.roles } }
    },
  )
}

export default verifyRoutes
