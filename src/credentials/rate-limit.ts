import { createHash } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { RateLimited } from '../errors.js'
import { sessionHandle } from '../sessions/fastify-store.js'
import type { RedisKeys } from '../lib/keys.js'
import { countingStore } from '../platform/http/rate-limit-store.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Counts a request against its session's or access token's own limit: 429 RATE_LIMITED beyond it. */
    limitCredential(request: FastifyRequest, reply: FastifyReply): Promise<void>
    /**
     * Counts a mail asked for an address (registration, forgot, resend, a new address): 429 RATE_LIMITED beyond its
     * limit.
     */
    limitMailAddress(request: FastifyRequest, reply: FastifyReply, email: string): Promise<void>
    /** Counts one more mail to an address, off the request path (a resend's further links): false beyond its limit. */
    takeMailAllowance(email: string): Promise<boolean>
  }
}

interface Limit {
  max: number
  windowSeconds: number
}

export interface CredentialRateLimitOptions {
  keys: RedisKeys
  perCredential: Limit & {
    /** As for the global limit: counted locally, added to Redis this often; 0 counts every request in Redis. */
    syncIntervalMs: number
  }
  /** Counted exactly: a few mails an hour, where a count lost between syncs would matter. */
  perMailAddress: Limit
}

/** The count of `key` in its window once one more is added, and the window's remaining ms. */
type Count = (key: string) => Promise<{ current: number; ttl: number }>
type Counter = (request: FastifyRequest, reply: FastifyReply, key: string) => Promise<void>

/** Counts on `key` in the same counting store as the global limit. */
function count(app: FastifyInstance, keyPrefix: string, { max, windowSeconds }: Limit, syncIntervalMs: number): Count {
  const Store = countingStore({ redis: app.redis, keyPrefix, syncIntervalMs })
  // The options the plugin would pass are for its own stores; ours is bound to what it needs.
  const store = new Store({})
  const windowMs = windowSeconds * 1000
  return (key) =>
    new Promise((resolve, reject) =>
      store.incr(key, (error, result) => (error || !result ? reject(error ?? new Error('no count')) : resolve(result)), windowMs, max))
}

/** A limit on a count: 429 RATE_LIMITED with the standard headers beyond it. */
function counter(app: FastifyInstance, counted: Count, max: number): Counter {
  return async (request, reply, key) => {
    const { current, ttl } = await counted(key)
    if (current <= max) return
    const resetSeconds = Math.max(1, Math.ceil(ttl / 1000))
    reply.headers({ 'ratelimit-limit': max, 'ratelimit-remaining': 0, 'ratelimit-reset': resetSeconds, 'retry-after': resetSeconds })
    app.countRateLimited(request)
    throw new RateLimited(`${resetSeconds} seconds`)
  }
}

/** A Redis key holds no address: the SHA-256 of the address in any letter case. */
const addressKey = (email: string) => createHash('sha256').update(email.toLowerCase()).digest('base64url')

/**
 * Limits on top of the per-IP one. Per credential (session or personal access token), so that one leaked token, or
 * one runaway script, cannot spend the budget of everyone behind the same address. Per mail address, so that no
 * one can flood a mailbox from many addresses. @fastify/rate-limit runs one limit per request (a second one would
 * see it has run and pass), so these call the same counting store directly.
 */
export default fp<CredentialRateLimitOptions>(
  async function credentialRateLimitPlugin(app, { keys, perCredential, perMailAddress }) {
    const credentialLimit = counter(app, count(app, keys.credentialRateLimitPrefix, perCredential, perCredential.syncIntervalMs), perCredential.max)
    const mailsTo = count(app, keys.mailAddressRateLimitPrefix, perMailAddress, 0)
    const addressLimit = counter(app, mailsTo, perMailAddress.max)
    // The handle (the hash the session is stored under), never the ID itself: a Redis key must hold no credential.
    app.decorate('limitCredential', (request: FastifyRequest, reply: FastifyReply) => credentialLimit(request, reply, sessionHandle(request.session)))
    app.decorate('limitMailAddress', (request: FastifyRequest, reply: FastifyReply, email: string) => addressLimit(request, reply, addressKey(email)))
    app.decorate('takeMailAllowance', async (email: string) => (await mailsTo(addressKey(email))).current <= perMailAddress.max)
  },
  { name: 'credential-rate-limit', dependencies: ['metrics'] },
)
