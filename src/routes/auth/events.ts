import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { OwnEventsQuery, SecurityEventsPage } from '../../schemas/security-events.js'
import { SESSION_SECURITY } from '../../schemas/security.js'
import { answer } from '../../schemas/components.js'
import { eventsPage } from '../events-page.js'

/** GET /auth/events: the signed-in user's own history (a session or an access token with the read scope). */
const eventRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.guardRoutes(app.requireUser)

  app.get(
    '/events',
    {
      schema: {
        operationId: 'listOwnSecurityEvents',
        summary: 'Your security history, newest first, a page at a time: sign-ins (and failed ones), sessions ended, credential and account changes',
        tags: ['auth'],
        security: SESSION_SECURITY,
        querystring: OwnEventsQuery,
        response: { 200: answer('A page of events, and the cursor of the next (null: the last page)', SecurityEventsPage) },
      },
    },
    async (request) => {
      const { type, limit, cursor } = request.query
      return eventsPage(app, { userId: request.user.id, type, cursor }, limit)
    },
  )
}

export default eventRoutes
