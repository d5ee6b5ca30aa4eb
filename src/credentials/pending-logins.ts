import { randomBytes } from 'node:crypto'
import fp from 'fastify-plugin'
import type { Result } from 'ioredis'
import { handleOf, type RedisKeys } from '../lib/keys.js'
import { defineScripts, scanKeys, type RedisClient } from '../platform/redis/client.js'
import { isLoginTransport, type LoginTransport } from '../schemas/auth.js'

declare module 'fastify' {
  interface FastifyInstance {
    pendingLogins: PendingLogins
  }
}

/** What a correct password leaves for the second step of a login: who, and how the session is to be delivered. */
export interface PendingLogin {
  userId: string
  username: string
  remember: boolean
  transport: LoginTransport
  /** The user's login epoch when the password was checked: a change of it since then voids the login. */
  loginEpoch: number
}

export interface PendingLogins {
  /** Records a login waiting for its second factor; its ID goes to the client (a cookie, or mfaToken in the answer). */
  start(login: PendingLogin): Promise<{ id: string; expiresAt: number }>
  /** The pending login an ID names, or null when there is none (never started, expired, completed, given up). */
  find(id: string): Promise<PendingLogin | null>
  /** Counts a wrong code; after the last allowed one the pending login ends (the password must be given again). */
  recordFailure(id: string): Promise<void>
  /** Ends it for good; true for the one caller that ended it (of two concurrent completions, one wins). */
  claim(id: string): Promise<boolean>
  /** Ends every pending login of the user: for a deleted account (a pending login is found by its ID, not its user). */
  forgetUser(userId: string): Promise<void>
}

export interface PendingLoginsOptions {
  keys: RedisKeys
}

/** Long enough to open an authenticator app, short enough that a stolen pending ID is soon worthless. */
export const PENDING_LOGIN_TTL_MS = 5 * 60_000
/** Wrong codes one pending login may take; the account lock counts them too. */
export const PENDING_LOGIN_MAX_FAILURES = 5
const ID_BYTES = 32
const MAX_ID_LENGTH = 64

// ARGV: failures allowed.
const RECORD_FAILURE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HINCRBY', KEYS[1], 'failures', 1) >= tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) end
return 1
`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    recordPendingLoginFailure(key: string, allowed: number): Result<number, Context>
  }
}

/**
 * Logins waiting for a second factor: one Redis hash each, under the handle (SHA-256) of a random ID (Redis holds nothing a
 * client could present), living five minutes. It is not a session: no guarded route reads it, so it grants nothing.
 * Single-key steps: a failure is counted atomically; completing deletes the hash, and only the request whose DEL
 * found it goes on to create the session.
 */
export function createPendingLogins(redis: RedisClient, options: PendingLoginsOptions): PendingLogins {
  const { keys } = options
  const keyOf = (id: string) => keys.pendingLogin(handleOf(id))
  defineScripts(redis, { recordPendingLoginFailure: { numberOfKeys: 1, lua: RECORD_FAILURE_SCRIPT } })

  return {
    async start(login) {
      const id = randomBytes(ID_BYTES).toString('base64url')
      const fields = { ...login, remember: String(login.remember), loginEpoch: String(login.loginEpoch) }
      await redis.multi().hset(keyOf(id), fields).pexpire(keyOf(id), PENDING_LOGIN_TTL_MS).exec()
      return { id, expiresAt: Date.now() + PENDING_LOGIN_TTL_MS }
    },
    async find(id) {
      if (id.length > MAX_ID_LENGTH) return null
      const { userId, username, remember, transport, loginEpoch } = await redis.hgetall(keyOf(id))
      if (!userId || !username || !isLoginTransport(transport)) return null
      return { userId, username, remember: remember === 'true', transport, loginEpoch: Number(loginEpoch) }
    },
    async recordFailure(id) {
      await redis.recordPendingLoginFailure(keyOf(id), PENDING_LOGIN_MAX_FAILURES)
    },
    async claim(id) {
      return (await redis.del(keyOf(id))) === 1
    },
    async forgetUser(userId) {
      for await (const { key, node } of scanKeys(redis, keys.pendingLogin('*'), 'hash')) {
        if ((await node.hget(key, 'userId')) === userId) await node.del(key)
      }
    },
  }
}

export default fp<PendingLoginsOptions>(
  async function pendingLoginsPlugin(app, options) {
    app.decorate('pendingLogins', createPendingLogins(app.redis, options))
  },
  { name: 'pending-logins', dependencies: ['session'] },
)
