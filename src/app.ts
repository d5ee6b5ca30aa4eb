import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { AppConfig } from './config.js'
import { clientErrorHandler } from './lib/client-error.js'
import { redisKeys } from './lib/keys.js'
import { replicationCheck } from './lib/replication.js'
import accessTokensPlugin from './plugins/access-tokens.js'
import accountLockPlugin from './plugins/account-lock.js'
import authGuardPlugin from './plugins/auth-guard.js'
import corsPlugin from './plugins/cors.js'
import credentialRateLimitPlugin from './plugins/credential-rate-limit.js'
import csrfPlugin from './plugins/csrf.js'
import docsPlugin from './plugins/docs.js'
import errorsPlugin from './plugins/errors.js'
import loadSheddingPlugin from './plugins/load-shedding.js'
import metricsPlugin from './plugins/metrics.js'
import mfaPlugin from './plugins/mfa.js'
import pendingLoginsPlugin from './plugins/pending-logins.js'
import rateLimitPlugin from './plugins/rate-limit.js'
import redisPlugin from './plugins/redis.js'
import securityHeadersPlugin from './plugins/security-headers.js'
import sessionPlugin from './plugins/session.js'
import sessionIndexPlugin from './plugins/session-index.js'
import usersPlugin from './plugins/users.js'
import adminRoutes from './routes/admin/index.js'
import apiRoutes from './routes/api/index.js'
import authRoutes from './routes/auth/index.js'
import mfaRoutes from './routes/auth/mfa.js'
import secondFactorRoutes from './routes/auth/second-factor.js'
import tokenRoutes from './routes/auth/tokens.js'
import healthRoutes from './routes/health.js'

export const BODY_LIMIT_BYTES = 1024 * 1024

export interface BuildOptions {
  /** Pino options, or false for none (the default: tests and tools stay quiet). */
  logger?: FastifyServerOptions['logger']
}

/** Headers and fields that must never reach a log line. */
export const REDACTED_LOG_PATHS = [
  'req.headers.cookie',
  'req.headers.authorization',
  'res.headers["set-cookie"]',
  '*.password',
  '*.currentPassword',
  '*.newPassword',
  '*.passwordHash',
  // Two-factor secrets: a TOTP seed, recovery codes, a pending login's ID.
  '*.secret',
  '*.totpSecret',
  '*.recoveryCodes',
  '*.mfaToken',
]

/** An X-Request-Id from a proxy or client is kept when it looks like one, so a request can be followed across hops. */
const REQUEST_ID = /^[\w.:-]{1,64}$/

export function requestIdOf(request: IncomingMessage): string {
  const given = request.headers['x-request-id']
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
}

/**
 * Composes the service from its plugins. Resolves once Redis is connected; rejects with RedisUnreachableError
 * when it is not.
 */
export async function buildApp(config: AppConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    trustProxy: config.trustProxy,
    bodyLimit: BODY_LIMIT_BYTES,
    clientErrorHandler,
    genReqId: requestIdOf,
    ajv: {
      // Reject what the schema does not describe instead of silently dropping or converting it.
      customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false },
    },
  })
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    done()
  })
  // Bodies are JSON only: anything else is refused with 415 rather than half-parsed.
  app.removeContentTypeParser('text/plain')
  const keys = redisKeys(config.redis.prefix)

  await app.register(redisPlugin, { connection: config.redis.connection })
  await app.register(errorsPlugin)
  await app.register(loadSheddingPlugin, { maxEventLoopDelayMs: config.maxEventLoopDelayMs })
  await app.register(securityHeadersPlugin)
  // Before every route, so the OpenAPI document lists them all.
  if (config.docsEnabled) await app.register(docsPlugin, { cookieName: config.session.cookieName })
  // Without allowed origins there is nothing to answer: skip the per-request CORS hook altogether.
  if (config.corsOrigins.length > 0) await app.register(corsPlugin, { origins: config.corsOrigins })
  const { timeouts } = config.session
  const confirmEnded = replicationCheck(app.redis, config.redis.waitReplicas)
  await app.register(sessionIndexPlugin, {
    confirmEnded,
    keyPrefix: config.redis.prefix,
    maxSessionsPerUser: config.session.maxPerUser,
    longestSessionMs: Math.max(timeouts.standard.absoluteMs, timeouts.remember.absoluteMs),
  })
  await app.register(metricsPlugin, {
    redis: app.redis,
    token: config.metricsToken,
    liveSessions: () => app.sessionIndex.countLive(),
  })
  await app.register(rateLimitPlugin, {
    redis: app.redis,
    keyPrefix: keys.rateLimitPrefix,
    max: config.rateLimit.max,
    windowSeconds: config.rateLimit.windowSeconds,
    syncIntervalMs: config.rateLimit.syncIntervalMs,
  })
  await app.register(credentialRateLimitPlugin, {
    redis: app.redis,
    keyPrefix: keys.rateLimitPrefix,
    max: config.rateLimit.credentialMax,
    windowSeconds: config.rateLimit.windowSeconds,
    syncIntervalMs: config.rateLimit.syncIntervalMs,
  })
  await app.register(usersPlugin, { keyPrefix: config.redis.prefix, admin: config.admin })
  await app.register(accountLockPlugin, { keyPrefix: config.redis.prefix, ...config.accountLock })
  await app.register(mfaPlugin, { keyPrefix: config.redis.prefix, secrets: config.session.secrets, issuer: config.mfaIssuer })
  await app.register(healthRoutes, { prefix: '/health' })

  // Only the routes below parse cookies and load sessions.
  await app.register(async function sessionScope(scope) {
    await scope.register(sessionPlugin, {
      redis: app.redis,
      keyPrefix: keys.sessionPrefix,
      ...config.session,
      confirmEnded,
    })
    await scope.register(csrfPlugin, { allowedOrigins: config.corsOrigins })
    await scope.register(accessTokensPlugin, { redis: app.redis, keyPrefix: config.redis.prefix, maxPerUser: config.maxTokensPerUser })
    await scope.register(pendingLoginsPlugin, {
      keyPrefix: config.redis.prefix,
      sessionCookieName: config.session.cookieName,
      cookieSecure: config.session.cookieSecure,
    })
    await scope.register(authGuardPlugin, { freshnessSeconds: config.reauthMaxAgeSeconds })
    const credentialRateLimit = { max: config.rateLimit.loginMax, timeWindow: config.rateLimit.loginWindowSeconds * 1000 }
    await scope.register(authRoutes, { prefix: '/auth', allowRegistration: config.allowRegistration, credentialRateLimit })
    await scope.register(secondFactorRoutes, { prefix: '/auth', credentialRateLimit })
    await scope.register(mfaRoutes, { prefix: '/auth' })
    await scope.register(tokenRoutes, { prefix: '/auth' })
    await scope.register(apiRoutes, { prefix: '/api' })
    await scope.register(adminRoutes, { prefix: '/admin' })
  })

  return app
}
