import closeWithGrace from 'close-with-grace'
import { buildApp, REDACTED_LOG_PATHS } from './app.js'
import { ConfigError, loadConfig, type AppConfig } from './config.js'
import { SchemaMismatchError } from './db/migrate.js'
import { DatabaseUnreachableError } from './plugins/external/database.js'
import { RedisUnreachableError } from './plugins/external/redis.js'

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

/** Expected start-up failures print one line and exit non-zero; anything else keeps its stack. */
function explainStartFailure(error: unknown): string | null {
  if (error instanceof ConfigError) return `Invalid configuration: ${error.message}`
  if (error instanceof RedisUnreachableError) {
    return `Cannot start: ${error.message}. Start Redis (e.g. "redis-server" or "docker compose up -d redis") or set REDIS_URL.`
  }
  if (error instanceof DatabaseUnreachableError) {
    return `Cannot start: ${error.message}. Start PostgreSQL (e.g. "docker compose up -d postgres") or set DATABASE_URL.`
  }
  if (error instanceof SchemaMismatchError) return `Cannot start: ${error.message}.`
  return null
}

async function start(): Promise<void> {
  let config: AppConfig
  try {
    config = loadConfig(process.env, { dotenv: true })
    const app = await buildApp(config, {
      logger: { level: config.logLevel, redact: REDACTED_LOG_PATHS, ...prettyOnTerminal() },
    })
    closeWithGrace({ delay: SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
      if (err) app.log.error({ err }, 'shutting down after an error')
      else app.log.info({ signal }, 'shutting down')
      // close() reaps the keep-alive connections idle at that moment; one serving an in-flight request becomes
      // idle only after its response, so keep reaping until every in-flight request has finished.
      const reaper = setInterval(() => app.server.closeIdleConnections(), IDLE_REAP_INTERVAL_MS)
      await app.close()
      clearInterval(reaper)
    })
    await app.listen({ port: config.port, host: config.host })
  } catch (error) {
    const explanation = explainStartFailure(error)
    if (!explanation) throw error
    console.error(explanation)
    // What did connect (Redis, say) would keep the process alive.
    process.exit(1)
  }
}

await start()
