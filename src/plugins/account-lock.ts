import fp from 'fastify-plugin'
import type { RedisClient } from './redis.js'
import { redisKeys } from '../lib/keys.js'

declare module 'fastify' {
  interface FastifyInstance {
    accountLock: AccountLock
  }
}

export interface AccountLock {
  /** Milliseconds until the account name may try again, or 0. */
  lockedFor(username: string): Promise<number>
  recordFailure(username: string): Promise<void>
  reset(username: string): Promise<void>
}

export interface AccountLockOptions {
  redis: RedisClient
  keyPrefix: string
  /** Failures before the first lock. */
  threshold: number
  /** The first lock; each further failure doubles it, up to maxLockMs. */
  baseLockMs: number
  maxLockMs: number
}

/** After the last failure, the count is forgotten once the longest lock has passed twice over. */
const forgetAfterMs = (maxLockMs: number) => 2 * maxLockMs

// One key per account name, so it works unchanged on a Redis Cluster.
const RECORD_FAILURE_SCRIPT = `
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local threshold = tonumber(ARGV[1])
if failures >= threshold then
  local lock = math.min(tonumber(ARGV[2]) * 2 ^ (failures - threshold), tonumber(ARGV[3]))
  redis.call('HSET', KEYS[1], 'lockedUntil', tonumber(ARGV[4]) + lock)
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return failures
`

/** Per-account failed-login counter: credential stuffing from many IPs still locks the account it targets. */
export function createAccountLock({ redis, keyPrefix, threshold, baseLockMs, maxLockMs }: AccountLockOptions): AccountLock {
  const keys = redisKeys(keyPrefix)
  return {
    async lockedFor(username) {
      const lockedUntil = Number(await redis.hget(keys.loginFailures(username), 'lockedUntil'))
      return Math.max(0, lockedUntil - Date.now())
    },
    async recordFailure(username) {
      const args = [threshold, baseLockMs, maxLockMs, Date.now(), forgetAfterMs(maxLockMs)]
      await redis.eval(RECORD_FAILURE_SCRIPT, 1, keys.loginFailures(username), ...args)
    },
    async reset(username) {
      await redis.del(keys.loginFailures(username))
    },
  }
}

export default fp<Omit<AccountLockOptions, 'redis'>>(
  async function accountLockPlugin(app, options) {
    app.decorate('accountLock', createAccountLock({ ...options, redis: app.redis }))
  },
  { name: 'account-lock', dependencies: ['redis'] },
)
