import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { sql } from 'kysely'
import { StoreUnavailable } from '../errors.js'
import { ALWAYS_ANSWER } from './http/load-shedding.js'
import { errorResponses } from '../schemas/error.js'
import { PUBLIC } from '../schemas/security.js'
import { answer } from '../schemas/components.js'

const Status = Type.Object({ status: Type.Literal('ok') })
// Probes must work whatever the traffic: no rate limit, no session.
const probeConfig = { rateLimit: false } as const

/** How long an answer from a store keeps the instance ready without asking again. */
export const READY_CHECK_TTL_MS = 1000

/**
 * A probe of a store that answers for READY_CHECK_TTL_MS after it succeeded, with one probe in flight at most,
 * whatever the rate of requests; it throws StoreUnavailable when the store does not answer.
 */
export function cachedProbe(probe: () => Promise<unknown>): () => Promise<void> {
  let answeredAt = -Infinity
  let probing: Promise<unknown> | null = null
  return async () => {
    if (Date.now() - answeredAt < READY_CHECK_TTL_MS) return
    probing ??= probe().then(() => (answeredAt = Date.now())).finally(() => (probing = null))
    await probing.catch(() => {
      throw new StoreUnavailable()
    })
  }
}

const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Readiness is asked by balancers, probes and anyone who finds the URL: at most a PING and a SELECT 1 a second.
  const redisAnswers = cachedProbe(() => app.redis.ping())
  const databaseAnswers = cachedProbe(() => sql`SELECT 1`.execute(app.db))
  async function assertStoresReady(): Promise<void> {
    // A lost Redis connection answers at once, without a PING.
    if (app.redis.status !== 'ready') throw new StoreUnavailable()
    await Promise.all([redisAnswers(), databaseAnswers()])
  }

  app.get(
    '/live',
    {
      // Alive even when overloaded: shedding load is no reason to restart the process.
      config: { ...probeConfig, ...ALWAYS_ANSWER },
      schema: { operationId: 'checkLiveness', summary: 'Liveness: 200 while the process runs', tags: ['operations'], security: PUBLIC, response: { 200: answer('The process runs', Status) } },
    },
    async () => ({ status: 'ok' as const }),
  )

  app.get(
    '/ready',
    {
      config: probeConfig,
      schema: {
        operationId: 'checkReadiness',
        security: PUBLIC,
        summary: 'Readiness: 200 when Redis answers PING and PostgreSQL SELECT 1 (each checked at most once a second) and the instance is not overloaded, else 503',
        tags: ['operations'],
        response: { 200: answer('Redis and PostgreSQL answer, and the process is not overloaded', Status), ...errorResponses('STORE_UNAVAILABLE', 'OVERLOADED') },
      },
    },
    async () => {
      await assertStoresReady()
      return { status: 'ok' as const }
    },
  )
}

export default healthRoutes
