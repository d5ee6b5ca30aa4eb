import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import type { AppConfig } from './config.js'
import { clientErrorHandler } from './lib/client-error.js'
import { redisKeys } from './lib/keys.js'
import { replicationCheck } from './lib/replication.js'
import { withoutSecrets } from './lib/url-secrets.js'
import accessTokensPlugin from './plugins/app/access-tokens.js'
import answerContractPlugin from './plugins/app/answer-contract.js'
import accountLifecyclePlugin from './plugins/app/account-lifecycle.js'
import accountLockPlugin from './plugins/app/account-lock.js'
import accountRecoveryPlugin from './plugins/app/account-recovery.js'
import authGuardPlugin from './plugins/app/auth-guard.js'
import credentialRateLimitPlugin from './plugins/app/credential-rate-limit.js'
import credentialsPlugin from './plugins/app/credentials.js'
import csrfPlugin from './plugins/app/csrf.js'
import deviceCookiesPlugin from './plugins/app/device-cookies.js'
import errorsPlugin from './plugins/app/errors.js'
import mailPlugin from './plugins/app/mail.js'
import mfaPlugin from './plugins/app/mfa.js'
import pendingLoginsPlugin from './plugins/app/pending-logins.js'
import sessionIndexPlugin from './plugins/app/session-index.js'
import sessionsPlugin from './plugins/app/sessions.js'
import usersPlugin from './plugins/app/users.js'
import corsPlugin from './plugins/external/cors.js'
import databasePlugin from './plugins/external/database.js'
import docsPlugin from './plugins/external/docs.js'
import jobQueuePlugin from './plugins/external/job-queue.js'
import loadSheddingPlugin from './plugins/external/load-shedding.js'
import metricsPlugin from './plugins/external/metrics.js'
import rateLimitPlugin from './plugins/external/rate-limit.js'
import redisPlugin from './plugins/external/redis.js'
import securityHeadersPlugin from './plugins/external/security-headers.js'
import sessionPlugin from './plugins/external/session.js'
import adminRoutes from './routes/admin/index.js'
import apiRoutes from './routes/api/index.js'
import authRoutes from './routes/auth/index.js'
import healthRoutes from './routes/health.js'

export const BODY_LIMIT_BYTES = 1024 * 1024

export interface BuildOptions {
  /** Pino options, or false for none (the default: tests and tools stay quiet). */
  logger?: FastifyServerOptions['logger']
  /** Told of every answer the OpenAPI document does not list for its route (the test suite fails the test). */
  onUndocumentedAnswer?: (problem: string) => void
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
  // The arguments of a Redis command that failed (ioredis puts them on its errors): a password hash, a sealed secret.
  '*.command.args',
  '*.previousErrors[*].command.args',
  // PostgreSQL's detail of a refused row ("Failing row contains (...)") quotes every column: a password hash.
  '*.detail',
]

/**
 * How a request is shown in a log line: Fastify's fields, with the URL's secrets (a mailed link's token) redacted, as
 * paths cannot (the URL is one string).
 */
export const LOG_SERIALIZERS = {
  req: (request: FastifyRequest) => ({
    method: request.method,
    url: withoutSecrets(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  }),
}

/** An X-Request-Id from a proxy or client is kept when it looks like one, so a request can be followed across hops. */
const REQUEST_ID = /^[\w.:-]{1,64}$/

export function requestIdOf(request: IncomingMessage): string {
  const given = request.headers['x-request-id']
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
}

/**
 * Composes the service from its plugins. Resolves once Redis and PostgreSQL are connected and the schema is current;
 * rejects with RedisUnreachableError, DatabaseUnreachableError or SchemaMismatchError otherwise.
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
  const { rateLimit, session } = config

  await app.register(redisPlugin, { connection: config.redis.connection })
  await app.register(errorsPlugin)
  if (options.onUndocumentedAnswer) await app.register(answerContractPlugin, { onUndocumented: options.onUndocumentedAnswer })
  await app.register(loadSheddingPlugin, { maxEventLoopDelayMs: config.maxEventLoopDelayMs })
  await app.register(securityHeadersPlugin)
  // Before every route, so the OpenAPI document lists them all.
  if (config.docsEnabled) await app.register(docsPlugin, { cookieName: session.cookieName })
  // Without allowed origins there is nothing to answer: skip the per-request CORS hook altogether.
  if (config.corsOrigins.length > 0) await app.register(corsPlugin, { origins: config.corsOrigins })
  const { timeouts } = session
  const confirmEnded = replicationCheck(app.redis, config.redis.waitReplicas)
  await app.register(sessionIndexPlugin, {
    keys,
    confirmEnded,
    maxSessionsPerUser: session.maxPerUser,
    longestSessionMs: Math.max(timeouts.standard.absoluteMs, timeouts.remember.absoluteMs),
  })
  const counting = { windowSeconds: rateLimit.windowSeconds, syncIntervalMs: rateLimit.syncIntervalMs }
  // Before metrics, so that its limit applies to GET /metrics too.
  await app.register(rateLimitPlugin, { keys, max: rateLimit.max, ...counting })
  await app.register(metricsPlugin, { token: config.metricsToken, liveSessions: () => app.sessionIndex.countLive() })
  await app.register(databasePlugin, { database: config.database, onQuery: app.observeDatabaseQuery })
  await app.register(credentialRateLimitPlugin, {
    keys,
    perCredential: { max: rateLimit.credentialMax, ...counting },
    perMailAddress: { max: config.mail.perAddressMax, windowSeconds: config.mail.perAddressWindowSeconds },
  })
  await app.register(usersPlugin, { admin: config.admin, hashCost: config.passwordHashCost })
  await app.register(accountLockPlugin, { keys, ...config.accountLock })
  await app.register(mfaPlugin, { secrets: session.secrets, issuer: config.mfaIssuer })
  await app.register(jobQueuePlugin)
  await app.register(mailPlugin, { mail: config.mail, secrets: session.secrets, service: config.mfaIssuer })
  await app.register(healthRoutes, { prefix: '/health' })

  // Only the routes below parse cookies and load sessions.
  await app.register(async function sessionScope(scope) {
    await scope.register(sessionPlugin, { keys, ...session, confirmEnded })
    await scope.register(sessionsPlugin)
    await scope.register(deviceCookiesPlugin, { sessionCookieName: session.cookieName, cookieSecure: session.cookieSecure })
    await scope.register(credentialsPlugin, { requireVerifiedEmail: config.requireVerifiedEmail })
    await scope.register(csrfPlugin, { allowedOrigins: config.corsOrigins })
    await scope.register(accessTokensPlugin, { keys, maxPerUser: config.maxTokensPerUser })
    await scope.register(accountLifecyclePlugin, { keys })
    await scope.register(accountRecoveryPlugin, { mail: config.mail })
    await scope.register(pendingLoginsPlugin, { keys, sessionCookieName: session.cookieName, cookieSecure: session.cookieSecure })
    await scope.register(authGuardPlugin, { freshnessSeconds: config.reauthMaxAgeSeconds })
    const credentialRateLimit = { max: rateLimit.loginMax, timeWindow: rateLimit.loginWindowSeconds * 1000 }
    const { allowRegistration, requireVerifiedEmail } = config
    await scope.register(authRoutes, { prefix: '/auth', allowRegistration, requireVerifiedEmail, credentialRateLimit })
    await scope.register(apiRoutes, { prefix: '/api' })
    await scope.register(adminRoutes, { prefix: '/admin' })
  })

  return app
}
