import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { loadConfig, type AppConfig, type EnvSource } from '../config.js'
import type { User } from '../schemas/user.js'
import { MailServer } from './mail-server.js'
import { PostgresServer } from './postgres-server.js'
import { RedisServer } from './redis-server.js'

/**
 * Helpers for a host's tests (`import { startTestServers, signUp, logIn } from 'redis-session-api/testing'`): the real
 * Redis, PostgreSQL and SMTP servers this project's own tests run on, and the steps to an account and a session. They
 * need redis-server and the PostgreSQL server binaries on the machine, and smtp-server and mailparser installed (the
 * package's optional peers). For tests only: the servers keep nothing (PostgreSQL runs with fsync off).
 */
export { freePort, RedisServer } from './redis-server.js'
export { PostgresServer } from './postgres-server.js'
export { linkOf, MailServer, type ParsedMail } from './mail-server.js'

/** The session secret of test settings: long enough to pass the check, and never one to deploy. */
export const TEST_SESSION_SECRET = 'test-session-secret-never-for-production-use'

export interface TestServers {
  readonly redis: RedisServer
  readonly postgres: PostgresServer
  /** Catches every mail the service sends: `mail.waitFor(address)`, then `linkOf(mail)` for its link and token. */
  readonly mail: MailServer
  /**
   * The service's settings on these servers, `env` over them. Each call gets a database and a Redis key prefix of its
   * own, so every app built from it starts with no accounts, sessions or counters.
   */
  config(env?: EnvSource): Promise<AppConfig>
  /** Stops the three servers and removes their files. */
  stop(): Promise<void>
}

/** Starts a Redis, a PostgreSQL and an SMTP server of their own, on free ports. */
export async function startTestServers(): Promise<TestServers> {
  const [redis, postgres, mail] = await Promise.all([RedisServer.start(), PostgresServer.start(), MailServer.start()])
  return {
    redis,
    postgres,
    mail,
    async config(env = {}) {
      const name = randomBytes(6).toString('hex')
      return loadConfig({
        SESSION_SECRET: TEST_SESSION_SECRET,
        REDIS_URL: redis.url,
        REDIS_PREFIX: `test-${name}:`,
        DATABASE_URL: await postgres.createDatabase(`test_${name}`),
        SMTP_URL: mail.url,
        // A failed mail is retried after a second, not half a minute.
        MAIL_RETRY_DELAY_SECONDS: '1',
        ...env,
      })
    },
    async stop() {
      await Promise.all([redis.stop(), postgres.stop(), mail.stop()])
    },
  }
}

/** The password the helpers use when none is given: one the service's password rules accept. */
export const TEST_PASSWORD = 'correct horse battery'

export interface Credentials {
  username: string
  /** TEST_PASSWORD unless given. */
  password?: string
}

/** What a step answered when it was refused: the helpers throw it, with the service's error code. */
export class StepRefused extends Error {
  constructor(step: string, readonly statusCode: number, readonly body: string) {
    super(`${step} answered ${statusCode}: ${body}`)
    this.name = 'StepRefused'
  }
}

async function call(app: FastifyInstance, step: string, method: 'POST', url: string, body: object, expected: number) {
  const response = await app.inject({ method, url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) })
  if (response.statusCode !== expected) throw new StepRefused(step, response.statusCode, response.body)
  return response
}

/** Registers an account through POST /auth/register (wherever the auth routes are mounted) (with `email`, a verification mail is sent): the new user. */
export async function signUp(app: FastifyInstance, { username, password = TEST_PASSWORD, email }: Credentials & { email?: string }): Promise<User> {
  const response = await call(app, `sign up ${username}`, 'POST', `${app.authPrefix}/register`, { username, password, ...(email !== undefined && { email }) }, 201)
  return response.json<{ user: User }>().user
}

/** A session, and the headers that send it: a Cookie, or for `transport: 'token'` an Authorization bearer token. */
export interface LoggedIn {
  user: User
  headers: { cookie: string } | { authorization: string }
}

/** Logs in with the password through POST /auth/login (accounts with two-factor login on need the second step). */
export async function logIn(
  app: FastifyInstance,
  { username, password = TEST_PASSWORD, transport = 'cookie' }: Credentials & { transport?: 'cookie' | 'token' },
): Promise<LoggedIn> {
  const step = `log in ${username}`
  const response = await call(app, step, 'POST', `${app.authPrefix}/login`, { username, password, transport }, 200)
  const body = response.json<{ user?: User; token?: string }>()
  if (body.user === undefined) throw new StepRefused(`${step} (a second factor is due)`, response.statusCode, response.body)
  if (transport === 'token') return { user: body.user, headers: { authorization: `Bearer ${body.token}` } }
  // Every cookie the login set, as a browser would send them back (the session's, and the device's).
  const cookies = response.cookies.filter((cookie) => cookie.value !== '' && cookie.maxAge !== 0)
  if (cookies.length === 0) throw new StepRefused(`${step} (no session cookie)`, response.statusCode, response.body)
  return { user: body.user, headers: { cookie: cookies.map(({ name, value }) => `${name}=${value}`).join('; ') } }
}

/** Gives the account the admin role (its sessions end, as every change of roles ends them): log in after this. */
export async function makeAdmin(app: FastifyInstance, username: string): Promise<void> {
  const account = await app.accounts.find({ username })
  if (account === null) throw new Error(`make ${username} an admin: there is no such account`)
  if (!account.roles.includes('admin')) await app.accounts.setRoles(account.id, [...account.roles, 'admin'])
}
