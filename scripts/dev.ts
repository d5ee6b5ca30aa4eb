/**
 * `npm run dev`: the server with reload on change and readable logs. When nothing answers at REDIS_URL or
 * DATABASE_URL on this machine and the server binaries are installed, it starts a throwaway redis-server or
 * PostgreSQL for the session (nothing kept) and stops it after; when nothing answers at SMTP_URL, a mail catcher
 * that prints each mail (links included) to this terminal and answers Mailpit's read API on DEV_MAIL_API_PORT (8025,
 * Mailpit's port), so that the README's mail block runs as written. One line then says which servers it uses.
 * The web app runs in Vite's dev server on DEV_WEB_PORT (5173), reloading on change and passing API calls to the
 * service; mailed links open it there (PUBLIC_URL), and the service leaves the pages to it (WEB_APP=false).
 */
import { spawn } from 'node:child_process'
import { connect } from 'node:net'
import 'dotenv/config'
import { sql } from 'kysely'
import PinoPretty from 'pino-pretty'
import { createDatabase } from '../src/platform/database/connection.js'
import { closeRedis, connectRedis } from '../src/platform/redis/plugin.js'
import { MailServer, mailForTerminal, serveMailpitApi } from '../src/testing/mail-server.js'
import { PostgresServer } from '../src/testing/postgres-server.js'
import { RedisServer } from '../src/testing/redis-server.js'

/** A URL setting, or one line naming it and an exit, as the server's own start says it (no stack trace). */
function urlSetting(name: string, fallback: string): URL {
  const value = process.env[name] ?? fallback
  if (URL.canParse(value)) return new URL(value)
  console.error(`Invalid configuration: ${name} is not a valid URL (check the host, the port and that a password's special characters are percent-encoded)`)
  process.exit(1)
}

const redisUrl = urlSetting('REDIS_URL', 'redis://127.0.0.1:6379')
const databaseUrl = urlSetting('DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/redis_session_api')
const smtpUrl = urlSetting('SMTP_URL', 'smtp://127.0.0.1:1025')
const mailApiPort = Number(process.env.DEV_MAIL_API_PORT ?? 8025)
const webPort = Number(process.env.DEV_WEB_PORT ?? 5173)
const serviceUrl = `http://127.0.0.1:${process.env.PORT ?? 3000}`
const webUrl = `http://localhost:${webPort}`
const LOCAL_HOSTS = ['127.0.0.1', 'localhost', '[::1]']

interface Throwaway {
  dir: string
  stop(): Promise<void>
  /** Where to read what it holds, when that is not in this terminal alone. */
  readAt?: string
}
/** What dev found at a URL: a server already there (shared), one it started, or none. */
type Found = { kind: 'running' } | { kind: 'started'; server: Throwaway } | { kind: 'missing' }
const started: Throwaway[] = []

async function answers(check: () => Promise<unknown>): Promise<boolean> {
  return check().then(() => true, () => false)
}

/** Starts a throwaway server for `url` when nothing answers there and it is on this machine. */
async function ensureLocal(name: string, url: URL, check: () => Promise<unknown>, start: () => Promise<Throwaway>): Promise<Found> {
  if (await answers(check)) return { kind: 'running' }
  const cannot = `Nothing answers at ${url.host} and no local ${name} can be started`
  if (!LOCAL_HOSTS.includes(url.hostname)) {
    console.error(`${cannot}; the server will say why.`)
    return { kind: 'missing' }
  }
  try {
    const server = await start()
    started.push(server)
    console.log(`Started ${name} on ${url.host} for this session (data in ${server.dir}, not kept)`)
    return { kind: 'started', server }
  } catch (error) {
    console.error(`${cannot} (${error instanceof Error ? error.message : String(error)}); the server will say why.`)
    return { kind: 'missing' }
  }
}

/** One part of the start line: where a server is, and whether it is this session's own or shared. */
function describe(name: string, where: string, found: Found): string {
  if (found.kind === 'started') return `${name} at ${where} (started for this session)`
  if (found.kind === 'running') return `${name} at ${where} (already running: shared with whatever else uses it)`
  return `${name} at ${where} (not reachable)`
}

const redis = await ensureLocal(
  'redis-server',
  redisUrl,
  async () => closeRedis(await connectRedis({ topology: 'single', url: redisUrl.href })),
  () => RedisServer.start({ port: Number(redisUrl.port || 6379) }),
)
/** SQLSTATE invalid_catalog_name: the server answered, and has no such database. */
const NO_SUCH_DATABASE = '3D000'

/** Answers `SELECT 1`; when the server answers but lacks the database, creates it (the project's own, by default). */
async function databaseAnswers(): Promise<void> {
  const query = async (url: URL, statement: ReturnType<typeof sql.raw>) => {
    const { db } = createDatabase({ url: url.href, poolSize: 1, statementTimeoutMs: 0 })
    await statement.execute(db).finally(() => db.destroy())
  }
  try {
    await query(databaseUrl, sql.raw('SELECT 1'))
  } catch (error) {
    if ((error as { code?: string }).code !== NO_SUCH_DATABASE) throw error
    const name = decodeURIComponent(databaseUrl.pathname.slice(1))
    const maintenance = new URL(databaseUrl)
    maintenance.pathname = '/postgres'
    await query(maintenance, sql.raw(`CREATE DATABASE "${name.replaceAll('"', '""')}"`))
    console.log(`Created the database "${name}" on ${databaseUrl.host} for this project`)
  }
}

const postgres = await ensureLocal(
  'PostgreSQL',
  databaseUrl,
  databaseAnswers,
  async () => {
    const postgres = await PostgresServer.start({ port: Number(databaseUrl.port || 5432) })
    // The user and database DATABASE_URL names (any password does: the throwaway server trusts local connections).
    const user = decodeURIComponent(databaseUrl.username) || 'postgres'
    const database = decodeURIComponent(databaseUrl.pathname.slice(1)) || user
    if (user !== 'postgres') await postgres.query(`CREATE ROLE "${user}" LOGIN SUPERUSER`)
    if (database !== 'postgres') await postgres.createDatabase(database)
    return postgres
  },
)

const mail = await ensureLocal(
  'mail catcher',
  smtpUrl,
  () =>
    new Promise<void>((resolve, reject) => {
      const socket = connect(Number(smtpUrl.port || 25), smtpUrl.hostname.replace(/^\[|\]$/g, ''), () => socket.end(resolve))
      socket.on('error', reject)
    }),
  async () => {
    const catcher = await MailServer.start({
      port: Number(smtpUrl.port || 25),
      onMail: (mail) => console.log(mailForTerminal(mail)),
    })
    const api = await serveMailpitApi(catcher, mailApiPort).catch((error: unknown) => {
      console.error(`Mailpit's read API not served: port ${mailApiPort} is taken (${error instanceof Error ? error.message : String(error)}); set DEV_MAIL_API_PORT`)
      return null
    })
    return {
      dir: 'memory',
      stop: () => Promise.all([catcher.stop(), api?.stop()]).then(() => undefined),
      ...(api && { readAt: `${api.url}/api/v1/message/latest` }),
    }
  },
)

const database = `${databaseUrl.host}${decodeURIComponent(databaseUrl.pathname)}`
const mailPart
  = mail.kind === 'started' ? `mail caught here (printed below${mail.server.readAt ? `, and at ${mail.server.readAt}` : ''})` : describe('mail to SMTP', smtpUrl.host, mail)
console.log(`Using ${describe('Redis', `${redisUrl.host} (keys under ${process.env.REDIS_PREFIX ?? 'app:'})`, redis)}, ${describe('PostgreSQL', database, postgres)}, ${mailPart}`)

console.log(`The web app, reloading on change: ${webUrl} (the API: ${serviceUrl})`)

const server = spawn(process.execPath, ['--import', 'tsx', '--watch', 'src/server.ts'], {
  stdio: ['inherit', 'pipe', 'inherit'],
  env: { LOG_LEVEL: 'debug', WEB_APP: 'false', PUBLIC_URL: webUrl, ...process.env },
})
server.stdout?.pipe(PinoPretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }))
// Vite itself rather than through npm, so that ending it ends the server it runs.
const web = spawn(process.execPath, ['node_modules/vite/bin/vite.js', '--port', String(webPort), '--strictPort', '--clearScreen', 'false'], {
  cwd: 'web',
  stdio: ['ignore', 'inherit', 'inherit'],
  env: { ...process.env, WEB_DEV_SERVICE_URL: serviceUrl },
})
// The servers this script started go with the server, and so does Vite.
server.on('exit', (code) => {
  web.kill()
  void Promise.all(started.map((throwaway) => throwaway.stop())).finally(() => process.exit(code ?? 0))
})

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => server.kill(signal))
