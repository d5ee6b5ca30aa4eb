import fp from 'fastify-plugin'
import fastifyRateLimit from '@fastify/rate-limit'
import { RateLimited } from '../../errors.js'
import { declareErrors } from '../../schemas/error.js'
import type { RedisKeys } from '../../lib/keys.js'
import { countingStore } from './rate-limit-store.js'

export interface RateLimitPluginOptions {
  keys: RedisKeys
  max: number
  windowSeconds: number
  /** How often the global counts are added to Redis; 0 counts every request in Redis. */
  syncIntervalMs: number
}

/**
 * A global limit per client IP, counted in Redis so that every instance shares it. Routes tighten it with
 * `config.rateLimit` (login) or opt out with `config: { rateLimit: false }` (health checks).
 * Counting is in src/platform/http/rate-limit-store.ts: the global limit syncs with Redis on an interval, route limits are exact.
 * The client IP is `request.ip`: the socket address unless TRUST_PROXY tells Fastify to believe X-Forwarded-For.
 */
export default fp<RateLimitPluginOptions>(
  async function rateLimitPlugin(app, { keys, max, windowSeconds, syncIntervalMs }) {
    app.addHook('onRoute', (route) => {
      if (route.config?.rateLimit !== false) declareErrors(route, ['RATE_LIMITED'])
    })
    await app.register(fastifyRateLimit, {
      global: true,
      max,
      timeWindow: windowSeconds * 1000,
      store: countingStore({ redis: app.redis, keyPrefix: keys.rateLimitPrefix, syncIntervalMs }),
      // Standard RateLimit-* headers alongside Retry-After on a 429. Not on every success: three headers per
      // response that nearly every client ignores, and the write of each response is a measurable part of its cost.
      enableDraftSpec: true,
      addHeadersOnExceeding: { 'ratelimit-limit': false, 'ratelimit-remaining': false, 'ratelimit-reset': false },
      errorResponseBuilder: (_request, context) => new RateLimited(context.after),
      onExceeded: (request) => app.countRateLimited(request),
    })
  },
  { name: 'rate-limit', dependencies: ['redis'] },
)
