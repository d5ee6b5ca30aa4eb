/**
 * What the benchmarks share: a server under test as its own Node process (with the probe preloaded), autocannon
 * loads against it, and the bench user's login.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import { PostgresServer } from '../scripts/postgres-server.js'
import { freePort, RedisServer } from '../scripts/redis-server.js'

export const DURATION = Number(process.env.BENCH_DURATION ?? 10)
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
export const SECRET = 'bench-secret-that-is-at-least-32-characters'
export const USERNAME = 'benchuser'
export const PASSWORD = 'bench password'
export const PREFIX = 'bench:'
const root = fileURLToPath(new URL('..', import.meta.url))

export interface ProbeReport {
  eventLoopDelayP99Ms: number
  eventLoopDelayMaxMs: number
  rssBytes: number
  heapUsedBytes: number
}

/** A server under test: its own Node process, with the event-loop/RSS probe preloaded. */
export class ServerProcess {
  private output = ''
  private constructor(readonly child: ChildProcess, readonly port: number) {
    child.stdout?.on('data', (chunk) => (this.output += chunk))
    child.stderr?.on('data', (chunk) => (this.output += chunk))
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  static async start(script: string, env: Record<string, string>, nodeArgs: string[] = []): Promise<ServerProcess> {
    const port = await freePort()
    const child = spawn(process.execPath, [...nodeArgs, '--expose-gc', '--import', 'tsx', '--import', './bench/probe.ts', script], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', PORT: String(port), ...env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    })
    const server = new ServerProcess(child, port)
    for (let attempt = 0; attempt < 200; attempt++) {
      if (child.exitCode !== null) break
      const ok = await fetch(`${server.url}/`).then(() => true, () => false)
      if (ok) return server
      await sleep(50)
    }
    throw new Error(`${script} did not start:\n${server.output}`)
  }

  /** Event-loop delay since the previous probe, and RSS now. */
  probe(): Promise<ProbeReport> {
    return this.ask<ProbeReport>('probe')
  }

  /** CPU time (user + system) the process has used so far, in microseconds. */
  async cpuMicros(): Promise<number> {
    return (await this.ask<{ cpuMicros: number }>('cpu')).cpuMicros
  }

  private async ask<T>(question: string): Promise<T> {
    const answer = once(this.child, 'message', { signal: AbortSignal.timeout(5000) })
    this.child.send(question)
    const [report] = await answer
    return report as T
  }

  /** Stops it as an operator would (SIGTERM: graceful shutdown, and a CPU profile written on the way out). */
  async terminate(): Promise<void> {
    const exited = once(this.child, 'exit')
    this.child.kill('SIGTERM')
    await exited
  }

  async stop(): Promise<void> {
    const exited = once(this.child, 'exit')
    this.child.kill('SIGKILL')
    await exited
  }
}

export interface Load {
  method?: 'GET' | 'POST'
  path: string
  cookie?: string
  body?: string
  connections?: number
  duration?: number
  amount?: number
  userAgent?: string
  /** A body per request, in place of `body`. */
  nextBody?: () => string
  /** A cookie per request, in place of `cookie`. */
  nextCookie?: () => string
}

export function load(server: ServerProcess, options: Load) {
  const { method = 'GET', path, cookie, body, connections = CONNECTIONS, duration = DURATION, amount, userAgent, nextBody, nextCookie } = options
  return autocannon({
    url: `${server.url}${path}`,
    method,
    connections,
    ...(amount ? { amount } : { duration }),
    headers: {
      ...(cookie ? { cookie } : {}),
      ...(body || nextBody ? { 'content-type': 'application/json' } : {}),
      ...(userAgent ? { 'user-agent': userAgent } : {}),
    },
    ...(body ? { body } : {}),
    ...(nextBody || nextCookie
      ? {
          requests: [{
            setupRequest: (request) => ({
              ...request,
              ...(nextBody && { body: nextBody() }),
              ...(nextCookie && { headers: { ...request.headers, cookie: nextCookie() } }),
            }),
          }],
        }
      : {}),
  })
}

/** The session cookie a login set (not our device cookie beside it). */
function cookieFrom(response: Response): string {
  const cookie = response.headers.getSetCookie().map((line) => line.split(';')[0]!).find((pair) => !/^[^=]*-device=/.test(pair))
  if (!cookie) throw new Error(`login set no session cookie (status ${response.status})`)
  return cookie
}

export async function loginCookie(server: ServerProcess, path: string, credentials?: object, headers: Record<string, string> = {}): Promise<string> {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(credentials ?? {}),
  })
  return cookieFrom(response)
}

/** The servers the service under test stores in, started by the benchmark. */
export interface Stores {
  redis: RedisServer
  postgres: PostgresServer
  /** The benchmark's database on `postgres`. */
  databaseUrl: string
}

export async function startStores(): Promise<Stores> {
  const [redis, postgres] = await Promise.all([RedisServer.start(), PostgresServer.start()])
  return { redis, postgres, databaseUrl: await postgres.createDatabase('bench') }
}

export async function stopStores({ redis, postgres }: Stores): Promise<void> {
  await Promise.all([redis.stop(), postgres.stop()])
}

/** The service with its real configuration, but limits high enough that the load itself is never limited. */
export function serviceEnv({ redis, databaseUrl }: Stores, extra: Record<string, string> = {}): Record<string, string> {
  return {
    SESSION_SECRET: SECRET,
    REDIS_URL: redis.url,
    DATABASE_URL: databaseUrl,
    REDIS_PREFIX: PREFIX,
    COOKIE_SECURE: 'false',
    // Plain HTTP on the loopback: no metrics token to send.
    METRICS_PUBLIC: 'true',
    // Where mailed links would lead; the bench sends none.
    PUBLIC_URL: 'https://app.example.test',
    LOG_LEVEL: 'warn',
    RATE_LIMIT_MAX: '1000000000',
    LOGIN_RATE_LIMIT_MAX: '1000000000',
    CREDENTIAL_RATE_LIMIT_MAX: '1000000000',
    ...extra,
  }
}

/** What the comparison servers (the limit, the baselines, the peer) need: the bench's Redis and the secret. */
export function comparisonEnv({ redis }: Stores, extra: Record<string, string> = {}): Record<string, string> {
  return { REDIS_URL: redis.url, SESSION_SECRET: SECRET, ...extra }
}

export async function registerBenchUser(server: ServerProcess, username = USERNAME): Promise<void> {
  await fetch(`${server.url}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: PASSWORD }),
  })
}

export const credentials = JSON.stringify({ username: USERNAME, password: PASSWORD })
