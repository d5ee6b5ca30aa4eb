import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { Redis } from 'ioredis'
import tap, { type Test } from 'tap'
import { buildApp } from '../src/app.js'
import { loadConfig, type EnvSource } from '../src/config.js'

export const TEST_SECRET = 'test-secret-that-is-at-least-32-characters-long'
export const PASSWORD = 'correct horse battery'

const REDIS_MISSING = 'redis-server was not found on PATH. The tests start their own Redis from it: install it with ' +
  '"apt-get install redis-server" (Debian/Ubuntu), "brew install redis" (macOS) or your package manager.'

export async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** A real redis-server on a free port with its own temp dir, owned by the test that started it. */
export class RedisServer {
  private process: ChildProcess | null = null
  private constructor(readonly port: number, readonly dir: string) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  static async start(): Promise<RedisServer> {
    if (spawnSync('redis-server', ['--version']).error) throw new Error(REDIS_MISSING)
    const server = new RedisServer(await freePort(), await mkdtemp(join(tmpdir(), 'redis-test-')))
    await server.resume()
    return server
  }

  /** Starts (again) on the same port and dir, and waits until it answers PING. */
  async resume(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'no']
    this.process = spawn('redis-server', args, { stdio: 'ignore' })
    const probe = new Redis(this.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    probe.on('error', () => {})
    try {
      for (let attempt = 0; attempt < 100; attempt++) {
        try {
          if (probe.status !== 'ready') await probe.connect()
          await probe.ping()
          return
        } catch {
          probe.disconnect()
          await sleep(50)
        }
      }
      throw new Error(`redis-server did not start on port ${this.port}`)
    } finally {
      probe.disconnect()
    }
  }

  /** Stops the server, as an outage would (the data dir stays for resume()). */
  async halt(): Promise<void> {
    const child = this.process
    this.process = null
    if (!child || child.exitCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  }

  /** Freezes the process (SIGSTOP): connections stay open but nothing answers, as with a hung server. */
  freeze(): void {
    this.process?.kill('SIGSTOP')
  }

  thaw(): void {
    this.process?.kill('SIGCONT')
  }

  async stop(): Promise<void> {
    this.thaw()
    await this.halt()
    await rm(this.dir, { recursive: true, force: true })
  }

  /** A plain client for looking into Redis from a test; closed when the test ends. */
  client(t: Test): Redis {
    const client = new Redis(this.port, '127.0.0.1')
    t.teardown(() => client.disconnect())
    return client
  }
}

/** A Redis of the test's own (for tests that stop or freeze it), stopped when the test ends. */
export async function ownRedis(t: Test): Promise<RedisServer> {
  const redis = await RedisServer.start()
  t.teardown(() => redis.stop())
  return redis
}

let fileRedis: Promise<RedisServer> | undefined

/** The Redis shared by the tests of one file: started on first use, stopped when the file's tests end. */
export function testRedis(): Promise<RedisServer> {
  if (!fileRedis) {
    fileRedis = RedisServer.start()
    tap.teardown(async () => (await fileRedis)?.stop())
  }
  return fileRedis
}

/** A key prefix of its own, so tests sharing one Redis never see each other's users, sessions or counters. */
export function uniquePrefix(): string {
  return `test-${randomBytes(4).toString('hex')}:`
}

export interface BuildOverrides extends EnvSource {}

/** A ready app wired to a real Redis (the file's own unless given), closed when the test ends. */
export type App = FastifyInstance

export async function build(t: Test, env: BuildOverrides = {}, redis?: RedisServer): Promise<FastifyInstance> {
  const server = redis ?? (await testRedis())
  const config = loadConfig({
    SESSION_SECRET: TEST_SECRET,
    REDIS_URL: server.url,
    REDIS_PREFIX: uniquePrefix(),
    ...env,
  })
  const app = await buildApp(config)
  t.teardown(() => app.close())
  await app.ready()
  return app
}

export function json(body: unknown) {
  return { headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) }
}

/** The `name=value` pair of the session cookie a response sets, ready for a Cookie header. */
export function sessionCookie(response: LightMyRequestResponse, name = 'sid'): string {
  const cookie = response.cookies.find((c) => c.name === name)
  if (!cookie?.value) throw new Error(`response sets no ${name} cookie (status ${response.statusCode})`)
  return `${name}=${cookie.value}`
}

export function register(app: FastifyInstance, username: string, password = PASSWORD) {
  return app.inject({ method: 'POST', url: '/auth/register', ...json({ username, password }) })
}

export function login(app: FastifyInstance, username: string, password = PASSWORD, headers: Record<string, string> = {}) {
  const request = json({ username, password })
  return app.inject({ method: 'POST', url: '/auth/login', ...request, headers: { ...request.headers, ...headers } })
}

/** Registers a user and logs in; returns the Cookie header value of the new session. */
export async function loggedIn(app: FastifyInstance, username: string): Promise<string> {
  const registered = await register(app, username)
  if (registered.statusCode !== 201) throw new Error(`register ${username}: ${registered.body}`)
  return sessionCookie(await login(app, username))
}

/** The session ID inside a signed `sid=<id>.<signature>` cookie. */
export function sessionIdOf(cookie: string): string {
  const value = decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1))
  return value.slice(0, value.lastIndexOf('.'))
}
