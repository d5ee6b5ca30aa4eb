/** Every Redis key the service writes, in one place, all under the deployment's REDIS_PREFIX. */
export function redisKeys(prefix: string) {
  return {
    /** connect-redis appends the session ID. */
    sessionPrefix: `${prefix}sess:`,
    /** @fastify/rate-limit appends the route and client IP. */
    rateLimitPrefix: `${prefix}rl:`,
    user: (id: string) => `${prefix}user:${id}`,
    /** Unique, case-insensitive: maps a lower-cased username to the user's id. */
    usernameIndex: (username: string) => `${prefix}username:${username.toLowerCase()}`,
  }
}
export type RedisKeys = ReturnType<typeof redisKeys>
