import { randomBytes } from 'node:crypto'
import fp from 'fastify-plugin'
import type { Result } from 'ioredis'
import { handleOf, type RedisKeys } from '../lib/keys.js'
import { secretBox } from '../lib/secret-box.js'
import { defineScripts, type RedisClient } from '../platform/redis/client.js'
import { decodeFields, EXPIRY_FIELD, STORE_FIELD_MARK } from './records.js'

declare module 'fastify' {
  interface FastifyInstance {
    refreshFamilies: RefreshFamilies
  }
}

/** Lets secret scanners recognise a refresh token; the rest is the session's handle and two secrets. */
export const REFRESH_TOKEN_PREFIX = 'rsa_rt_'
const REFRESH_TOKEN = /^rsa_rt_([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/
/** 128 bits name the family (shared by its tokens), 256 the generation. */
const FAMILY_BYTES = 16
const GENERATION_BYTES = 32

/** The family's fields on its session's hash (store fields: see records.ts). */
const FIELDS = {
  family: `${STORE_FIELD_MARK}rf`,
  current: `${STORE_FIELD_MARK}rt`,
  previous: `${STORE_FIELD_MARK}rp`,
  rotatedAt: `${STORE_FIELD_MARK}rr`,
  retryAnswer: `${STORE_FIELD_MARK}rs`,
}

// Makes an existing session a refresh family. ARGV: the family's hash, the first token's hash.
const BEGIN_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], '${FIELDS.family}', ARGV[1], '${FIELDS.current}', ARGV[2])
return 1
`

// The one step of a rotation (see RefreshFamilies). ARGV: the family's hash, the presented token's hash, the next
// token's hash, the next answer (sealed under the presented token), the reuse window in ms. Redis's clock decides the
// window, so that instances whose clocks differ agree.
const ROTATE_SCRIPT = `
local f = redis.call('HMGET', KEYS[1], '${FIELDS.family}', '${FIELDS.current}', '${FIELDS.previous}', '${FIELDS.rotatedAt}', '${FIELDS.retryAnswer}')
if f[1] ~= ARGV[1] then return {0} end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if f[2] == ARGV[2] then
  redis.call('HSET', KEYS[1], '${FIELDS.current}', ARGV[3], '${FIELDS.previous}', ARGV[2], '${FIELDS.rotatedAt}', now, '${FIELDS.retryAnswer}', ARGV[4])
  return {1}
end
if f[3] == ARGV[2] and now - tonumber(f[4]) <= tonumber(ARGV[5]) then return {2, f[5]} end
return {3}
`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    beginRefreshFamily(key: string, familyHash: string, tokenHash: string): Result<number, Context>
    rotateRefreshToken(
      key: string, familyHash: string, tokenHash: string, nextHash: string, sealedAnswer: string, windowMs: number,
    ): Result<[number, string?], Context>
  }
}

/** A refresh token taken apart: the session it belongs to and what proves it. */
interface ParsedToken {
  token: string
  handle: string
  familyHash: string
}

/** A family a presented token belongs to: its session, as stored. */
export interface RefreshFamily {
  handle: string
  session: Record<string, unknown>
  /** When the session ends unless used (epoch milliseconds). */
  expiresAt: number
  /** Whether the token is the family's current one (not spent). */
  current: boolean
}

/** What a rotation came to: see RefreshFamilies.rotate. */
export type Rotation<Answer> =
  | { outcome: 'rotated'; answer: Answer }
  | { outcome: 'retried'; answer: Answer }
  | { outcome: 'reused' }
  | { outcome: 'unknown' }

const hashOf = (secret: string) => handleOf(secret)
const retryBox = (token: string) => secretBox([token], 'refresh retry')

/**
 * Refresh tokens. A family is a session (a login with `transport: "jwt"`): its fields sit on the session's hash, so
 * that every way a session ends (logout, revoke, a password change, a disable, the cap) ends the family in the same
 * step, and the family lives by the session's idle and absolute timeouts. Redis holds only hashes of the tokens.
 *
 * Concurrency: a rotation is one script on the session's key, a compare-and-set of the current token's hash, so that
 * on every instance at once exactly one rotation of a token wins. The winner stores its answer sealed under the token
 * it spent (only that token's holders can open it): a retry of that token within the reuse window gets the identical
 * answer, so clients that refresh in parallel are not punished, and no second branch of the family is ever made. Any
 * other presentation of a spent token (after the window, or one generation further back) is a reuse: the caller
 * ends the session. A token of another family, or of none, changes nothing.
 */
export interface RefreshFamilies {
  /** Makes the session `handle` a family: its first refresh token, or null when the session is gone. */
  begin(handle: string): Promise<string | null>
  /** The family `token` names and proves it belongs to (whether spent or not), or null. */
  find(token: string): Promise<RefreshFamily | null>
  /**
   * Spends `token` for `next` (its successor and the answer that carries it, made by the caller from the family),
   * with a retry within `reuseWindowMs` answered what the first rotation answered.
   */
  rotate<Answer>(token: string, next: { refreshToken: string; answer: Answer }, reuseWindowMs: number): Promise<Rotation<Answer>>
  /** A successor for a token of `handle`'s family (the token itself changes nothing until rotate). */
  successor(token: string): string
}

function parse(token: string): ParsedToken | null {
  const match = REFRESH_TOKEN.exec(token)
  return match === null ? null : { token, handle: match[1]!, familyHash: hashOf(match[2]!) }
}

function makeToken(handle: string, family: string): string {
  return `${REFRESH_TOKEN_PREFIX}${handle}.${family}.${randomBytes(GENERATION_BYTES).toString('base64url')}`
}

export function createRefreshFamilies(redis: RedisClient, keys: RedisKeys): RefreshFamilies {
  defineScripts(redis, {
    beginRefreshFamily: { numberOfKeys: 1, lua: BEGIN_SCRIPT },
    rotateRefreshToken: { numberOfKeys: 1, lua: ROTATE_SCRIPT },
  })

  return {
    async begin(handle) {
      const family = randomBytes(FAMILY_BYTES).toString('base64url')
      const token = makeToken(handle, family)
      return (await redis.beginRefreshFamily(keys.session(handle), hashOf(family), hashOf(token))) === 1 ? token : null
    },

    async find(token) {
      const parsed = parse(token)
      if (parsed === null) return null
      const fields = await redis.hgetall(keys.session(parsed.handle))
      if (fields[FIELDS.family] !== parsed.familyHash) return null
      const current = fields[FIELDS.current] === hashOf(token)
      return { handle: parsed.handle, session: decodeFields(fields), expiresAt: Number(fields[EXPIRY_FIELD]), current }
    },

    successor(token) {
      const [handle, family] = token.slice(REFRESH_TOKEN_PREFIX.length).split('.')
      return makeToken(handle!, family!)
    },

    async rotate(token, next, reuseWindowMs) {
      const parsed = parse(token)
      if (parsed === null) return { outcome: 'unknown' }
      const sealed = retryBox(token).seal(JSON.stringify(next.answer))
      const key = keys.session(parsed.handle)
      const [result, retryAnswer] = await redis.rotateRefreshToken(key, parsed.familyHash, hashOf(token), hashOf(next.refreshToken), sealed, reuseWindowMs)
      if (result === 1) return { outcome: 'rotated', answer: next.answer }
      if (result === 3) return { outcome: 'reused' }
      const opened = result === 2 && retryAnswer !== undefined ? retryBox(token).open(retryAnswer) : null
      return opened === null ? { outcome: 'unknown' } : { outcome: 'retried', answer: JSON.parse(opened.plaintext) as Awaited<typeof next.answer> }
    },
  }
}

export default fp<{ keys: RedisKeys }>(
  async function refreshFamiliesPlugin(app, { keys }) {
    app.decorate('refreshFamilies', createRefreshFamilies(app.redis, keys))
  },
  { name: 'refresh-families', dependencies: ['redis'] },
)
