import { hash } from 'node:crypto'

/** Every Redis key the service writes, in one place, all under the deployment's REDIS_PREFIX. */
export function redisKeys(prefix: string) {
  return {
    /** connect-redis appends sessionKeyId(session ID). */
    sessionPrefix: `${prefix}sess:`,
    /** @fastify/rate-limit appends the route and client IP. */
    rateLimitPrefix: `${prefix}rl:`,
    /** One hash per user under the lower-cased name: usernames are unique regardless of case, in one key. */
    user: (username: string) => `${prefix}user:${username.toLowerCase()}`,
    /** A user's sessions: a sorted set of session handles (sessionKeyId), scored by login time. */
    userSessions: (userId: string) => `${prefix}user-sessions:${userId}`,
    /** A user's personal access tokens: a sorted set of their handles (sessionKeyId), scored by creation time. */
    userTokens: (userId: string) => `${prefix}user-tokens:${userId}`,
    /** Every live session's handle, scored by its expiry: counts live sessions without scanning the keyspace. */
    liveSessions: `${prefix}live-sessions`,
    /** A login waiting for its second factor, under the SHA-256 of the ID its client holds. */
    pendingLogin: (handle: string) => `${prefix}pending-login:${handle}`,
    /** Failed logins of one account name (existing or not), case-insensitive. */
    loginFailures: (username: string) => `${prefix}login-failures:${username.toLowerCase()}`,
  }
}
export type RedisKeys = ReturnType<typeof redisKeys>

/**
 * What a session is stored and logged under: a hash of its ID, so that a Redis dump, a replica, MONITOR output or a
 * log line holds nothing that can be replayed as a cookie.
 */
export function sessionKeyId(sessionId: string): string {
  // The one-shot hash: a third of createHash's cost, and it runs on every request.
  return hash('sha256', sessionId, 'base64url')
}
