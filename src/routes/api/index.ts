import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { CountResponse, DashboardResponse } from '../../schemas/api.js'
import { errorResponses } from '../../schemas/error.js'

/** Everything under /api needs a logged-in session: the guard runs before every handler of this prefix. */
const apiRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('preHandler', app.requireSession)

  app.get(
    '/dashboard',
    { schema: { response: { 200: DashboardResponse, ...errorResponses(401, 429, 503) } } },
    async (request) => ({ message: `Welcome ${request.session.user?.username}` }),
  )

  app.post(
    '/count',
    { schema: { response: { 200: CountResponse, ...errorResponses(401, 429, 503) } } },
    async (request) => {
      const views = (request.session.views ?? 0) + 1
      request.session.views = views
      return { views }
    },
  )
}

export default apiRoutes
