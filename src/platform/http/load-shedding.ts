import fp from 'fastify-plugin'
import underPressure from '@fastify/under-pressure'
import { Overloaded } from '../../errors.js'
import { declareErrors } from '../../schemas/error.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Per-route override of what happens under pressure (see ALWAYS_ANSWER). */
    pressureHandler?: () => undefined
  }
}

export interface LoadSheddingOptions {
  /** Mean event-loop delay (ms) above which requests are refused; 0 turns load shedding off. */
  maxEventLoopDelayMs: number
}

/** Seconds an overloaded instance asks clients to wait. */
const OVERLOAD_RETRY_AFTER_SECONDS = 5

/** Route config that keeps answering under pressure: liveness and metrics must not fail because the loop is busy. */
export const ALWAYS_ANSWER = { pressureHandler: () => undefined } as const

/**
 * Refuses requests with 503 OVERLOADED while the event loop lags (@fastify/under-pressure), so a saturated instance
 * sheds load quickly instead of answering everything late; /health/ready answers 503 too, so a balancer routes around it.
 */
export default fp<LoadSheddingOptions>(
  async function loadSheddingPlugin(app, { maxEventLoopDelayMs }) {
    if (maxEventLoopDelayMs === 0) return
    app.addHook('onRoute', (route) => {
      if (!route.config?.pressureHandler) declareErrors(route, ['OVERLOADED'])
    })
    await app.register(underPressure, {
      maxEventLoopDelay: maxEventLoopDelayMs,
      pressureHandler: async (_request, reply) => {
        reply.header('retry-after', OVERLOAD_RETRY_AFTER_SECONDS)
        throw new Overloaded()
      },
    })
  },
  { name: 'load-shedding' },
)
