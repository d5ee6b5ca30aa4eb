import { randomBytes } from 'node:crypto'
import fp from 'fastify-plugin'
import type { Result } from 'ioredis'
import type { Session } from 'fastify'
import { TokenLimitReached } from '../errors.js'
import { handleOf, type RedisKeys } from '../lib/keys.js'
import { defineScripts, type RedisClient } from '../platform/redis/client.js'
import { encodeFields } from './records.js'
import type { SessionStore } from './store.js'
import { ACCESS_TOKEN_PREFIX, type TokenGrant, type TokenScope, type TokenView } from '../schemas/tokens.js'
import type { SessionUser } from './http.js'

declare module 'fastify' {
  interface FastifyInstance {
    accessTokens: AccessTokens
  }
}

const ID_BYTES = 32

// Lists a token under the cap in one step, so that concurrent creations cannot pass it together; the index lives as
// long as its longest-lived token (an expiry for a new index, else only a later one). ARGV: cap, score, handle, TTL.
const LIST_TOKEN_SCRIPT = `
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4], 'NX')
redis.call('PEXPIRE', KEYS[1], ARGV[4], 'GT')
return 1
`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    listAccessToken(index: string, cap: number, score: number, handle: string, ttlMs: number): Result<number, Context>
  }
}

const DAY_MS = 86_400_000

export interface NewAccessToken {
  name: string
  scopes: TokenScope[]
  expiresInDays: number
}

export interface AccessTokens {
  /** Creates a token for the user; its secret is in the answer and nowhere else. Throws TokenLimitReached. */
  create(user: SessionUser, request: NewAccessToken, origin: { ip: string; userAgent: string }): Promise<TokenView & { token: string }>
  /** The user's live tokens, newest first; entries of tokens that are gone are pruned on the way. */
  list(userId: string): Promise<TokenView[]>
  /** Ends one token of the user; false when the user has no such token. */
  revoke(userId: string, id: string): Promise<boolean>
  /** Ends every token of the user: how many. */
  revokeAll(userId: string): Promise<number>
  /** Drops the user's token list: for a deleted account, once its tokens are revoked. */
  forget(userId: string): Promise<void>
}

export interface AccessTokensOptions {
  keys: RedisKeys
  /** The most tokens a user may hold; 0 lets no one create any. */
  maxPerUser: number
  /** Where the tokens are, with the sessions: every ending goes through it. */
  store: SessionStore
}

/**
 * Personal access tokens are sessions of a kind: a record in the sessions' keyspace (one hash under the SHA-256 of
 * its ID, written per field, never recreated once ended: see sessions/records.ts), so every route, counter and write
 * rule works with them as with a login. What differs: the record carries a `token` grant (name and scopes), its
 * expiry is fixed at creation (a Redis TTL, never slid), its last use is written at most once per touch interval,
 * and it is listed in a sorted set of its own per user, so logging out everywhere, a password change and the
 * per-user session cap leave tokens alone. The secret is the prefixed, signed ID: Redis holds only the hash.
 *
 * Order of steps, as for sessions (sessions/service.ts): listed before created, deleted before unlisted, so a live
 * token is always listed and can always be revoked; a revoke is answered once replicas have it (store.ts), as a logout.
 */
export function createAccessTokens(redis: RedisClient, { keys, maxPerUser, store }: AccessTokensOptions, sign: (sessionId: string) => string): AccessTokens {
  defineScripts(redis, { listAccessToken: { numberOfKeys: 1, lua: LIST_TOKEN_SCRIPT } })
  const recordKey = keys.session

  async function list(userId: string): Promise<TokenView[]> {
    const live = await store.readIndex(keys.userTokens(userId))
    const ttls = await Promise.all(live.map(({ handle }) => redis.pttl(recordKey(handle))))
    const at = (ms: unknown) => (typeof ms === 'number' ? new Date(ms).toISOString() : null)
    return live
      .map(({ handle, score: createdAt, record: { token, lastUsedAt } }, i) => {
        const { name, scopes } = token as TokenGrant
        const expiresAt = new Date(Date.now() + Math.max(ttls[i]!, 0)).toISOString()
        return { id: handle, name, scopes, createdAt: new Date(createdAt).toISOString(), expiresAt, lastUsedAt: at(lastUsedAt) }
      })
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
  }

  async function revoke(userId: string, id: string): Promise<boolean> {
    if ((await redis.zscore(keys.userTokens(userId), id)) === null) return false
    return (await store.endListed(keys.userTokens(userId), [id])).length === 1
  }

  return {
    list,
    revoke,

    async revokeAll(userId) {
      const listed = await redis.zrange(keys.userTokens(userId), 0, -1)
      // An entry whose token is gone stays: it may be a token being created (listed before created), which list() prunes.
      const revoked = await Promise.all(listed.map((id) => revoke(userId, id)))
      return revoked.filter(Boolean).length
    },

    async forget(userId) {
      await redis.del(keys.userTokens(userId))
    },

    async create(user, { name, scopes, expiresInDays }, { ip, userAgent }) {
      // Listing prunes the entries of tokens that are gone, so that the cap counts live ones only.
      await list(user.id)
      const sessionId = randomBytes(ID_BYTES).toString('base64url')
      const handle = handleOf(sessionId)
      const createdAt = Date.now()
      const lifetimeMs = expiresInDays * DAY_MS
      if ((await redis.listAccessToken(keys.userTokens(user.id), maxPerUser, createdAt, handle, lifetimeMs)) === 0) throw new TokenLimitReached()
      const stored: Partial<Session> = { user, createdAt, ip, userAgent, token: { name, scopes } }
      if (!(await store.records.create(recordKey(handle), encodeFields(stored), lifetimeMs))) throw new Error('access token ID clash')
      const iso = (ms: number) => new Date(ms).toISOString()
      const token = ACCESS_TOKEN_PREFIX + sign(sessionId)
      return { id: handle, name, scopes, createdAt: iso(createdAt), expiresAt: iso(createdAt + lifetimeMs), lastUsedAt: null, token }
    },
  }
}

export default fp<AccessTokensOptions>(
  async function accessTokensPlugin(app, options) {
    app.decorate('accessTokens', createAccessTokens(app.redis, options, app.sessionCookie.sign))
  },
  { name: 'access-tokens', dependencies: ['session'] },
)
