import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { StoreUnavailable } from '../errors.js'
import { ALWAYS_ANSWER } from '../plugins/external/load-shedding.js'
import { errorResponses } from '../schemas/error.js'

const Status = Type.Object({ status: Type.Literal('ok') })
// Probes must work whatever the traffic: no rate limit, no session.
const probeConfig = { rateLimit: false } as const

/** How long a PING that Redis answered keeps the instance ready without another. */
export const READY_CHECK_TTL_MS = 1000

const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Readiness is asked by balancers, probes and anyone who finds the URL: one PING in flight, and none for a second
  // after Redis answered one, whatever the rate of requests. A lost connection answers at once, without a PING.
  let answeredAt = -Infinity
  let pinging: Promise<unknown> | null = null
  async function assertStoreReady(): Promise<void> {
    if (app.redis.status !== 'ready') throw new StoreUnavailable()
    if (Date.now() - answeredAt < READY_CHECK_TTL_MS) return
    pinging ??= app.redis.ping().then(() => (answeredAt = Date.now())).finally(() => (pinging = null))
    await pinging.catch(() => {
      throw new StoreUnavailable()
    })
  }

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
        summary: 'Readiness: 200 when Redis answers PING (checked at most once a second) and the instance is not overloaded, else 503',
        tags: ['operations'],
        response: { 200: Status, ...errorResponses(503) },
      },
    },
    async () => {
      await assertStoreReady()
      return { status: 'ok' as const }
    },
  )
}

export default healthRoutes
