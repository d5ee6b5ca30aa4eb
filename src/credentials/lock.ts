import { randomBytes } from 'node:crypto'
import fp from 'fastify-plugin'
import type { Result } from 'ioredis'
import type { RedisKeys } from '../lib/keys.js'
import { defineScripts, scanKeys, type RedisClient } from '../platform/redis/client.js'

declare module 'fastify' {
  interface FastifyInstance {
    accountLock: AccountLock
  }
}

/**
 * An attempt at an account's credentials may be judged, under this id, if its judging starts by `startBy` (epoch ms);
 * or must wait this long.
 */
export type Admission = { attempt: string; startBy: number } | { retryAfterMs: number }

/**
 * Whose failures an attempt counts with: every client without a device cookie for the account shares one count; a
 * known device (credentials/http.ts) has its own, so that strangers cannot lock it out.
 */
export interface Attempter {
  username: string
  device: string | null
}

/**
 * Per-account failed-attempt counter: credential stuffing from many addresses still locks the account it targets.
 *
 * Concurrency rule: an attempt is admitted (counted as in flight) before its credential is checked and settled after,
 * in one script each on the account's one key. Below the threshold, at most `threshold - failures` attempts are in
 * flight at once; at or above it (once a lock has passed), one. Whatever the concurrency, across instances too, no more
 * attempts are judged than the lock allows: the others wait (429 ACCOUNT_LOCKED, Retry-After) for the outcome of those
 * in flight. An attempt that is never settled (its process died) stops counting after ATTEMPT_TIMEOUT_MS; so that the
 * lock never forgets an attempt still to be judged, one whose judging has not started by `startBy` (half that time,
 * leaving room for the judging itself) is not judged at all (the key derivation refuses it: lib/password.ts).
 */
export interface AccountLock {
  admit(attempter: Attempter): Promise<Admission>
  /** The attempt's outcome: a failure counts toward the lock (and may start one). */
  settle(attempter: Attempter, attempt: string, failed: boolean): Promise<void>
  /** A completed login: the attempter's count starts again (strangers' count stays when a known device logs in). */
  reset(attempter: Attempter): Promise<void>
  /** Forgets every count of the account's name, its devices' included: for a deleted account. */
  forget(username: string): Promise<void>
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
/** Longer than any attempt takes (a key derivation, queued behind others, and a database read). */
export const ATTEMPT_TIMEOUT_MS = 30_000
/** What an attempt refused because others are in flight is told to wait: about how long those take. */
const BUSY_RETRY_MS = 1000

const ATTEMPT_FIELD_PREFIX = 'attempt:'

// One key per account name, so it works unchanged on a Redis Cluster: fields failures, lockedUntil, and one
// attempt:<id> per attempt in flight, valued with its deadline. ARGV: now, threshold, attempt id, deadline, keep ms.
// Answers 0 when admitted, the lock's remaining ms when locked, -1 when the attempts in flight fill the allowance.
const ADMIT_SCRIPT = `
local now = tonumber(ARGV[1])
local lockedUntil = tonumber(redis.call('HGET', KEYS[1], 'lockedUntil') or '0')
if lockedUntil > now then return lockedUntil - now end
local fields = redis.call('HGETALL', KEYS[1])
local inFlight = 0
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, ${ATTEMPT_FIELD_PREFIX.length}) == '${ATTEMPT_FIELD_PREFIX}' then
    if tonumber(fields[i + 1]) <= now then redis.call('HDEL', KEYS[1], fields[i]) else inFlight = inFlight + 1 end
  end
end
local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
if inFlight >= math.max(tonumber(ARGV[2]) - failures, 1) then return -1 end
redis.call('HSET', KEYS[1], '${ATTEMPT_FIELD_PREFIX}' .. ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 0
`

// ARGV: attempt id, 1 when it failed, threshold, base lock, longest lock, now, keep ms.
const SETTLE_SCRIPT = `
redis.call('HDEL', KEYS[1], '${ATTEMPT_FIELD_PREFIX}' .. ARGV[1])
if ARGV[2] ~= '1' then return 0 end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local threshold = tonumber(ARGV[3])
if failures >= threshold then
  local lock = math.min(tonumber(ARGV[4]) * 2 ^ (failures - threshold), tonumber(ARGV[5]))
  redis.call('HSET', KEYS[1], 'lockedUntil', tonumber(ARGV[6]) + lock)
end
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return failures
`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    admitLoginAttempt(key: string, now: number, threshold: number, attempt: string, deadline: number, keepMs: number): Result<number, Context>
    settleLoginAttempt(
      key: string, attempt: string, failed: number, threshold: number, baseLockMs: number, maxLockMs: number, now: number, keepMs: number,
    ): Result<number, Context>
  }
}

export function createAccountLock(redis: RedisClient, { keys, threshold, baseLockMs, maxLockMs }: AccountLockOptions): AccountLock {
  defineScripts(redis, {
    admitLoginAttempt: { numberOfKeys: 1, lua: ADMIT_SCRIPT },
    settleLoginAttempt: { numberOfKeys: 1, lua: SETTLE_SCRIPT },
  })
  const keepMs = forgetAfterMs(maxLockMs)
  const keyOf = ({ username, device }: Attempter) => (device === null ? keys.loginFailures(username) : keys.deviceLoginFailures(username, device))
  return {
    async admit(attempter) {
      const attempt = randomBytes(9).toString('base64url')
      const now = Date.now()
      const answer = await redis.admitLoginAttempt(keyOf(attempter), now, threshold, attempt, now + ATTEMPT_TIMEOUT_MS, keepMs)
      if (answer === 0) return { attempt, startBy: now + ATTEMPT_TIMEOUT_MS / 2 }
      return { retryAfterMs: answer > 0 ? answer : BUSY_RETRY_MS }
    },
    async settle(attempter, attempt, failed) {
      await redis.settleLoginAttempt(keyOf(attempter), attempt, failed ? 1 : 0, threshold, baseLockMs, maxLockMs, Date.now(), keepMs)
    },
    async reset(attempter) {
      await redis.del(keyOf(attempter))
    },
    async forget(username) {
      await redis.del(keys.loginFailures(username))
      for await (const { key, node } of scanKeys(redis, keys.deviceLoginFailures(username, '*'))) await node.del(key)
    },
  }
}

export default fp<AccountLockOptions>(
  async function accountLockPlugin(app, options) {
    app.decorate('accountLock', createAccountLock(app.redis, options))
  },
  { name: 'account-lock', dependencies: ['redis'] },
)
