import { randomBytes } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { sql, type Selectable } from 'kysely'
import tap, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { buildApp, type BuildOptions } from '../../src/app.js'
import { loadConfig, type AppConfig, type EnvSource } from '../../src/config.js'
import type { UsersTable } from '../../src/platform/database/schema.js'
import { handleOf, redisKeys } from '../../src/lib/keys.js'
import { MailServer } from '../../src/testing/mail-server.js'
import { PostgresServer } from '../../src/testing/postgres-server.js'
import { RedisServer } from '../../src/testing/redis-server.js'
import { PASSWORD } from './flows.js'

export { freePort, RedisServer } from '../../src/testing/redis-server.js'
export { PostgresServer } from '../../src/testing/postgres-server.js'
export { linkOf, MailServer } from '../../src/testing/mail-server.js'
export { BROWSER_USER_AGENT } from '../../scripts/browser.js'
export { loggedIn, logIn, PASSWORD, register } from './flows.js'

export const TEST_SECRET = 'test-secret-that-is-at-least-32-characters-long'

/** A Redis of the test's own (for tests that stop or freeze it), stopped when the test ends. */
export async function ownRedis(t: Test): Promise<RedisServer> {
  const redis = await RedisServer.start()
  t.teardown(() => redis.stop())
  return redis
}

/** A server shared by the tests of one file: started on first use, stopped when the file's tests end. */
function sharedByFile<Server extends { stop(): Promise<void> }>(start: () => Promise<Server>): () => Promise<Server> {
  let server: Promise<Server> | undefined
  return () => {
    if (!server) {
      server = start()
      tap.teardown(async () => (await server)?.stop())
    }
    return server
  }
}

/** The Redis shared by the tests of one file. */
export const testRedis = sharedByFile(() => RedisServer.start())
/** The PostgreSQL shared by the tests of one file. */
export const testPostgres = sharedByFile(() => PostgresServer.start())

/** The SMTP server shared by the tests of one file: apps built by `build` mail it unless SMTP_URL is given. */
export const testMail = sharedByFile(() => MailServer.start())

/** A PostgreSQL of the test's own (for tests that stop it), stopped when the test ends. */
export async function ownPostgres(t: Test): Promise<PostgresServer> {
  const postgres = await PostgresServer.start()
  t.teardown(() => postgres.stop())
  return postgres
}

const databases = new Map<string, Promise<string>>()

/**
 * The URL of a database on the file's PostgreSQL for one REDIS_PREFIX: apps and instances that share a prefix share
 * their accounts too, as a deployment's instances do; every other prefix starts with no accounts.
 */
export function databaseFor(prefix: string): Promise<string> {
  if (!databases.has(prefix)) {
    const name = `test_${randomBytes(6).toString('hex')}`
    databases.set(prefix, testPostgres().then((postgres) => postgres.createDatabase(name)))
  }
  return databases.get(prefix)!
}

/** A key prefix of its own, so tests sharing one Redis never see each other's users, sessions or counters. */
export function uniquePrefix(): string {
  return `test-${randomBytes(4).toString('hex')}:`
}

/**
 * A ready app wired to a real Redis (the file's own unless given), a real PostgreSQL (a database of the file's
 * server for its REDIS_PREFIX, unless DATABASE_URL is given) and a real SMTP server (the file's, unless SMTP_URL is
 * given), closed when the test ends.
 */
export type App = FastifyInstance

/** Settings every test's service starts with, in process (testConfig) or as its own process (startInstance). */
export const TEST_DEFAULTS = {
  // Tests that count the mails an address gets would count a notice per sign-in: the new-device mail's own tests
  // (test/security-events/new-device.test.ts) turn it on.
  NEW_DEVICE_MAIL: 'false',
  // Test files run side by side on two cores, where an event loop's lag alone (a start deriving the admin's key,
  // compiling its sources) would answer a step 503 OVERLOADED: load shedding has tests of its own
  // (test/platform/load-shedding.test.ts).
  MAX_EVENT_LOOP_DELAY_MS: '0',
} as const

/**
 * The settings of a test's service: the file's Redis (or `redis`, or the Cluster or Sentinels `env` names), a
 * database and key prefix of its own, the file's mail server, and `env` over them.
 */
export async function testConfig(env: EnvSource = {}, redis?: RedisServer): Promise<AppConfig> {
  // A Cluster or Sentinels named in env replace the file's Redis.
  const elsewhere = env.REDIS_CLUSTER_NODES !== undefined || env.REDIS_SENTINELS !== undefined
  const url = redis?.url ?? (elsewhere ? undefined : (await testRedis()).url)
  const prefix = env.REDIS_PREFIX ?? uniquePrefix()
  return loadConfig({
    SESSION_SECRET: TEST_SECRET,
    ...(url && { REDIS_URL: url }),
    REDIS_PREFIX: prefix,
    DATABASE_URL: env.DATABASE_URL ?? (await databaseFor(prefix)),
    SMTP_URL: env.SMTP_URL ?? (await testMail()).url,
    // A failed mail is retried after a second, not half a minute.
    MAIL_RETRY_DELAY_SECONDS: '1',
    // The web app's tests (test/web/) turn it on: the others need no build of it.
    WEB_APP: 'false',
    ...TEST_DEFAULTS,
    ...env,
  })
}

/** The standalone app on testConfig's settings, ready, closed when the test ends. */
export async function build(t: Test, env: EnvSource = {}, redis?: RedisServer, options: Pick<BuildOptions, 'routes'> = {}): Promise<FastifyInstance> {
  const config = await testConfig(env, redis)
  // Every answer a test provokes must be one the OpenAPI document lists for its route.
  const app = await buildApp(config, { ...options, onUndocumentedAnswer: (problem) => t.fail(problem) })
  t.teardown(() => app.close())
  await app.ready()
  return app
}

/** The account's row as PostgreSQL holds it (the name in any letter case), or undefined. */
export function storedAccount(app: FastifyInstance, username: string): Promise<Selectable<UsersTable> | undefined> {
  return app.db.selectFrom('users').selectAll().where(sql`lower(username)`, '=', username.toLowerCase()).executeTakeFirst()
}

export function json(body: unknown) {
  return { headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) }
}

/** A JSON body with more headers (a cookie, a bearer token). */
export function jsonWith(headers: Record<string, string>, body: unknown) {
  return { headers: { ...json(body).headers, ...headers }, payload: JSON.stringify(body) }
}

/** The `name=value` pair of the session cookie a response sets, ready for a Cookie header. */
export function sessionCookie(response: LightMyRequestResponse, name = 'sid'): string {
  const cookie = response.cookies.find((c) => c.name === name)
  if (!cookie?.value) throw new Error(`response sets no ${name} cookie (status ${response.statusCode})`)
  return `${name}=${cookie.value}`
}

/** Sends POST /auth/register: the answer, whatever it is (flows.ts' register expects success). */
export function postRegister(app: FastifyInstance, username: string, password = PASSWORD) {
  return app.inject({ method: 'POST', url: '/auth/register', ...json({ username, password }) })
}

/** Sends POST /auth/login: the answer, whatever it is (flows.ts' logIn expects a session). */
export function postLogin(app: FastifyInstance, username: string, password = PASSWORD, headers: Record<string, string> = {}) {
  const request = json({ username, password })
  return app.inject({ method: 'POST', url: '/auth/login', ...request, headers: { ...request.headers, ...headers } })
}

/** The session ID inside a signed `sid=<id>.<signature>` cookie. */
export function sessionIdOf(cookie: string): string {
  const value = decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1))
  return value.slice(0, value.lastIndexOf('.'))
}

/** The Redis key of the session a cookie names (sessions are stored under a hash of their ID). */
export function sessionKey(prefix: string, cookie: string): string {
  return redisKeys(prefix).session(handleOf(sessionIdOf(cookie)))
}

/** Every command Redis runs while `during` runs, as seen by MONITOR (scripts' inner commands included). */
export async function commandsDuring(server: RedisServer, during: () => Promise<unknown>): Promise<string[][]> {
  return (await commandsOnEach([server], during))[0]!
}

/** What commandsDuring sees, on each of several servers at once (the masters of a Cluster). */
export async function commandsOnEach(servers: RedisServer[], during: () => Promise<unknown>): Promise<string[][][]> {
  // Clients that never connect themselves: their ready check (an INFO) would otherwise race the monitor's start, and
  // ioredis fails with "Command queue state error" when a monitored line arrives with the MONITOR's OK.
  const clients = servers.map((server) => new Redis(server.port, '127.0.0.1', { lazyConnect: true }))
  const monitors = await Promise.all(clients.map((client) => client.monitor()))
  const seen = monitors.map((monitor) => {
    const commands: string[][] = []
    monitor.on('monitor', (_time: string, args: string[]) => commands.push([args[0]!.toLowerCase(), ...args.slice(1)]))
    return commands
  })
  try {
    await during()
    // MONITOR lags a little behind the commands it reports.
    await new Promise((resolve) => setTimeout(resolve, 100))
    return seen
  } finally {
    for (const monitor of monitors) monitor.disconnect()
    for (const client of clients) client.disconnect()
  }
}

/** Logs in with "remember me". */
export function loginRemembered(app: FastifyInstance, username: string, password = PASSWORD) {
  return app.inject({ method: 'POST', url: '/auth/login', ...json({ username, password, remember: true }) })
}

/** A 401 SESSION_EXPIRED that also clears the session cookie. */
export function expectSessionExpired(t: Test, response: LightMyRequestResponse): void {
  t.equal(response.statusCode, 401)
  t.equal(response.json().code, 'SESSION_EXPIRED')
  t.equal(response.cookies.find((c) => c.name === 'sid')?.maxAge, 0, 'the cookie is cleared')
}
