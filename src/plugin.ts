import ajvCompiler from '@fastify/ajv-compiler'
import type { FastifyInstance, FastifyPluginAsync, FastifySchemaCompiler } from 'fastify'
import fp from 'fastify-plugin'
import { ConfigError, type AppConfig } from './config.js'
import { redisKeys } from './lib/keys.js'
import { NAMED_SCHEMAS } from './schemas/named.js'
import databasePlugin from './platform/database/plugin.js'
import answerContractPlugin from './platform/http/answer-contract.js'
import corsPlugin from './platform/http/cors.js'
import csrfPlugin from './platform/http/csrf.js'
import docsPlugin from './platform/http/docs.js'
import errorsPlugin from './platform/http/error-handler.js'
import rateLimitPlugin from './platform/http/global-rate-limit.js'
import loadSheddingPlugin from './platform/http/load-shedding.js'
import securityHeadersPlugin from './platform/http/security-headers.js'
import webAppPlugin from './platform/http/web-app.js'
import jobQueuePlugin from './platform/job-queue/plugin.js'
import metricsPlugin from './platform/metrics.js'
import redisPlugin from './platform/redis/plugin.js'
import { replicationCheck } from './platform/redis/replication.js'
import mailPlugin, { type MailTransport } from './accounts/mail.js'
import accountSnapshotsPlugin from './accounts/snapshots.js'
import mfaPlugin from './accounts/two-factor.js'
import usersPlugin from './accounts/users.js'
import accessTokensPlugin from './sessions/access-tokens.js'
import sessionPlugin from './sessions/http.js'
import sessionIndexPlugin from './sessions/user-sessions.js'
import sessionsPlugin from './sessions/service.js'
import { createSessionStore } from './sessions/store.js'
import refreshFamiliesPlugin from './sessions/refresh-families.js'
import { accessTokenIssuer } from './tokens/access-tokens.js'
import tokensPlugin from './tokens/plugin.js'
import credentialsPlugin from './credentials/ceremonies.js'
import credentialsHttpPlugin from './credentials/http.js'
import authGuardPlugin from './credentials/guard.js'
import accountLockPlugin from './credentials/lock.js'
import pendingLoginsPlugin from './credentials/pending-logins.js'
import credentialRateLimitPlugin from './credentials/rate-limit.js'
import accountLifecyclePlugin from './lifecycle/account-lifecycle.js'
import accountRecoveryPlugin from './lifecycle/recovery.js'
import securityEventsPlugin from './security-events/plugin.js'
import { WEB_APP_PAGES } from './lib/web-pages.js'
import adminRoutes from './routes/admin/index.js'
import apiRoutes from './routes/api/index.js'
import authRoutes from './routes/auth/index.js'
import jwtRoutes from './routes/auth/jwt.js'
import wellKnownRoutes from './routes/well-known.js'
import healthRoutes from './platform/health.js'
import { hostApi } from './public-api.js'

/** Where the service's route groups are mounted. */
export interface RouteMounts {
  /** Sign-up, login, sessions, tokens, two-factor and recovery: `/auth` unless given. */
  auth?: string
  /** The sample API (`/api/dashboard`, `/api/count`, `/api/preferences`): `/api` unless given; false for none. */
  api?: string | false
  /** The admin API: `/admin` unless given; false for none. */
  admin?: string | false
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Where the service's auth routes are mounted (RouteMounts.auth): `/auth` unless the host chose otherwise. */
    authPrefix: string
  }
}

export interface SessionServiceOptions {
  /** The settings, validated: `loadConfig(settings)`. */
  config: AppConfig
  /** Told of every answer the OpenAPI document does not list for its route (the test suite fails the test). */
  onUndocumentedAnswer?: (problem: string) => void
  /**
   * Your own routes, mounted after the service's where sessions are loaded: the guards (`app.requireUser`,
   * `app.requireRole('admin')`, ...), `request.user` and the services are theirs to use.
   */
  routes?: FastifyPluginAsync
  /** Where the service's route groups are mounted, and which are. */
  mount?: RouteMounts
  /** Sends the service's mail instead of a transport to SMTP_URL (queueing and retries stay the service's). */
  mailTransport?: MailTransport
}

/** Ajv as Fastify runs it, but refusing what a schema does not describe instead of silently dropping or converting it. */
const STRICT_AJV = { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false }, plugins: [] }
const strictCompilers = ajvCompiler()

type AjvCompile = ReturnType<typeof strictCompilers>

function strictValidation(schemas: Record<string, unknown>): FastifySchemaCompiler<Parameters<AjvCompile>[0]['schema']> {
  const compile = strictCompilers(schemas as Parameters<typeof strictCompilers>[0], STRICT_AJV)
  return ({ schema, method, url, httpPart = 'body' }) => compile({ schema, method, url, httpPart })
}

/**
 * The service as a Fastify plugin: the standalone server (src/app.ts) registers it, and so can a host's own instance.
 * Resolves once Redis and PostgreSQL are connected and the schema is current; rejects with RedisUnreachableError,
 * DatabaseUnreachableError or SchemaMismatchError otherwise. Not encapsulated: the service's decorators (`app.redis`,
 * `app.db`, `app.users`, ...), its error handler and its named schemas are the host's.
 */
export default fp<SessionServiceOptions>(
  async function sessionService(app, { config, onUndocumentedAnswer, routes, mount = {}, mailTransport }) {
    // The schemas routes refer to by name: one definition each, for validation, serialization and the OpenAPI document.
    for (const schema of NAMED_SCHEMAS) app.addSchema(schema)
    // Bodies are JSON only: anything else is refused with 415 rather than half-parsed.
    app.removeContentTypeParser('text/plain')
    const keys = redisKeys(config.redis.prefix)
    const { rateLimit, session } = config

    // Platform: connections, errors, HTTP hardening, the global limit, metrics. It knows no concern.
    await app.register(redisPlugin, { connection: config.redis.connection })
    await app.register(errorsPlugin)
    if (onUndocumentedAnswer) await app.register(answerContractPlugin, { onUndocumented: onUndocumentedAnswer })
    await app.register(loadSheddingPlugin, { maxEventLoopDelayMs: config.maxEventLoopDelayMs })
    await app.register(securityHeadersPlugin)
    // Before every route, so the OpenAPI document lists them all.
    if (config.docsEnabled) await app.register(docsPlugin, { cookieName: session.cookieName, metricsTokenRequired: config.metricsToken !== null })
    // Without allowed origins there is nothing to answer: skip the per-request CORS hook altogether.
    if (config.corsOrigins.length > 0) await app.register(corsPlugin, { origins: config.corsOrigins })
    const counting = { windowSeconds: rateLimit.windowSeconds, syncIntervalMs: rateLimit.syncIntervalMs }
    // Before metrics, so that its limit applies to GET /metrics too.
    await app.register(rateLimitPlugin, { keys, max: rateLimit.max, ...counting })
    await app.register(metricsPlugin, { token: config.metricsToken, liveSessions: () => app.sessionIndex.countLive() })
    await app.register(databasePlugin, { database: config.database, onQuery: app.observeDatabaseQuery })
    await app.register(jobQueuePlugin)
    await app.register(healthRoutes, { prefix: '/health' })
    const { auth = '/auth', api = '/api', admin = '/admin' } = mount
    if (config.webApp) {
      // Its pages call the routes where the standalone server has them.
      if (auth !== '/auth' || api !== '/api' || admin !== '/admin') {
        throw new ConfigError('WEB_APP needs the route groups at /auth, /api and /admin, where its pages call them: keep those mounts, or set WEB_APP=false')
      }
      await app.register(webAppPlugin, { secure: config.mail.publicUrl.startsWith('https:') })
    }

    // Accounts: what an account is, in PostgreSQL, and what reads need of it, in Redis.
    const confirmReplicated = replicationCheck(app.redis, config.redis.waitReplicas)
    await app.register(accountSnapshotsPlugin, { keys, confirmWritten: confirmReplicated })
    await app.register(usersPlugin, { admin: config.admin, hashCost: config.passwordHashCost })
    await app.register(mfaPlugin, { secrets: session.secrets, issuer: config.mfaIssuer })
    await app.register(mailPlugin, { mail: config.mail, secrets: session.secrets, service: config.mfaIssuer, transport: mailTransport })
    // On the host's instance, like the token routes beside the session scope: every route's events are kept.
    await app.register(securityEventsPlugin, {
      config: config.securityEvents,
      schema: config.database.schema,
      accountUrl: `${config.mail.publicUrl}${WEB_APP_PAGES.account}`,
    })

    // Sessions: one store owns their keys and every ending.
    const { timeouts } = session
    const sessionStore = createSessionStore(app.redis, { keys, confirmEnded: confirmReplicated })
    await app.register(sessionIndexPlugin, {
      keys,
      store: sessionStore,
      maxSessionsPerUser: session.maxPerUser,
      longestSessionMs: Math.max(timeouts.standard.absoluteMs, timeouts.remember.absoluteMs),
    })
    // Credentials that need no session: per-credential limits and the account lock.
    await app.register(credentialRateLimitPlugin, {
      keys,
      perCredential: { max: rateLimit.credentialMax, ...counting },
      perMailAddress: { max: config.mail.perAddressMax, windowSeconds: config.mail.perAddressWindowSeconds },
    })
    await app.register(accountLockPlugin, { keys, ...config.accountLock })

    // Only the routes registered inside sessionScope (below) parse cookies and load sessions.
    let loadedScope: FastifyInstance | undefined
    const loadsSessions = (instance: FastifyInstance) => loadedScope !== undefined && (instance === loadedScope || loadedScope.isPrototypeOf(instance))
    // The guards on the host's own instance: they work in the session scope and are refused outside it.
    await app.register(authGuardPlugin, { freshnessSeconds: config.reauthMaxAgeSeconds, loadsSessions })

    // JWT access tokens: verified by the session plugin (their session is the request's), issued by the tokens concern.
    const { jwt } = config
    const publishLeadMs = 2 * jwt.jwksMaxAgeSeconds * 1000
    // Often enough that every instance knows a new key well before it signs, and at least once a minute.
    const reloadIntervalMs = Math.min(60_000, publishLeadMs / 4)
    const schedule = {
      rotationMs: jwt.keyRotationMs,
      publishLeadMs,
      // An instance that has not reloaded yet may still sign with the old key: its tokens live accessTokenTtl, and a
      // minute covers clocks that differ.
      keepAfterMs: jwt.accessTokenTtlSeconds * 1000 + reloadIntervalMs + 60_000,
    }
    const tokenIssuer = accessTokenIssuer({ issuer: jwt.issuer, audience: jwt.audience, ttlSeconds: jwt.accessTokenTtlSeconds, schedule })

    await app.register(async function sessionScope(scope) {
      loadedScope = scope
      // Whatever the host's Fastify validates with, these routes refuse what their schemas do not describe.
      scope.setValidatorCompiler(strictValidation(scope.getSchemas()))
      await scope.register(sessionPlugin, { keys, ...session, store: sessionStore, verifyAccessToken: (token) => tokenIssuer.verify(token) })
      await scope.register(sessionsPlugin)
      await scope.register(refreshFamiliesPlugin, { keys })
      await scope.register(tokensPlugin, {
        issuer: tokenIssuer,
        secrets: session.secrets,
        schedule,
        reloadIntervalMs,
        timeouts,
        accessTokenTtlSeconds: jwt.accessTokenTtlSeconds,
        reuseWindowMs: jwt.reuseWindowMs,
      })
      await scope.register(accessTokensPlugin, { keys, maxPerUser: config.maxTokensPerUser, store: sessionStore })
      await scope.register(csrfPlugin, { allowedOrigins: config.corsOrigins })

      const cookieSecure = session.cookieSecure
      await scope.register(pendingLoginsPlugin, { keys })
      await scope.register(credentialsPlugin, { requireVerifiedEmail: config.requireVerifiedEmail })
      // The binding: what the ceremonies take of a request, and the device cookie they leave.
      await scope.register(credentialsHttpPlugin, { sessionCookieName: session.cookieName, cookieSecure })

      // Lifecycle: changes that end what an account holds.
      await scope.register(accountLifecyclePlugin)
      await scope.register(accountRecoveryPlugin, { mail: config.mail })

      const credentialRateLimit = { max: rateLimit.loginMax, timeWindow: rateLimit.loginWindowSeconds * 1000 }
      const { allowRegistration, requireVerifiedEmail } = config
      await scope.register(authRoutes, { prefix: auth, allowRegistration, requireVerifiedEmail, credentialRateLimit })
      if (api !== false) await scope.register(apiRoutes, { prefix: api })
      if (admin !== false) await scope.register(adminRoutes, { prefix: admin })
      if (routes) await scope.register(routes)
    })
    // The host's API over the services of that scope, on the host's own instance.
    const { sessions, accounts } = hostApi(loadedScope!)
    app.decorate('sessions', sessions)
    app.decorate('accounts', accounts)
    app.decorate('authPrefix', auth)
    // The token routes take their credential in the body (or a secret), not a session: beside the session scope.
    app.decorate('jwtSessions', loadedScope!.jwtSessions)
    app.decorate('accessTokenIssuer', tokenIssuer)
    await app.register(jwtRoutes, { prefix: auth, introspectionSecret: jwt.introspectionSecret })
    await app.register(wellKnownRoutes, { prefix: '/.well-known', issuer: jwt.issuer, authPrefix: auth, publicUrl: config.mail.publicUrl, jwksMaxAgeSeconds: jwt.jwksMaxAgeSeconds })
  },
  { name: 'redis-session-api', fastify: '5.x' },
)
