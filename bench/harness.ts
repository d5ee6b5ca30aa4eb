/**
 * What the benchmarks share: a server under test as its own Node process (with the probe preloaded), the loads
 * against it (wrk, or autocannon where wrk is missing or a fixed number of requests is asked), and the bench user's
 * login.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import autocannon from 'autocannon'
import { PostgresServer } from '../src/testing/postgres-server.js'
import { freePort, RedisServer } from '../src/testing/redis-server.js'

export const DURATION = Number(process.env.BENCH_DURATION ?? 10)
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
export const SECRET = 'bench-secret-that-is-at-least-32-characters'
export const USERNAME = 'benchuser'
export const PASSWORD = 'bench password'
export const PREFIX = 'bench:'
const root = fileURLToPath(new URL('..', import.meta.url))
const SETTLE_INTERVAL_MS = 250
const SETTLE_LIMIT_MS = 15_000
const IDLE_SHARE = 0.02

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

  /** Starts V8's CPU profiler in the server (the probe's inspector session). */
  /**
   * Resolves once the process has been idle (under 2% of a core) for a quarter of a second, or after 15 s: work a load
   * left queued (logins waiting for a key derivation go on after the load stops) must not be counted in the next
   * row measured on this process, nor slow the next row of another.
   */
  async settle(): Promise<void> {
    const deadline = performance.now() + SETTLE_LIMIT_MS
    let before = await this.cpuMicros()
    while (performance.now() < deadline) {
      await sleep(SETTLE_INTERVAL_MS)
      const now = await this.cpuMicros()
      if (now - before < SETTLE_INTERVAL_MS * 1000 * IDLE_SHARE) return
      before = now
    }
  }

  async startProfile(): Promise<void> {
    await this.ask('profile:start')
  }

  /** Stops the profiler; the profile is in the file named. */
  async stopProfile(): Promise<string> {
    return (await this.ask<{ path: string }>('profile:stop')).path
  }

  private async ask<T>(question: string): Promise<T> {
    const answer = once(this.child, 'message', { signal: AbortSignal.timeout(30_000) })
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
  /** An Authorization header (a bearer token), in place of a cookie. */
  authorization?: string
  body?: string
  connections?: number
  duration?: number
  /** A fixed number of requests (autocannon), in place of a duration. */
  amount?: number
  userAgent?: string
  /** A body per request, in place of `body` (autocannon only: for loads of a fixed number of requests). */
  nextBody?: () => string
  /** These cookies in turn, one per request, in place of `cookie` (read when the load starts). */
  cookiesInTurn?: string[]
}

/** What a load measured. */
export interface LoadResult {
  requests: { total: number; average: number }
  latency: { p50: number; p99: number }
  non2xx: number
  errors: number
}

/**
 * The load generator: wrk (C, one thread) where it is on PATH, so that the servers under test keep the CPU a Node
 * generator on the same cores would take (autocannon caps the fastest rows well below what they serve). Installed
 * by the bench where the machine lets it (ensureWrk).
 */
export let driver: 'wrk' | 'autocannon' = spawnSync('wrk', ['--version']).error ? 'autocannon' : 'wrk'

/** Installs wrk from the distribution's packages when it is missing and this process may (root with apt-get). */
export function ensureWrk(): void {
  if (driver === 'wrk' || process.getuid?.() !== 0 || spawnSync('apt-get', ['--version']).error) return
  console.error('installing wrk (apt-get install wrk) to drive the loads')
  const installed = spawnSync('apt-get', ['install', '-y', '-qq', 'wrk'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
  if (installed.status === 0 && !spawnSync('wrk', ['--version']).error) driver = 'wrk'
}

export function load(server: ServerProcess, options: Load): Promise<LoadResult> {
  return options.amount === undefined && options.nextBody === undefined && driver === 'wrk' ? loadWithWrk(server, options) : loadWithAutocannon(server, options)
}

/** A Lua string literal. */
const lua = (value: string) => JSON.stringify(value)

async function loadWithWrk(server: ServerProcess, options: Load): Promise<LoadResult> {
  const { method = 'GET', path, cookie, authorization, body, connections = CONNECTIONS, duration = DURATION, userAgent, cookiesInTurn } = options
  const dir = await mkdtemp(join(tmpdir(), 'bench-wrk-'))
  try {
    const script = [
      `wrk.method = ${lua(method)}`,
      ...(body ? [`wrk.body = ${lua(body)}`, 'wrk.headers["content-type"] = "application/json"'] : []),
      ...(cookie ? [`wrk.headers["cookie"] = ${lua(cookie)}`] : []),
      ...(authorization ? [`wrk.headers["authorization"] = ${lua(authorization)}`] : []),
      ...(userAgent ? [`wrk.headers["user-agent"] = ${lua(userAgent)}`] : []),
    ]
    if (cookiesInTurn) {
      await writeFile(join(dir, 'cookies'), cookiesInTurn.join('\n'))
      script.push(
        'local cookies = {}',
        `for line in io.lines(${lua(join(dir, 'cookies'))}) do cookies[#cookies + 1] = line end`,
        'local next = 0',
        'request = function()',
        '  next = next % #cookies + 1',
        '  wrk.headers["cookie"] = cookies[next]',
        '  return wrk.format()',
        'end',
      )
    }
    script.push(
      'done = function(summary, latency)',
      '  local e = summary.errors',
      '  io.write(string.format("WRK_RESULT %d %d %d %d %d %d\\n", summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))',
      'end',
    )
    await writeFile(join(dir, 'load.lua'), script.join('\n'))
    // A login at OWASP's cost on a busy machine can take seconds: wrk's default 2 s timeout would count it as failed.
    const { stdout } = await promisify(execFile)('wrk', ['-t1', `-c${connections}`, `-d${duration}s`, '--timeout', '60s', '-s', join(dir, 'load.lua'), `${server.url}${path}`])
    const [total, micros, non2xx, errors, p50, p99] = /WRK_RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(stdout)!.slice(1).map(Number) as number[]
    return { requests: { total: total!, average: total! / (micros! / 1e6) }, latency: { p50: p50! / 1000, p99: p99! / 1000 }, non2xx: non2xx!, errors: errors! }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

async function loadWithAutocannon(server: ServerProcess, options: Load): Promise<LoadResult> {
  const { method = 'GET', path, cookie, authorization, body, connections = CONNECTIONS, duration = DURATION, amount, userAgent, nextBody, cookiesInTurn } = options
  let turn = 0
  const nextCookie = cookiesInTurn && (() => cookiesInTurn[turn++ % cookiesInTurn.length]!)
  return autocannon({
    url: `${server.url}${path}`,
    method,
    connections,
    ...(amount ? { amount } : { duration }),
    headers: {
      ...(cookie ? { cookie } : {}),
      ...(authorization ? { authorization } : {}),
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
