import fp from 'fastify-plugin'
import type { Result } from 'ioredis'
import type { RedisKeys } from '../../lib/keys.js'
import { defineScripts, type RedisClient } from '../../lib/redis-client.js'

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
  keys: RedisKeys
  /** Failures before the first lock. */
  threshold: number
  /** The first lock; each further failure doubles it, up to maxLockMs. */
  baseLockMs: number
  maxLockMs: number
}

/** After the last failure, the count is forgotten once the longest lock has passed twice over. */
const forgetAfterMs = (maxLockMs: number) => 2 * maxLockMs

// One key per account name, so it works unchanged on a Redis Cluster. ARGV: threshold, base lock, longest lock, now,
// how long the count is kept.
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

declare module 'ioredis' {
  interface RedisCommander<Context> {
    recordLoginFailure(key: string, threshold: number, baseLockMs: number, maxLockMs: number, now: number, keepMs: number): Result<number, Context>
  }
}

/** Per-account failed-login counter: credential stuffing from many IPs still locks the account it targets. */
export function createAccountLock(redis: RedisClient, { keys, threshold, baseLockMs, maxLockMs }: AccountLockOptions): AccountLock {
  defineScripts(redis, { recordLoginFailure: { numberOfKeys: 1, lua: RECORD_FAILURE_SCRIPT } })
  return {
    async lockedFor(username) {
      const lockedUntil = Number(await redis.hget(keys.loginFailures(username), 'lockedUntil'))
      return Math.max(0, lockedUntil - Date.now())
    },
    async recordFailure(username) {
      await redis.recordLoginFailure(keys.loginFailures(username), threshold, baseLockMs, maxLockMs, Date.now(), forgetAfterMs(maxLockMs))
    },
    async reset(username) {
      await redis.del(keys.loginFailures(username))
    },
  }
}

export default fp<AccountLockOptions>(
  async function accountLockPlugin(app, options) {
    app.decorate('accountLock', createAccountLock(app.redis, options))
  },
  { name: 'account-lock', dependencies: ['redis'] },
)
