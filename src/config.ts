import { Type, type Static } from '@sinclair/typebox'
import { envSchema } from 'env-schema'
import { DEFAULT_SCRYPT_COST, OWASP_SCRYPT_COST_LOG2, type ScryptCost } from './lib/password.js'
import type { SessionTimeouts } from './lib/session-timeouts.js'
import { Password, Username } from './schemas/user.js'

/** The secret shipped in .env.example: fine for a laptop, refused in production. */
export const EXAMPLE_SESSION_SECRET = 'change-me-to-32-or-more-random-characters-please'
export const MIN_SECRET_LENGTH = 32

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevelName = (typeof LOG_LEVELS)[number]
const LogLevel = Type.Unsafe<LogLevelName>({ type: 'string', enum: [...LOG_LEVELS], default: 'info' })

const MODES = ['development', 'production', 'test'] as const
/** A typo (`prod`) must not start the service in development mode: only these are accepted. */
const NodeEnv = Type.Unsafe<(typeof MODES)[number]>({ type: 'string', enum: [...MODES], default: 'development' })

const Seconds = (defaultValue: number) => Type.Integer({ minimum: 1, default: defaultValue })
const DEFAULT_SESSION_IDLE_SECONDS = 1800

/** Every variable the service reads, with its default. docs/configuration.md and .env.example mirror this list. */
const EnvSchema = Type.Object({
  NODE_ENV: NodeEnv,
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  LOG_LEVEL: LogLevel,
  REDIS_URL: Type.String({ pattern: '^rediss?://', default: 'redis://127.0.0.1:6379' }),
  REDIS_SENTINELS: Type.String({ default: '' }),
  REDIS_SENTINEL_NAME: Type.String({ minLength: 1, default: 'mymaster' }),
  REDIS_SENTINEL_PASSWORD: Type.Optional(Type.String({ minLength: 1 })),
  REDIS_CLUSTER_NODES: Type.String({ default: '' }),
  REDIS_PASSWORD: Type.Optional(Type.String({ minLength: 1 })),
  REDIS_PREFIX: Type.String({ minLength: 1, maxLength: 64, default: 'app:' }),
  REDIS_WAIT_REPLICAS: Type.Optional(Type.Integer({ minimum: 0, maximum: 16 })),
  DATABASE_URL: Type.String({ pattern: '^postgres(ql)?://', default: 'postgres://postgres@127.0.0.1:5432/redis_session_api' }),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }),
  DATABASE_STATEMENT_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 2000 }),
  DATABASE_MIGRATE: Type.Boolean({ default: true }),
  // An unquoted PostgreSQL identifier: it goes into DDL as the name of the service's own schema.
  DATABASE_SCHEMA: Type.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$', default: 'redis_session_api' }),
  // Its length is checked with a message of its own (parseSecrets).
  SESSION_SECRET: Type.String(),
  COOKIE_NAME: Type.Optional(Type.String({ pattern: "^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$" })),
  COOKIE_SECURE: Type.Optional(Type.Boolean()),
  // SESSION_TTL is the name the idle timeout had before absolute timeouts existed; still accepted.
  SESSION_TTL: Type.Optional(Type.Integer({ minimum: 1 })),
  SESSION_IDLE_TTL: Type.Optional(Type.Integer({ minimum: 1 })),
  SESSION_ABSOLUTE_TTL: Seconds(43_200),
  SESSION_TOUCH_INTERVAL: Seconds(60),
  REMEMBER_IDLE_TTL: Seconds(30 * 86_400),
  REMEMBER_ABSOLUTE_TTL: Seconds(90 * 86_400),
  MAX_SESSIONS_PER_USER: Type.Integer({ minimum: 0, default: 10 }),
  MAX_TOKENS_PER_USER: Type.Integer({ minimum: 0, default: 10 }),
  JWT_ISSUER: Type.Optional(Type.String({ pattern: '^https?://' })),
  JWT_AUDIENCE: Type.Optional(Type.String({ minLength: 1 })),
  JWT_ACCESS_TTL: Type.Integer({ minimum: 1, maximum: 3600, default: 300 }),
  REFRESH_REUSE_WINDOW: Type.Integer({ minimum: 0, maximum: 300, default: 10 }),
  JWT_KEY_ROTATION: Seconds(30 * 86_400),
  JWKS_MAX_AGE: Seconds(300),
  INTROSPECTION_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  TRUST_PROXY: Type.String({ default: '' }),
  CORS_ORIGINS: Type.String({ default: '' }),
  RATE_LIMIT_MAX: Type.Integer({ minimum: 1, default: 300 }),
  RATE_LIMIT_WINDOW: Seconds(60),
  RATE_LIMIT_SYNC_MS: Type.Integer({ minimum: 0, maximum: 10_000, default: 100 }),
  CREDENTIAL_RATE_LIMIT_MAX: Type.Integer({ minimum: 1, default: 200 }),
  LOGIN_RATE_LIMIT_MAX: Type.Integer({ minimum: 1, default: 10 }),
  LOGIN_RATE_LIMIT_WINDOW: Seconds(60),
  ACCOUNT_LOCK_THRESHOLD: Type.Integer({ minimum: 1, default: 5 }),
  ACCOUNT_LOCK_BASE_SECONDS: Seconds(30),
  ACCOUNT_LOCK_MAX_SECONDS: Seconds(900),
  ALLOW_REGISTRATION: Type.Boolean({ default: true }),
  PASSWORD_HASH_COST: Type.Integer({ minimum: 1, maximum: 20, default: OWASP_SCRYPT_COST_LOG2 }),
  REAUTH_MAX_AGE_SECONDS: Seconds(600),
  MFA_ISSUER: Type.String({ minLength: 1, maxLength: 64, default: 'Redis Session API' }),
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16 })),
  METRICS_PUBLIC: Type.Boolean({ default: false }),
  DOCS_ENABLED: Type.Optional(Type.Boolean()),
  WEB_APP: Type.Boolean({ default: true }),
  MAX_EVENT_LOOP_DELAY_MS: Type.Integer({ minimum: 0, default: 1000 }),
  // The same rules as registration, so the admin can always log in through the API.
  ADMIN_USERNAME: Type.Optional(Username),
  ADMIN_PASSWORD: Type.Optional(Password),
  // Mail: links in mails point at PUBLIC_URL, never at the Host a request came with.
  PUBLIC_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
  SMTP_URL: Type.String({ pattern: '^smtps?://', default: 'smtp://127.0.0.1:1025' }),
  SMTP_REQUIRE_TLS: Type.Optional(Type.Boolean()),
  MAIL_FROM: Type.String({ minLength: 3, default: 'Redis Session API <no-reply@localhost>' }),
  MAIL_WORKER: Type.Boolean({ default: true }),
  MAIL_RETRY_LIMIT: Type.Integer({ minimum: 0, maximum: 100, default: 10 }),
  MAIL_RETRY_DELAY_SECONDS: Seconds(30),
  MAIL_RATE_LIMIT_MAX: Type.Integer({ minimum: 1, default: 5 }),
  MAIL_RATE_LIMIT_WINDOW: Seconds(3600),
  REQUIRE_VERIFIED_EMAIL: Type.Boolean({ default: false }),
  SECURITY_EVENTS_RETENTION_DAYS: Type.Integer({ minimum: 1, maximum: 36_500, default: 365 }),
  NEW_DEVICE_MAIL: Type.Boolean({ default: true }),
  WEBHOOK_URL: Type.String({ default: '' }),
  WEBHOOK_SECRET: Type.String({ default: '' }),
  WEBHOOK_RETRY_LIMIT: Type.Integer({ minimum: 0, maximum: 100, default: 12 }),
  WEBHOOK_RETRY_DELAY_SECONDS: Seconds(5),
})
type Env = Static<typeof EnvSchema>

/** Fastify's trustProxy: all, none, a list of addresses and CIDR ranges, or a test that trusts the first N hops. */
export type TrustProxy = boolean | string | ((address: string, hop: number) => boolean)

export interface AppConfig {
  production: boolean
  port: number
  host: string
  logLevel: LogLevelName
  redis: {
    connection: RedisConnection
    prefix: string
    /** Replicas that must have a session's deletion before its end is answered (Redis WAIT); 0: none. */
    waitReplicas: number
  }
  database: DatabaseConfig
  session: {
    /** The first signs new cookies; every one verifies, so secrets can be rotated. */
    secrets: string[]
    cookieName: string
    cookieSecure: boolean
    timeouts: SessionTimeouts
    /** A login beyond it ends the user's oldest session; 0: no limit. */
    maxPerUser: number
  }
  /** Personal access tokens a user may hold at once; 0: none at all. */
  maxTokensPerUser: number
  jwt: JwtConfig
  trustProxy: TrustProxy
  corsOrigins: string[]
  rateLimit: {
    max: number
    windowSeconds: number
    /** 0: the global limit counts every request in Redis; above 0: each instance syncs its counts this often. */
    syncIntervalMs: number
    /** Requests per session or access token per window, on top of the per-IP limit. */
    credentialMax: number
    loginMax: number
    loginWindowSeconds: number
  }
  /** Per-account lock after repeated failed logins: threshold failures, then a lock doubling per failure. */
  accountLock: { threshold: number; baseLockMs: number; maxLockMs: number }
  allowRegistration: boolean
  /** How long after a login or re-authentication a session may change credentials or end all sessions. */
  reauthMaxAgeSeconds: number
  /** The service's name in authenticator apps. */
  mfaIssuer: string
  admin: { username: string; password: string } | null
  /** scrypt's cost (log2 N) for new hashes; older hashes move up to it at their next login (lib/password.ts). */
  passwordHashCost: ScryptCost
  /** Bearer token GET /metrics requires; null leaves it open (keep it off the public network then). */
  metricsToken: string | null
  docsEnabled: boolean
  /** The browser app (web/) at `/` and its page paths; off for a deployment that brings its own front end. */
  webApp: boolean
  /** Mean event-loop delay above which requests are shed with 503; 0: never. */
  maxEventLoopDelayMs: number
  mail: MailConfig
  /** Logins of accounts without a verified address are refused (admins excepted). */
  requireVerifiedEmail: boolean
  securityEvents: SecurityEventsConfig
}

/** The security events' history, the new-device mail and the webhooks that receive every event. */
export interface SecurityEventsConfig {
  /** Events are kept at least this long (and at most a month longer: they leave a month at a time). */
  retentionDays: number
  /** Mail the user when a browser without this account's device cookie signs in. */
  newDeviceMail: boolean
  webhooks: WebhookConfig
}

/** Standard Webhooks (https://www.standardwebhooks.com/) deliveries of every security event. */
export interface WebhookConfig {
  /** Every receiver gets every event; none: no deliveries. */
  urls: string[]
  /** `whsec_` secrets: each signs every delivery (more than one during a rotation). */
  secrets: string[]
  /** Attempts after the first, each after retryDelaySeconds doubling; then the delivery is dead. */
  retryLimit: number
  retryDelaySeconds: number
}

/** JWT access tokens and refresh tokens (logins with `transport: "jwt"`). */
export interface JwtConfig {
  /** `iss` of every access token, and the issuer of the metadata document. */
  issuer: string
  /** `aud` of every access token: the services (this one among them) that accept it. */
  audience: string
  accessTokenTtlSeconds: number
  /** How long a retry of a refresh token that was just rotated gets the same answer (0: never). */
  reuseWindowMs: number
  /** How long a signing key signs before the next one takes over. */
  keyRotationMs: number
  /** Cache-Control max-age of GET /.well-known/jwks.json; a new key is published twice as long before it signs. */
  jwksMaxAgeSeconds: number
  /** The bearer token POST /auth/introspect takes; null: introspection is off (every call 401). */
  introspectionSecret: string | null
}

/** Mail: how it is sent, and how the queue that delivers it retries. */
export interface MailConfig {
  /** Where the links in mails lead (the web app's pages), without a trailing slash. */
  publicUrl: string
  smtpUrl: string
  /** smtp:// refuses to send unless the server upgrades to TLS (STARTTLS); smtps:// is TLS from the first byte. */
  requireTls: boolean
  from: string
  /** Whether this instance delivers queued mail (every instance enqueues). */
  worker: boolean
  /** Attempts after the first, each after retryDelaySeconds doubling; then the mail is dead. */
  retryLimit: number
  retryDelaySeconds: number
  /** Mails the public routes (forgot, resend) may ask for one address per window. */
  perAddressMax: number
  perAddressWindowSeconds: number
}

/** PostgreSQL, where accounts live. */
export interface DatabaseConfig {
  url: string
  poolSize: number
  /** A statement that runs longer is cancelled (and the request answered 503). */
  statementTimeoutMs: number
  /** Apply pending migrations at start; off: the start refuses a schema that is behind (run npm run migrate). */
  migrateOnStart: boolean
  /** The PostgreSQL schema that holds the service's tables and its record of migrations: none of them is in a host's. */
  schema: string
}

export interface HostPort {
  host: string
  port: number
}

/** Which Redis: one server, a master found through Sentinel, or a Cluster. */
export type RedisConnection =
  | { topology: 'single'; url: string }
  | { topology: 'sentinel'; sentinels: HostPort[]; name: string; password?: string; sentinelPassword?: string }
  | { topology: 'cluster'; nodes: HostPort[]; password?: string }

/**
 * A cookie whose name starts with __Host- is accepted by browsers only when Secure, without a Domain and with
 * Path=/, and no sibling subdomain or plain-HTTP page can overwrite it (OWASP ASVS 5.0 §3.3.1, §3.3.3).
 */
export const SECURE_COOKIE_NAME = '__Host-sid'
/** Without Secure, a __Host- (or __Secure-) name is refused by browsers: plain HTTP in development gets this one. */
export const PLAIN_COOKIE_NAME = 'sid'
const SECURE_ONLY_COOKIE_PREFIXES = /^__(Host|Secure)-/i

/** A configuration problem, reported as one line that names the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

export type EnvSource = Record<string, string | undefined>

/**
 * Validates the environment and turns it into the typed config every plugin reads.
 * `dotenv: true` also reads a `.env` file when one exists (the server does; tests pass their env explicitly).
 */
export function loadConfig(env: EnvSource = process.env, { dotenv = false } = {}): AppConfig {
  let parsed: Env
  try {
    parsed = envSchema<Env>({ schema: EnvSchema, data: env, dotenv })
  } catch (error) {
    throw new ConfigError(describeEnvError(error))
  }
  return toAppConfig(parsed)
}

const DatabaseEnvSchema = Type.Pick(EnvSchema, ['DATABASE_URL', 'DATABASE_POOL_SIZE', 'DATABASE_STATEMENT_TIMEOUT_MS', 'DATABASE_MIGRATE', 'DATABASE_SCHEMA'])

/** Only the DATABASE_* variables, for tools that need nothing else (npm run migrate). */
export function loadDatabaseConfig(env: EnvSource = process.env, { dotenv = false } = {}): DatabaseConfig {
  let parsed: Static<typeof DatabaseEnvSchema>
  try {
    parsed = envSchema<Static<typeof DatabaseEnvSchema>>({ schema: DatabaseEnvSchema, data: env, dotenv })
  } catch (error) {
    throw new ConfigError(describeEnvError(error))
  }
  return toDatabaseConfig(parsed)
}

function toDatabaseConfig(env: Static<typeof DatabaseEnvSchema>): DatabaseConfig {
  return {
    url: parseUrl('DATABASE_URL', env.DATABASE_URL),
    poolSize: env.DATABASE_POOL_SIZE,
    statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
    migrateOnStart: env.DATABASE_MIGRATE,
    schema: env.DATABASE_SCHEMA,
  }
}

/** What Ajv says of one variable (env-schema reports every one at once). */
interface SchemaProblem {
  instancePath: string
  keyword: string
  params: { allowedValues?: unknown[]; missingProperty?: string }
  message?: string
}

/** Every problem env-schema found, one line each, an enum with the values it accepts. */
function describeEnvError(error: unknown): string {
  const problems = (error as { errors?: SchemaProblem[] }).errors
  if (!Array.isArray(problems)) return error instanceof Error ? error.message : String(error)
  return problems
    .map(({ instancePath, keyword, params, message = 'is invalid' }) => {
      const name = instancePath.replace(/^\//, '')
      if (keyword === 'enum') return `${name} must be one of: ${(params.allowedValues ?? []).join(', ')}`
      if (keyword === 'required') return `${params.missingProperty} is required`
      return name === '' ? message : `${name} ${message}`
    })
    .join('\n')
}

function parseJwt(env: Env, publicUrl: string): JwtConfig {
  // A key published for less than a JWKS cache keeps a set would sign tokens some verifiers cannot check yet.
  if (env.JWT_KEY_ROTATION <= 2 * env.JWKS_MAX_AGE) {
    throw new ConfigError(`JWT_KEY_ROTATION (${env.JWT_KEY_ROTATION} s) must be more than twice JWKS_MAX_AGE (${env.JWKS_MAX_AGE} s): a new key is published that long before it signs`)
  }
  const issuer = env.JWT_ISSUER ?? publicUrl
  return {
    issuer,
    audience: env.JWT_AUDIENCE ?? issuer,
    accessTokenTtlSeconds: env.JWT_ACCESS_TTL,
    reuseWindowMs: env.REFRESH_REUSE_WINDOW * 1000,
    keyRotationMs: env.JWT_KEY_ROTATION * 1000,
    jwksMaxAgeSeconds: env.JWKS_MAX_AGE,
    introspectionSecret: env.INTROSPECTION_SECRET ?? null,
  }
}

function toAppConfig(env: Env): AppConfig {
  const production = env.NODE_ENV === 'production'
  const connection = parseRedisConnection(env)
  const secrets = parseSecrets(env.SESSION_SECRET)
  const cookieSecure = env.COOKIE_SECURE ?? production
  const metricsToken = env.METRICS_TOKEN ?? null
  const trustProxy = parseTrustProxy(env.TRUST_PROXY)
  // What production needs set is reported all at once: one start names every setting to add.
  const missing = [
    production && secrets.includes(EXAMPLE_SESSION_SECRET) && 'SESSION_SECRET is the example value from .env.example; set a random secret in production',
    production && metricsToken === null && !env.METRICS_PUBLIC
    && 'METRICS_TOKEN is required in production (GET /metrics would be open to anyone); set METRICS_PUBLIC=true only if the port is not public',
    // The service speaks plain HTTP: only a proxy's X-Forwarded-Proto can make a request HTTPS, and Secure cookies
    // are set on HTTPS requests only. Without a trusted proxy every login would be refused: say so at start.
    cookieSecure && trustProxy === false
    && 'COOKIE_SECURE is on but TRUST_PROXY is unset: this service does not terminate TLS, so no request would count as HTTPS and every login would be refused; set TRUST_PROXY to your TLS-terminating proxy (COOKIE_SECURE=false only for plain-HTTP development)',
    production && env.PUBLIC_URL === undefined && 'PUBLIC_URL is required in production: the links in verification and password-reset mails point at it',
  ].filter((problem) => typeof problem === 'string')
  if (missing.length > 0) throw new ConfigError(missing.join('\n'))
  return {
    production,
    port: env.PORT,
    host: env.HOST,
    logLevel: env.LOG_LEVEL,
    redis: { connection, prefix: env.REDIS_PREFIX, waitReplicas: env.REDIS_WAIT_REPLICAS ?? (connection.topology === 'sentinel' ? 1 : 0) },
    database: toDatabaseConfig(env),
    session: {
      secrets,
      cookieName: parseCookieName(env.COOKIE_NAME, cookieSecure),
      cookieSecure,
      timeouts: parseTimeouts(env),
      maxPerUser: env.MAX_SESSIONS_PER_USER,
    },
    maxTokensPerUser: env.MAX_TOKENS_PER_USER,
    jwt: parseJwt(env, parsePublicUrl(env.PUBLIC_URL, production, env.PORT)),
    trustProxy,
    corsOrigins: parseOrigins(env.CORS_ORIGINS),
    rateLimit: {
      max: env.RATE_LIMIT_MAX,
      windowSeconds: env.RATE_LIMIT_WINDOW,
      syncIntervalMs: env.RATE_LIMIT_SYNC_MS,
      credentialMax: env.CREDENTIAL_RATE_LIMIT_MAX,
      loginMax: env.LOGIN_RATE_LIMIT_MAX,
      loginWindowSeconds: env.LOGIN_RATE_LIMIT_WINDOW,
    },
    accountLock: {
      threshold: env.ACCOUNT_LOCK_THRESHOLD,
      baseLockMs: env.ACCOUNT_LOCK_BASE_SECONDS * 1000,
      maxLockMs: Math.max(env.ACCOUNT_LOCK_MAX_SECONDS, env.ACCOUNT_LOCK_BASE_SECONDS) * 1000,
    },
    allowRegistration: env.ALLOW_REGISTRATION,
    reauthMaxAgeSeconds: env.REAUTH_MAX_AGE_SECONDS,
    mfaIssuer: env.MFA_ISSUER,
    admin: parseAdmin(env.ADMIN_USERNAME, env.ADMIN_PASSWORD),
    passwordHashCost: { ...DEFAULT_SCRYPT_COST, costLog2: env.PASSWORD_HASH_COST },
    metricsToken,
    docsEnabled: env.DOCS_ENABLED ?? !production,
    webApp: env.WEB_APP,
    maxEventLoopDelayMs: env.MAX_EVENT_LOOP_DELAY_MS,
    mail: {
      publicUrl: parsePublicUrl(env.PUBLIC_URL, production, env.PORT),
      smtpUrl: parseUrl('SMTP_URL', env.SMTP_URL),
      requireTls: env.SMTP_REQUIRE_TLS ?? production,
      from: env.MAIL_FROM,
      worker: env.MAIL_WORKER,
      retryLimit: env.MAIL_RETRY_LIMIT,
      retryDelaySeconds: env.MAIL_RETRY_DELAY_SECONDS,
      perAddressMax: env.MAIL_RATE_LIMIT_MAX,
      perAddressWindowSeconds: env.MAIL_RATE_LIMIT_WINDOW,
    },
    requireVerifiedEmail: env.REQUIRE_VERIFIED_EMAIL,
    securityEvents: {
      retentionDays: env.SECURITY_EVENTS_RETENTION_DAYS,
      newDeviceMail: env.NEW_DEVICE_MAIL,
      webhooks: parseWebhooks(env),
    },
  }
}

const WEBHOOK_SECRET_FORMAT = /^whsec_[A-Za-z0-9+/]{32,}={0,2}$/

/** WEBHOOK_URL's receivers (comma-separated) and WEBHOOK_SECRET's secrets (space-separated, as Standard Webhooks writes them). */
function parseWebhooks(env: Env): WebhookConfig {
  const urls = parseList(env.WEBHOOK_URL).map((url) => {
    if (!/^https?:\/\//.test(url)) throw new ConfigError('WEBHOOK_URL: each comma-separated receiver must be an http:// or https:// URL')
    return parseUrl('WEBHOOK_URL', url)
  })
  const secrets = env.WEBHOOK_SECRET.split(/\s+/).filter((secret) => secret.length > 0)
  if (secrets.some((secret) => !WEBHOOK_SECRET_FORMAT.test(secret))) {
    throw new ConfigError('WEBHOOK_SECRET: each space-separated secret must be "whsec_" and at least 24 bytes in base64 (openssl rand -base64 32)')
  }
  if (urls.length > 0 && secrets.length === 0) throw new ConfigError('WEBHOOK_URL is set but WEBHOOK_SECRET is not: every delivery is signed; set WEBHOOK_SECRET=whsec_$(openssl rand -base64 32)')
  return { urls, secrets, retryLimit: env.WEBHOOK_RETRY_LIMIT, retryDelaySeconds: env.WEBHOOK_RETRY_DELAY_SECONDS }
}

/**
 * Links in mails: required in production (a link to localhost would reach no one), and over https://; this service
 * itself in development.
 */
function parsePublicUrl(value: string | undefined, production: boolean, port: number): string {
  // Required in production: toAppConfig says so with the other settings production needs.
  if (value === undefined) return `http://localhost:${port}`
  // A mailed link carries a token that opens the account: over http:// any network on the way could read it.
  if (production && !value.startsWith('https://')) throw new ConfigError('PUBLIC_URL must be https:// in production: the mailed links carry tokens that open accounts')
  return parseUrl('PUBLIC_URL', value).replace(/\/+$/, '')
}

export function parseList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0)
}

function parseCookieName(name: string | undefined, secure: boolean): string {
  if (name === undefined) return secure ? SECURE_COOKIE_NAME : PLAIN_COOKIE_NAME
  if (!secure && SECURE_ONLY_COOKIE_PREFIXES.test(name)) {
    throw new ConfigError(`COOKIE_NAME "${name}" needs COOKIE_SECURE=true: browsers refuse a __Host- or __Secure- cookie without Secure`)
  }
  return name
}

function parseSecrets(value: string): string[] {
  const secrets = parseList(value)
  if (secrets.length === 0) throw new ConfigError(`SESSION_SECRET is empty: set it to ${MIN_SECRET_LENGTH} or more random characters (openssl rand -base64 32)`)
  if (secrets.some((secret) => secret.length < MIN_SECRET_LENGTH)) {
    throw new ConfigError(`SESSION_SECRET: every comma-separated value must be at least ${MIN_SECRET_LENGTH} characters`)
  }
  return secrets
}

/** `true`/`false`, a hop count (trust the N proxies nearest the server), or addresses and CIDR ranges. */
export function parseTrustProxy(value: string): TrustProxy {
  const trimmed = value.trim()
  if (trimmed === '' || trimmed === 'false') return false
  if (trimmed === 'true') return true
  if (/^\d+$/.test(trimmed)) {
    const hops = Number(trimmed)
    return (_address, hop) => hop < hops
  }
  return parseList(trimmed).join(',')
}

function parseRedisConnection(env: Env): RedisConnection {
  const sentinels = parseHostPorts('REDIS_SENTINELS', env.REDIS_SENTINELS)
  const nodes = parseHostPorts('REDIS_CLUSTER_NODES', env.REDIS_CLUSTER_NODES)
  const password = env.REDIS_PASSWORD
  if (sentinels.length > 0 && nodes.length > 0) throw new ConfigError('set REDIS_SENTINELS or REDIS_CLUSTER_NODES, not both')
  if (nodes.length > 0) {
    return { topology: 'cluster', nodes, ...(password && { password }) }
  }
  if (sentinels.length > 0) {
    const sentinelPassword = env.REDIS_SENTINEL_PASSWORD
    return { topology: 'sentinel', sentinels, name: env.REDIS_SENTINEL_NAME, ...(password && { password }), ...(sentinelPassword && { sentinelPassword }) }
  }
  return { topology: 'single', url: parseUrl('REDIS_URL', env.REDIS_URL) }
}

/** A URL that parses, or a configuration error naming its variable (never the value: it may hold a password). */
function parseUrl(name: string, value: string): string {
  if (!URL.canParse(value)) throw new ConfigError(`${name} is not a valid URL (check the host, the port and that a password's special characters are percent-encoded)`)
  return value
}

/**
 * CORS_ORIGINS as browsers send an Origin (`scheme://host[:port]`, never a slash after it): a trailing slash is
 * dropped, since it could never match; a path or anything that is not an origin is refused.
 */
function parseOrigins(value: string): string[] {
  return parseList(value).map((entry) => {
    const trimmed = entry.replace(/\/+$/, '')
    const url = URL.canParse(trimmed) ? new URL(trimmed) : null
    if (url === null || !/^https?:$/.test(url.protocol) || url.origin !== trimmed) {
      throw new ConfigError(`CORS_ORIGINS: "${entry}" is not an origin (scheme://host[:port], as a browser sends it)`)
    }
    return trimmed
  })
}

/** `host:port,host:port` (IPv6 in brackets: `[::1]:26379`). */
function parseHostPorts(name: string, value: string): HostPort[] {
  return parseList(value).map((item) => {
    const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(item)
    const port = Number(match?.[2])
    if (!match || port < 1 || port > 65535) throw new ConfigError(`${name}: "${item}" is not host:port`)
    return { host: match[1]!.replace(/^\[|\]$/g, ''), port }
  })
}

function parseTimeouts(env: Env): SessionTimeouts {
  if (env.SESSION_TTL !== undefined && env.SESSION_IDLE_TTL !== undefined && env.SESSION_TTL !== env.SESSION_IDLE_TTL) {
    throw new ConfigError('SESSION_TTL is the old name of SESSION_IDLE_TTL; set only SESSION_IDLE_TTL')
  }
  const idleSeconds = env.SESSION_IDLE_TTL ?? env.SESSION_TTL ?? DEFAULT_SESSION_IDLE_SECONDS
  // A session idle for less than the touch interval would never slide: it would end however busy its user is.
  for (const [name, seconds] of [['SESSION_IDLE_TTL', idleSeconds], ['REMEMBER_IDLE_TTL', env.REMEMBER_IDLE_TTL]] as const) {
    if (env.SESSION_TOUCH_INTERVAL >= seconds) {
      throw new ConfigError(`SESSION_TOUCH_INTERVAL (${env.SESSION_TOUCH_INTERVAL}) must be shorter than ${name} (${seconds})`)
    }
  }
  return {
    standard: { idleMs: idleSeconds * 1000, absoluteMs: env.SESSION_ABSOLUTE_TTL * 1000 },
    remember: { idleMs: env.REMEMBER_IDLE_TTL * 1000, absoluteMs: env.REMEMBER_ABSOLUTE_TTL * 1000 },
    touchIntervalMs: env.SESSION_TOUCH_INTERVAL * 1000,
  }
}

function parseAdmin(username: string | undefined, password: string | undefined): AppConfig['admin'] {
  if (username === undefined && password === undefined) return null
  if (username === undefined || password === undefined) {
    throw new ConfigError('ADMIN_USERNAME and ADMIN_PASSWORD must be set together')
  }
  return { username, password }
}
