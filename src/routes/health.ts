import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { StoreUnavailable } from '../errors.js'
import { ALWAYS_ANSWER } from '../plugins/external/load-shedding.js'
import { errorResponses } from '../schemas/error.js'

const Status = Type.Object({ status: Type.Literal('ok') })
// Probes must work whatever the traffic: no rate limit, no session.
const probeConfig = { rateLimit: false } as const

const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/live',
    {
      // Alive even when overloaded: shedding load is no reason to restart the process.
      config: { ...probeConfig, ...ALWAYS_ANSWER },
      schema: { summary: 'Liveness: 200 while the process runs', tags: ['operations'], response: { 200: Status } },
    },
    async () => ({ status: 'ok' as const }),
  )

  app.get(
    '/ready',
    {
      config: probeConfig,
      schema: {
        summary: 'Readiness: 200 when Redis answers PING and the instance is not overloaded, else 503',
        tags: ['operations'],
        response: { 200: Status, ...errorResponses(503) },
      },
    },
    async () => {
      try {
        await app.redis.ping()
      } catch {
        throw new StoreUnavailable()
      }
      return { status: 'ok' as const }
    },
  )
}

export default healthRoutes
