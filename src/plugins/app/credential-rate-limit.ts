import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { RateLimited } from '../../errors.js'
import { sessionHandle } from '../../lib/session-store.js'
import type { RedisKeys } from '../../lib/keys.js'
import { countingStore } from '../../lib/rate-limit-store.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Counts a request against its session's or access token's own limit: 429 RATE_LIMITED beyond it. */
    limitCredential(request: FastifyRequest, reply: FastifyReply): Promise<void>
  }
}

export interface CredentialRateLimitOptions {
  keys: RedisKeys
  max: number
  windowSeconds: number
  /** As for the global limit: counted locally, added to Redis this often; 0 counts every request in Redis. */
  syncIntervalMs: number
}

/**
 * A limit per credential (session or personal access token) on top of the per-IP one, so that one leaked token, or
 * one runaway script, cannot spend the budget of everyone behind the same address. @fastify/rate-limit runs one
 * limit per request (a second one would see it has run and pass), so this one calls the same counting store
 * directly, in the same synced mode as the global limit: no Redis round trip on the request path.
 */
export default fp<CredentialRateLimitOptions>(
  async function credentialRateLimitPlugin(app, { keys, max, windowSeconds, syncIntervalMs }) {
    const Store = countingStore({ redis: app.redis, keyPrefix: keys.credentialRateLimitPrefix, syncIntervalMs })
    // The options the plugin would pass are for its own stores; ours is bound to what it needs.
    const store = new Store({})
    const windowMs = windowSeconds * 1000
    app.decorate('limitCredential', async (request: FastifyRequest, reply: FastifyReply) => {
      // The handle (the hash the session is stored under), never the ID itself: a Redis key must hold no credential.
      const handle = sessionHandle(request.session)
      const { current, ttl } = await new Promise<{ current: number; ttl: number }>((resolve, reject) =>
        store.incr(handle, (error, result) => (error || !result ? reject(error ?? new Error('no count')) : resolve(result)), windowMs, max))
      if (current <= max) return
      const resetSeconds = Math.max(1, Math.ceil(ttl / 1000))
      reply.headers({ 'ratelimit-limit': max, 'ratelimit-remaining': 0, 'ratelimit-reset': resetSeconds, 'retry-after': resetSeconds })
      app.countRateLimited(request)
      throw new RateLimited(`${resetSeconds} seconds`)
    })
  },
  { name: 'credential-rate-limit', dependencies: ['metrics'] },
)
