import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { CountResponse, DashboardResponse, PreferencesChange, PreferencesResponse } from '../../schemas/api.js'
import { SESSION_SECURITY } from '../../schemas/security.js'
import { answer } from '../../schemas/components.js'

/** Everything under /api needs a logged-in session: the guard runs before every handler of this prefix. */
const apiRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.guardRoutes(app.requireUser)

  app.get(
    '/dashboard',
    {
      schema: {
        operationId: 'getDashboard',
        summary: 'A greeting for the logged-in user',
        tags: ['api'],
        security: SESSION_SECURITY,
        response: { 200: answer('A greeting for the signed-in user', DashboardResponse) },
      },
    },
    async (request) => ({ message: `Welcome ${request.user.username}` }),
  )

  app.post(
    '/count',
    {
      schema: {
        operationId: 'countCall',
        summary: 'Count my calls in the session (1 on the first)',
        tags: ['api'],
        security: SESSION_SECURITY,
        response: { 200: answer("This session's count of calls, this one included", CountResponse) },
      },
    },
    // An atomic increment in Redis: exact however many requests of this session run at once, on any instance.
    async (request) => ({ views: await request.incrementSessionField('views') }),
  )

  app.get(
    '/preferences',
    {
      schema: {
        operationId: 'getPreferences',
        summary: 'My display preferences in this session',
        tags: ['api'],
        security: SESSION_SECURITY,
        response: { 200: answer("This session's preferences", PreferencesResponse) },
      },
    },
    async ({ session: { theme, language } }) => ({ preferences: { theme, language } }),
  )

  app.patch(
    '/preferences',
    {
      schema: {
        operationId: 'updatePreferences',
        summary: 'Change my display preferences in this session (the fields given; the others stay)',
        tags: ['api'],
        security: SESSION_SECURITY,
        body: PreferencesChange,
        response: { 200: answer('The preferences as changed', PreferencesResponse) },
      },
    },
    // Each preference is a session field of its own: saved per field, so concurrent changes to different ones
    // both stay, and the same one ends with the last write.
    async ({ session, body }) => {
      Object.assign(session, body)
      return { preferences: { theme: session.theme, language: session.language } }
    },
  )
}

export default apiRoutes
