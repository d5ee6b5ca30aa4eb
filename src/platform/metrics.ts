import { timingSafeEqual } from 'node:crypto'
import fp from 'fastify-plugin'
import fastifyMetricsModule from 'fastify-metrics'
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify'
import { COUNT_SAMPLES, EXACT_COUNT_LIMIT, onCommandSettled, type RedisClient } from './redis/client.js'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { MetricsUnauthorized } from '../errors.js'
import { errorResponses } from '../schemas/error.js'
import { METRICS_SECURITY, PUBLIC } from '../schemas/security.js'
import { ALWAYS_ANSWER } from './http/load-shedding.js'
import type { QuerySource } from './database/connection.js'

// A CommonJS module whose plugin is its `default` export.
const fastifyMetrics = fastifyMetricsModule.default

/** What happens to sessions and logins, with each event's log message: one log line and one counter increment each. */
const MESSAGES = {
  signup: 'account registered',
  login: 'login',
  login_failed: 'login failed',
  login_locked: 'login refused: account locked',
  login_disabled: 'login refused: account disabled',
  account_disabled: 'account disabled',
  account_enabled: 'account enabled',
  account_deleted: 'account deleted',
  email_change_requested: 'new email address requested, verification mail queued',
  email_change_cancelled: 'change of email address taken back, its links ended',
  email_verified: 'email address verified',
  password_reset_requested: 'password reset requested (mail queued if the address is known)',
  password_reset: 'password reset by mailed link',
  password_reset_failed: 'password reset refused',
  roles_changed: 'roles changed',
  logout: 'logout',
  logout_everywhere: 'logout everywhere',
  revoke: 'sessions revoked',
  session_expired: 'session expired',
  password_change: 'password changed',
  password_change_failed: 'password change refused: wrong current password',
  token_created: 'access token created',
  token_revoked: 'access token revoked',
  tokens_refreshed: 'JWT access and refresh tokens rotated',
  refresh_token_reused: 'a spent refresh token was presented again (a stolen copy?): its session is ended',
  mfa_challenge: 'password accepted, second factor due',
  mfa_failed: 'second factor refused',
  mfa_enabled: 'two-factor login turned on',
  mfa_disabled: 'two-factor login turned off',
  mfa_reset: 'two-factor login reset by an admin',
  recovery_code_used: 'recovery code used',
  recovery_codes_replaced: 'recovery codes replaced',
  reauth: 're-authenticated',
  reauth_failed: 're-authentication refused',
} as const satisfies Record<string, string>
export type LifecycleEvent = keyof typeof MESSAGES

export type MailEvent = 'queued' | 'sent' | 'failed' | 'dead'
export type WebhookOutcome = 'delivered' | 'retried' | 'dead'

/**
 * Where a lifecycle event happened: the logger to write its line to and, for an event a request recorded, that
 * request's trail, which keeps it as a security event written before the request's answer (security-events/).
 * A request is an origin (its `trail` is decorated), and so is what a service is handed in its place (a claimant).
 */
export interface EventOrigin {
  log: FastifyBaseLogger
  trail?: EventTrail
}

/** A request's security events, kept until its answer is sent. */
export interface EventTrail {
  keep(event: LifecycleEvent, fields: Record<string, unknown>): void
}

/** What keeps the events that no request recorded (the host application's calls, background work). */
export type EventKeeper = (event: LifecycleEvent, fields: Record<string, unknown>) => void

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Logs a lifecycle event (with the user id and the session's handle, never its ID), counts it in /metrics and
     * hands it to the security events (its origin's trail, or the keeper). `sessions` is how many sessions the event
     * ended, when not one.
     */
    recordEvent(origin: EventOrigin, event: LifecycleEvent, fields?: Record<string, unknown>, sessions?: number): void
    /** Sets what keeps the events recorded with no trail (security-events/plugin.ts). */
    keepEventsWith(keeper: EventKeeper): void
    /** Counts a webhook delivery: delivered, retried (an attempt failed) or dead (after the last attempt). */
    countWebhook(outcome: WebhookOutcome): void
    /** Counts security events written, or not written (PostgreSQL failed; each is in an error log line). */
    countSecurityEvents(outcome: 'written' | 'unwritten', events: number): void
    /** Counts a request refused by a rate limit. */
    countRateLimited(request: FastifyRequest): void
    /** Counts a mail queued, sent, failed (to be retried) or dead (no attempt left). */
    countMail(event: MailEvent): void
    /** Times a PostgreSQL query by its source and counts it when it failed. */
    observeDatabaseQuery(durationMs: number, failed: boolean, source: QuerySource): void
  }
}

export interface MetricsPluginOptions {
  /** When set, GET /metrics needs `Authorization: Bearer <token>`. */
  token: string | null
  /** The number of live sessions, read without scanning the keyspace. */
  liveSessions: () => Promise<number>
}

/** The events counted by auth_mfa_events_total. */
const MFA_EVENTS = new Set<LifecycleEvent>([
  'mfa_challenge',
  'mfa_failed',
  'mfa_enabled',
  'mfa_disabled',
  'mfa_reset',
  'recovery_code_used',
  'recovery_codes_replaced',
])
/** The events counted by account_events_total. */
const ACCOUNT_EVENTS = new Set<LifecycleEvent>([
  'signup',
  'account_disabled',
  'account_enabled',
  'account_deleted',
  'roles_changed',
  'email_change_requested',
  'email_change_cancelled',
  'email_verified',
  'password_reset_requested',
  'password_reset',
  'password_reset_failed',
])
/** Events that end sessions from elsewhere (sessions_revoked_total counts the sessions they ended). */
const ENDS_SESSIONS = new Set<LifecycleEvent>([
  'revoke',
  'refresh_token_reused',
  'password_change',
  'mfa_enabled',
  'mfa_disabled',
  'mfa_reset',
  'recovery_code_used',
  'account_disabled',
  'account_deleted',
  'roles_changed',
  'password_reset',
])

/** Redis round trips are short: buckets from a tenth of a millisecond to the command timeout. */
const REDIS_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5]

/** PostgreSQL queries: up to the default statement timeout. */
const DATABASE_BUCKETS_SECONDS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2]

function createCounters(registry: Registry) {
  const registers = [registry]
  return {
    logins: new Counter({ name: 'auth_logins_total', help: 'Login attempts by outcome', labelNames: ['outcome'], registers }),
    created: new Counter({ name: 'sessions_created_total', help: 'Sessions created by a login', registers }),
    destroyed: new Counter({ name: 'sessions_destroyed_total', help: 'Sessions ended by their own logout', registers }),
    expired: new Counter({
      name: 'sessions_expired_total',
      help: 'Sessions found dead: reason "absolute" when the absolute limit ended one, "gone" for a request whose session no longer exists (idle expiry, revoked, absolute)',
      labelNames: ['reason'],
      registers,
    }),
    revoked: new Counter({ name: 'sessions_revoked_total', help: 'Sessions ended from elsewhere (revoke, password change, two-factor changes and recovery codes, cap, admin)', registers }),
    mfa: new Counter({
      name: 'auth_mfa_events_total',
      help: 'Two-factor events: mfa_challenge (password right, code due), mfa_failed, mfa_enabled, mfa_disabled, mfa_reset, recovery_code_used, recovery_codes_replaced',
      labelNames: ['event'],
      registers,
    }),
    accounts: new Counter({
      name: 'account_events_total',
      help: 'Account changes: signup, account_disabled, account_enabled, account_deleted, roles_changed, email_change_requested, email_change_cancelled, email_verified, password_reset_requested, password_reset, password_reset_failed',
      labelNames: ['event'],
      registers,
    }),
    reauth: new Counter({ name: 'auth_reauth_total', help: 'Re-authentications by outcome', labelNames: ['outcome'], registers }),
    rateLimited: new Counter({ name: 'rate_limited_requests_total', help: 'Requests refused by a rate limit', labelNames: ['route'], registers }),
    redisErrors: new Counter({ name: 'redis_command_errors_total', help: 'Redis commands that failed', labelNames: ['command'], registers }),
    redisDuration: new Histogram({
      name: 'redis_command_duration_seconds',
      help: 'Time from sending a Redis command to its answer',
      buckets: REDIS_BUCKETS_SECONDS,
      registers,
    }),
    mail: new Counter({
      name: 'mail_events_total',
      help: 'Mails queued, sent (accepted by the SMTP server), failed (an attempt; retried) and dead (after the last attempt)',
      labelNames: ['event'],
      registers,
    }),
    securityEvents: new Counter({
      name: 'security_events_total',
      help: 'Security events written to PostgreSQL ("written"), and those whose write failed ("unwritten": each is in an error log line)',
      labelNames: ['outcome'],
      registers,
    }),
    webhooks: new Counter({
      name: 'webhook_deliveries_total',
      help: 'Security event deliveries to WEBHOOK_URL: delivered (a 2xx answer), retried (an attempt failed) and dead (after the last attempt)',
      labelNames: ['outcome'],
      registers,
    }),
    databaseErrors: new Counter({ name: 'database_query_errors_total', help: 'PostgreSQL queries that failed', registers }),
    databaseDuration: new Histogram({
      name: 'database_query_duration_seconds',
      help: 'Time from sending a PostgreSQL query to its answer, by source: service (logins, registrations, credential changes, events; never a session read) or queue (the job queue polling and keeping its jobs)',
      labelNames: ['source'],
      buckets: DATABASE_BUCKETS_SECONDS,
      registers,
    }),
  }
}
type Counters = ReturnType<typeof createCounters>

/** How each lifecycle event shows in the counters. */
function count(counters: Counters, event: LifecycleEvent, fields: Record<string, unknown>, sessions: number): void {
  if (MFA_EVENTS.has(event)) counters.mfa.inc({ event })
  if (ACCOUNT_EVENTS.has(event)) counters.accounts.inc({ event })
  if (ENDS_SESSIONS.has(event)) counters.revoked.inc(sessions)
  switch (event) {
    case 'login':
      counters.logins.inc({ outcome: 'success' })
      counters.created.inc()
      return
    case 'login_failed':
      counters.logins.inc({ outcome: 'failure' })
      return
    case 'mfa_failed':
      if (fields.step === 'login') counters.logins.inc({ outcome: 'mfa_failure' })
      return
    case 'login_locked':
      counters.logins.inc({ outcome: 'locked' })
      return
    case 'login_disabled':
      counters.logins.inc({ outcome: 'disabled' })
      return
    case 'logout':
    case 'logout_everywhere':
      counters.destroyed.inc(sessions)
      return
    case 'reauth':
      counters.reauth.inc({ outcome: 'success' })
      return
    case 'reauth_failed':
      counters.reauth.inc({ outcome: 'failure' })
      return
    case 'session_expired':
      counters.expired.inc({ reason: String(fields.reason ?? 'gone') })
  }
}

/** Times every command the client sends and counts the ones that fail. */
function instrumentRedis(redis: RedisClient, counters: Counters): void {
  onCommandSettled(redis, (command, seconds, error) => {
    counters.redisDuration.observe(seconds)
    if (error) counters.redisErrors.inc({ command: command.name })
  })
}

const METRICS_URL = '/metrics'

/** Methods fastify-metrics leaves out of the route metrics: a preflight or a HEAD is not a request of the API. */
const UNMEASURED_METHODS = new Set(['HEAD', 'OPTIONS', 'TRACE', 'CONNECT'])

/**
 * Request durations by route pattern (never the raw URL) and status: the histogram fastify-metrics' route metrics
 * keep, under their name and labels, observed from Fastify's own `reply.elapsedTime` in one onResponse hook, with the
 * labelled series of each method, route and status kept. fastify-metrics times each request itself (a timer closure,
 * a WeakMap entry, a labels object hashed at every observation): about 5 µs of every request, 8% of a read's CPU
 * (`npm run bench:profile`), where this costs a string and a map lookup. The plugin still serves GET /metrics and the
 * process metrics.
 */
function observeRouteDurations(app: FastifyInstance, registry: Registry): void {
  const histogram = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'request duration in seconds',
    labelNames: ['method', 'route', 'status_code'],
    registers: [registry],
  })
  const series = new Map<string, Histogram.Internal<'method' | 'route' | 'status_code'>>()
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url
    // An unknown URL has no route: counted by status alone, it would let every client mint series.
    if (route === undefined || route === METRICS_URL || UNMEASURED_METHODS.has(request.method)) return done()
    const key = `${request.method} ${reply.statusCode} ${route}`
    let observed = series.get(key)
    if (observed === undefined) series.set(key, (observed = histogram.labels(request.method, route, String(reply.statusCode))))
    observed.observe(reply.elapsedTime / 1000)
    done()
  })
}

/** Requests to GET /metrics one client address may make per minute, right token or not. */
export const METRICS_REQUESTS_PER_MINUTE = 60

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * Prometheus metrics at GET /metrics (fastify-metrics): request durations by route and status, process metrics,
 * login and session lifecycle counters, rate-limit refusals, Redis and PostgreSQL latency and errors, and live sessions.
 * Each app has its own registry, so several apps in one process (tests, two instances) never clash.
 */
export default fp<MetricsPluginOptions>(
  async function metricsPlugin(app, { token, liveSessions }) {
    const registry = new Registry()
    const counters = createCounters(registry)
    let lastLive = 0
    new Gauge({
      name: 'sessions_live',
      help: `Sessions and access tokens that have not expired or ended: exact up to ${EXACT_COUNT_LIMIT} keys per Redis master, `
        + `estimated above that from ${COUNT_SAMPLES} random keys`,
      registers: [registry],
      async collect() {
        // Metrics matter most while Redis is down: keep the last count rather than fail the scrape.
        lastLive = await liveSessions().catch(() => lastLive)
        this.set(lastLive)
      },
    })
    instrumentRedis(app.redis, counters)
    observeRouteDurations(app, registry)

    let keeper: EventKeeper | null = null
    app.decorate('recordEvent', (origin: EventOrigin, event: LifecycleEvent, fields: Record<string, unknown> = {}, sessions = 1) => {
      origin.log.info({ event, ...fields }, MESSAGES[event])
      count(counters, event, fields, sessions)
      if (origin.trail !== undefined) origin.trail.keep(event, fields)
      else keeper?.(event, fields)
    })
    app.decorate('keepEventsWith', (kept: EventKeeper) => {
      keeper = kept
    })
    app.decorate('countWebhook', (outcome: WebhookOutcome) => counters.webhooks.inc({ outcome }))
    app.decorate('countSecurityEvents', (outcome: 'written' | 'unwritten', events: number) => counters.securityEvents.inc({ outcome }, events))
    app.decorate('countRateLimited', (request: FastifyRequest) => {
      counters.rateLimited.inc({ route: request.routeOptions.url ?? 'unknown' })
    })
    app.decorate('countMail', (event: MailEvent) => counters.mail.inc({ event }))
    app.decorate('observeDatabaseQuery', (durationMs: number, failed: boolean, source: QuerySource) => {
      counters.databaseDuration.observe({ source }, durationMs / 1000)
      if (failed) counters.databaseErrors.inc()
    })

    await app.register(fastifyMetrics, {
      defaultMetrics: { enabled: true, register: registry },
      // Observed by observeRouteDurations, at a fraction of the cost.
      routeMetrics: { enabled: false },
      endpoint: {
        url: METRICS_URL,
        method: 'GET',
        logLevel: 'warn',
        // Scrapers ask a few times a minute; a client guessing METRICS_TOKEN gets that many guesses and then 429. Counted
        // before the token is checked (preHandler below), in Redis; skipped while Redis is down, when metrics matter most.
        config: { rateLimit: { max: METRICS_REQUESTS_PER_MINUTE, timeWindow: 60_000, skipOnError: true }, ...ALWAYS_ANSWER },
        schema: {
          operationId: 'getMetrics',
          summary: 'Prometheus metrics',
          tags: ['operations'],
          security: token ? METRICS_SECURITY : PUBLIC,
          response: { 200: { type: 'string', description: 'Prometheus text exposition format' }, ...(token ? errorResponses('UNAUTHENTICATED') : {}) },
        },
        preHandler: async (request: FastifyRequest) => {
          if (token === null) return
          const given = /^Bearer (.+)$/i.exec(request.headers.authorization ?? '')?.[1] ?? ''
          if (!sameToken(given, token)) throw new MetricsUnauthorized()
        },
        handler: () => undefined,
      },
    })
  },
  { name: 'metrics', dependencies: ['redis'] },
)
