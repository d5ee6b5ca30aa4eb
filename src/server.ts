import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { buildApp, LOG_SERIALIZERS, REDACTED_LOG_PATHS } from './app.js'
import { ConfigError, EXAMPLE_SESSION_SECRET, loadConfig, type AppConfig } from './config.js'
import { SchemaMismatchError } from './platform/database/migrate.js'
import { OWASP_SCRYPT_COST_LOG2 } from './lib/password.js'
import { DatabaseUnreachableError } from './platform/database/plugin.js'
import { RedisUnreachableError } from './platform/redis/plugin.js'

/** How long in-flight requests get to finish after SIGTERM/SIGINT before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000
const IDLE_REAP_INTERVAL_MS = 100

/** Readable logs for a person at a terminal, when pino-pretty is installed (a development dependency); JSON otherwise. */
function prettyOnTerminal() {
  if (!process.stdout.isTTY) return {}
  try {
    import.meta.resolve('pino-pretty')
  } catch {
    return {}
  }
  return { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } }
}

const DATABASE_HINTS = {
  credentials: 'Check the user and password in DATABASE_URL.',
  passwordMissing: 'Put it in the URL: postgres://user:password@host:port/database (special characters percent-encoded).',
  noDatabase: 'Create the database (e.g. "createdb <name>") or fix its name in DATABASE_URL.',
} as const

/** Expected start-up failures print one line that says what to fix, and exit non-zero; anything else keeps its stack. */
function explainStartFailure(error: unknown, config: AppConfig | undefined): string | null {
  if (error instanceof ConfigError) return `Invalid configuration: ${error.message}`
  if (error instanceof RedisUnreachableError) {
    // A single server's password is in REDIS_URL; Sentinels' and a Cluster's servers take REDIS_PASSWORD.
    const single = config?.redis.connection.topology === 'single'
    const hint = error.credentialsRefused
      ? `Check the password (or ACL user) in ${single ? 'REDIS_URL' : 'REDIS_PASSWORD'}.`
      : 'Start Redis (e.g. "redis-server" or "docker compose up -d redis") or set REDIS_URL.'
    return `Cannot start: ${error.message}. ${hint}`
  }
  if (error instanceof DatabaseUnreachableError) {
    const hint = error.refusal === null ? 'Start PostgreSQL (e.g. "docker compose up -d postgres") or set DATABASE_URL.' : DATABASE_HINTS[error.refusal]
    return `Cannot start: ${error.message}. ${hint}`
  }
  if (error instanceof SchemaMismatchError) return `Cannot start: ${error.message}.`
  const code = (error as NodeJS.ErrnoException).code
  if (config && (code === 'EADDRINUSE' || code === 'EACCES')) {
    const why = code === 'EADDRINUSE' ? 'is in use by another process' : 'needs privileges this process lacks'
    return `Cannot start: port ${config.port} on ${config.host} ${why}. Stop that process or set PORT (and HOST).`
  }
  return null
}

async function start(): Promise<void> {
  let config: AppConfig | undefined
  let app: FastifyInstance | undefined
  // Signals are handled from the first line: a stop while the app is still connecting and migrating must end the
  // process at once, and node as PID 1 (in a container) ignores a signal it has no handler for.
  closeWithGrace({ delay: SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
    if (app === undefined) {
      // Not started yet: nothing to close, and no logger to say why.
      if (err) console.error(err)
      return
    }
    if (err) app.log.error({ err }, 'shutting down after an error')
    else app.log.info({ signal }, 'shutting down')
    // close() reaps the keep-alive connections idle at that moment; one serving an in-flight request becomes
    // idle only after its response, so keep reaping until every in-flight request has finished.
    const serving = app
    const reaper = setInterval(() => serving.server.closeIdleConnections(), IDLE_REAP_INTERVAL_MS)
    await serving.close()
    clearInterval(reaper)
  })
  try {
    config = loadConfig(process.env, { dotenv: true })
    app = await buildApp(config, {
      logger: { level: config.logLevel, redact: REDACTED_LOG_PATHS, serializers: LOG_SERIALIZERS, ...prettyOnTerminal() },
    })
    // Below OWASP's minimum: for benchmarks and development, never for accounts that matter; said at every start.
    if (config.passwordHashCost.costLog2 < OWASP_SCRYPT_COST_LOG2) {
      app.log.warn(`PASSWORD_HASH_COST=${config.passwordHashCost.costLog2} is below ${OWASP_SCRYPT_COST_LOG2}, OWASP's minimum for scrypt: new password hashes are weaker than they should be`)
    }
    if (!config.production && config.session.secrets.includes(EXAMPLE_SESSION_SECRET)) {
      app.log.warn('SESSION_SECRET is the example value from .env.example: fine on a laptop, refused in production. Generate one: openssl rand -base64 32')
    }
    await app.listen({ port: config.port, host: config.host })
  } catch (error) {
    const explanation = explainStartFailure(error, config)
    if (!explanation) throw error
    console.error(explanation)
    // What did connect (Redis, say) would keep the process alive.
    process.exit(1)
  }
}

await start()
