import { hash } from 'node:crypto'

/**
 * Every Redis key the service writes, in one place, all under the deployment's REDIS_PREFIX. The object is built once
 * in app.ts and handed to every plugin that owns a key; each key's scripts live in the module that owns it.
 */
export function redisKeys(prefix: string) {
  const sessionPrefix = `${prefix}sess:`
  return {
    /** connect-redis's prefix: a session, or a personal access token, is stored at sessionPrefix + its handle. */
    sessionPrefix,
    session: (handle: string) => sessionPrefix + handle,
    /** @fastify/rate-limit appends the route and client IP. */
    rateLimitPrefix: `${prefix}rl:`,
    /** The limit per session or access token appends its handle. */
    credentialRateLimitPrefix: `${prefix}rl:credential:`,
    /** The limit per mail address appends the SHA-256 of the lower-cased address. */
    mailAddressRateLimitPrefix: `${prefix}rl:mail:`,
    /** Where versions before PostgreSQL kept each account (a hash under the lower-cased name); read only by the import. */
    user: (username: string) => `${prefix}user:${username.toLowerCase()}`,
    /** What reads need of an account, kept from PostgreSQL (accounts/snapshots.ts): a string, its version and data. */
    accountSnapshot: (userId: string) => `${prefix}account:${userId}`,
    /** A user's sessions: a sorted set of session handles, scored by when each was last seen. */
    userSessions: (userId: string) => `${prefix}user-sessions:${userId}`,
    /** A user's personal access tokens: a sorted set of their handles, scored by creation time. */
    userTokens: (userId: string) => `${prefix}user-tokens:${userId}`,
    /**
     * A sorted set of every live session, kept by versions before 0.3 and written by every login and touch of every
     * user: one hot key on one Cluster node. Deleted at start (sessions/user-sessions.ts); sessions are counted without it.
     */
    legacyLiveSessions: `${prefix}live-sessions`,
    /** A login waiting for its second factor, under the handle of the ID its client holds. */
    pendingLogin: (handle: string) => `${prefix}pending-login:${handle}`,
    /** Failed logins of one account name (existing or not), case-insensitive, from clients without a device cookie. */
    loginFailures: (username: string) => `${prefix}login-failures:${username.toLowerCase()}`,
    /** Failed logins of one account name from one known device (credentials/http.ts). */
    deviceLoginFailures: (username: string, device: string) => `${prefix}login-failures:${username.toLowerCase()}:device:${device}`,
  }
}
export type RedisKeys = ReturnType<typeof redisKeys>

/**
 * A session's handle: the hash of its ID that it is stored, listed, counted and logged under, so that a Redis dump, a
 * replica, MONITOR output or a log line holds nothing that can be replayed as a cookie. The API shows it as a
 * session's or token's `id`.
 */
export function handleOf(sessionId: string): string {
  // The one-shot hash: a third of createHash's cost, and it runs on every request.
  return hash('sha256', sessionId, 'base64url')
}
