/**
 * `npm run bench`: every server under test runs as its own process against one redis-server started here, and is
 * loaded by autocannon from this process, one after another, with the same connections, duration and warm-up.
 * Figures are only comparable within one run: read the ratios, not the absolute numbers.
 *
 * BENCH_DURATION (seconds per measurement, default 10), BENCH_CONNECTIONS (default 50),
 * BENCH_SESSIONS (sessions created in the memory scenario, default 100000).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdir, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import type { Redis } from 'ioredis'
import { redisKeys } from '../src/lib/keys.js'
import { hashPassword } from '../src/lib/password.js'
import { freePort, RedisServer } from '../test/redis-server.js'

const DURATION = Number(process.env.BENCH_DURATION ?? 10)
const WARMUP = Math.max(1, Math.round(DURATION / 3))
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 100_000)
const SECRET = 'bench-secret-that-is-at-least-32-characters'
const USERNAME = 'benchuser'
const PASSWORD = 'bench password'
const PREFIX = 'bench:'
const root = fileURLToPath(new URL('..', import.meta.url))

interface ProbeReport {
  eventLoopDelayP99Ms: number
  eventLoopDelayMaxMs: number
  rssBytes: number
  heapUsedBytes: number
}

/** A server under test: its own Node process, with the event-loop/RSS probe preloaded. */
class ServerProcess {
  private output = ''
  private constructor(readonly child: ChildProcess, readonly port: number) {
    child.stdout?.on('data', (chunk) => (this.output += chunk))
    child.stderr?.on('data', (chunk) => (this.output += chunk))
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  static async start(script: string, env: Record<string, string>): Promise<ServerProcess> {
    const port = await freePort()
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', '--import', './bench/probe.ts', script], {
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
  async probe(): Promise<ProbeReport> {
    const answer = once(this.child, 'message', { signal: AbortSignal.timeout(5000) })
    this.child.send('probe')
    const [report] = await answer
    return report as ProbeReport
  }

  async stop(): Promise<void> {
    const exited = once(this.child, 'exit')
    this.child.kill('SIGKILL')
    await exited
  }
}

async function commandCounts(redis: Redis): Promise<Map<string, number>> {
  const info = await redis.info('commandstats')
  const counts = new Map<string, number>()
  for (const [, command, calls] of info.matchAll(/cmdstat_([\w|]+):calls=(\d+)/g)) {
    if (command !== 'info') counts.set(command!, Number(calls))
  }
  return counts
}

const SESSION_WRITES = new Set(['set', 'setex', 'psetex', 'expire', 'pexpire', 'del', 'getex', 'hset', 'hdel', 'hincrby'])

interface Load {
  method?: 'GET' | 'POST'
  path: string
  cookie?: string
  body?: string
  connections?: number
  duration?: number
  amount?: number
}

function load(server: ServerProcess, { method = 'GET', path, cookie, body, connections = CONNECTIONS, duration = DURATION, amount }: Load) {
  return autocannon({
    url: `${server.url}${path}`,
    method,
    connections,
    ...(amount ? { amount } : { duration }),
    headers: { ...(cookie ? { cookie } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body } : {}),
  })
}

interface Row {
  name: string
  requestsPerSecond: number
  p50Ms: number
  p99Ms: number
  redisCommandsPerRequest: number
  sessionWritesPerRequest: number
  non2xx: number
}

/** Warm-up, then a measured run with the Redis commands it caused. */
async function measure(name: string, server: ServerProcess, redis: Redis, request: Load): Promise<Row> {
  await load(server, { ...request, duration: WARMUP })
  const before = await commandCounts(redis)
  const result = await load(server, request)
  const after = await commandCounts(redis)
  const requests = result.requests.total
  let commands = 0
  let writes = 0
  for (const [command, calls] of after) {
    const delta = calls - (before.get(command) ?? 0)
    commands += delta
    if (SESSION_WRITES.has(command)) writes += delta
  }
  return {
    name,
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    redisCommandsPerRequest: commands / requests,
    sessionWritesPerRequest: writes / requests,
    non2xx: result.non2xx + result.errors,
  }
}

function cookieFrom(response: Response): string {
  const cookie = response.headers.get('set-cookie')?.split(';')[0]
  if (!cookie) throw new Error(`login set no cookie (status ${response.status})`)
  return cookie
}

async function loginCookie(server: ServerProcess, path: string, credentials?: object): Promise<string> {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(credentials ?? {}),
  })
  return cookieFrom(response)
}

/** The service with its real configuration, but limits high enough that the load itself is never limited. */
function serviceEnv(redis: RedisServer, extra: Record<string, string> = {}): Record<string, string> {
  return {
    SESSION_SECRET: SECRET,
    REDIS_URL: redis.url,
    REDIS_PREFIX: PREFIX,
    COOKIE_SECURE: 'false',
    LOG_LEVEL: 'warn',
    RATE_LIMIT_MAX: '1000000000',
    LOGIN_RATE_LIMIT_MAX: '1000000000',
    ...extra,
  }
}

async function registerBenchUser(server: ServerProcess): Promise<void> {
  await fetch(`${server.url}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: USERNAME, password: PASSWORD }),
  })
}

const credentials = JSON.stringify({ username: USERNAME, password: PASSWORD })

type HotPathCase = [string, string, Record<string, string>, (server: ServerProcess) => Promise<Array<[string, Load]>>]

/** The service logged in as the bench user, sending the given requests. */
function serviceCase(label: string, env: Record<string, string>, requests: Array<[string, Load]>): HotPathCase {
  return [label, 'src/server.ts', env, async (server) => {
    await registerBenchUser(server)
    const cookie = await loginCookie(server, '/auth/login', { username: USERNAME, password: PASSWORD })
    return requests.map(([name, request]) => [`${label}: ${name}`, { ...request, cookie }])
  }]
}

async function hotPath(redisServer: RedisServer, redis: Redis): Promise<Row[]> {
  const rows: Row[] = []
  const cases: HotPathCase[] = [
    ['ceiling', 'bench/servers/ceiling.ts', {}, async () => [['ceiling: Fastify, no session', { path: '/dashboard' }]]],
    ['A', 'bench/servers/express-session.ts', { REDIS_URL: redisServer.url, SESSION_SECRET: SECRET }, async (s) => [
      ['baseline A: Express + express-session', { path: '/dashboard', cookie: await loginCookie(s, '/login') }],
    ]],
    ['B', 'bench/servers/fastify-session.ts', { REDIS_URL: redisServer.url, SESSION_SECRET: SECRET }, async (s) => [
      ['baseline B: @fastify/session defaults', { path: '/dashboard', cookie: await loginCookie(s, '/login') }],
    ]],
    serviceCase('this service', serviceEnv(redisServer), [
      ['GET /api/dashboard', { path: '/api/dashboard' }],
      ['GET /auth/me', { path: '/auth/me' }],
      // The write path: every request changes the session (an atomic increment).
      ['POST /api/count', { method: 'POST', path: '/api/count' }],
    ]),
    serviceCase('this service, SESSION_CACHE_SIZE=10000', serviceEnv(redisServer, { SESSION_CACHE_SIZE: '10000' }), [
      ['GET /api/dashboard', { path: '/api/dashboard' }],
    ]),
  ]
  for (const [, script, env, requests] of cases) {
    const server = await ServerProcess.start(script, env)
    try {
      for (const [name, request] of await requests(server)) {
        console.error(`measuring ${name}`)
        rows.push(await measure(name, server, redis, request))
      }
    } finally {
      await server.stop()
    }
  }
  return rows
}

interface StormReport {
  readsAloneP99Ms: number
  readsDuringStormP99Ms: number
  p99Ratio: number
  loginsPerSecond: number
  eventLoopDelayP99AloneMs: number
  eventLoopDelayP99StormMs: number
}

/** Authenticated reads alone, then the same reads while another client logs in as fast as it can. */
async function loginStorm(redisServer: RedisServer): Promise<StormReport> {
  console.error('measuring the login storm')
  const server = await ServerProcess.start('src/server.ts', serviceEnv(redisServer, { REDIS_PREFIX: 'bench-storm:' }))
  try {
    await registerBenchUser(server)
    const cookie = await loginCookie(server, '/auth/login', { username: USERNAME, password: PASSWORD })
    const reads: Load = { path: '/api/dashboard', cookie }
    await load(server, { ...reads, duration: WARMUP })
    await server.probe()
    const alone = await load(server, reads)
    const aloneLoop = await server.probe()
    const [during, storm] = await Promise.all([
      load(server, reads),
      load(server, { method: 'POST', path: '/auth/login', body: credentials, connections: 4 }),
    ])
    const stormLoop = await server.probe()
    return {
      readsAloneP99Ms: alone.latency.p99,
      readsDuringStormP99Ms: during.latency.p99,
      p99Ratio: during.latency.p99 / alone.latency.p99,
      loginsPerSecond: storm.requests.average,
      eventLoopDelayP99AloneMs: aloneLoop.eventLoopDelayP99Ms,
      eventLoopDelayP99StormMs: stormLoop.eventLoopDelayP99Ms,
    }
  } finally {
    await server.stop()
  }
}

interface MemoryReport {
  sessions: number
  serviceRssBeforeMb: number
  serviceRssAfterMb: number
  serviceRssGrowth: number
  serviceHeapBeforeMb: number
  serviceHeapAfterMb: number
  redisBytesPerSession: number
  inMemoryRssBeforeMb: number
  inMemoryRssAfterMb: number
  inMemoryRssGrowth: number
  inMemoryHeapBeforeMb: number
  inMemoryHeapAfterMb: number
}

const MB = 1024 * 1024

/** Creates SESSIONS sessions by logging in, and reads what they cost the process and Redis. */
async function memory(redisServer: RedisServer, redis: Redis): Promise<MemoryReport> {
  console.error(`measuring memory for ${SESSIONS} sessions`)
  const prefix = 'bench-memory:'
  // One user logs in SESSIONS times: without a per-user cap, so that every session stays.
  const service = await ServerProcess.start('src/server.ts', serviceEnv(redisServer, { REDIS_PREFIX: prefix, MAX_SESSIONS_PER_USER: '0' }))
  let serviceReport: Pick<MemoryReport, 'serviceRssBeforeMb' | 'serviceRssAfterMb' | 'serviceHeapBeforeMb' | 'serviceHeapAfterMb' | 'redisBytesPerSession'>
  try {
    await registerBenchUser(service)
    // Seeding: the user's stored hash gets the cheapest scrypt cost, so that creating 100,000 sessions measures
    // sessions, not key derivation (the cost is read from each stored hash).
    const keys = redisKeys(prefix)
    await redis.hset(keys.user(USERNAME), 'passwordHash', await hashPassword(PASSWORD, { costLog2: 1, blockSize: 1, parallelism: 1 }))
    const logins: Load = { method: 'POST', path: '/auth/login', body: credentials }
    await load(service, { ...logins, amount: 1000 })
    const usedBefore = Number((await redis.info('memory')).match(/used_memory:(\d+)/)![1])
    const sessionsBefore = (await redis.keys(`${prefix}sess:*`)).length
    const before = await service.probe()
    await load(service, { ...logins, amount: SESSIONS })
    const after = await service.probe()
    const usedAfter = Number((await redis.info('memory')).match(/used_memory:(\d+)/)![1])
    const created = (await redis.keys(`${prefix}sess:*`)).length - sessionsBefore
    serviceReport = {
      serviceRssBeforeMb: before.rssBytes / MB,
      serviceRssAfterMb: after.rssBytes / MB,
      serviceHeapBeforeMb: before.heapUsedBytes / MB,
      serviceHeapAfterMb: after.heapUsedBytes / MB,
      redisBytesPerSession: (usedAfter - usedBefore) / created,
    }
  } finally {
    await service.stop()
  }

  const inMemory = await ServerProcess.start('bench/servers/fastify-session.ts', { BENCH_STORE: 'memory', SESSION_SECRET: SECRET })
  try {
    await load(inMemory, { method: 'POST', path: '/login', body: '{}', amount: 1000 })
    const before = await inMemory.probe()
    await load(inMemory, { method: 'POST', path: '/login', body: '{}', amount: SESSIONS })
    const after = await inMemory.probe()
    return {
      sessions: SESSIONS,
      ...serviceReport,
      serviceRssGrowth: serviceReport.serviceRssAfterMb / serviceReport.serviceRssBeforeMb - 1,
      inMemoryRssBeforeMb: before.rssBytes / MB,
      inMemoryRssAfterMb: after.rssBytes / MB,
      inMemoryRssGrowth: after.rssBytes / before.rssBytes - 1,
      inMemoryHeapBeforeMb: before.heapUsedBytes / MB,
      inMemoryHeapAfterMb: after.heapUsedBytes / MB,
    }
  } finally {
    await inMemory.stop()
  }
}

const fixed = (value: number, digits = 1) => value.toFixed(digits)
const percent = (value: number) => `${value >= 0 ? '+' : ''}${(value * 100).toFixed(1)}%`

function hotPathTable(rows: Row[]): string {
  const baseline = rows.find((row) => row.name.startsWith('baseline A'))!
  const ceiling = rows.find((row) => row.name.startsWith('ceiling'))!
  const lines = [
    '| server | req/s | p50 ms | p99 ms | Redis cmds/req | session writes/req | vs baseline A | vs ceiling | non-2xx |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const row of rows) {
    lines.push(
      `| ${row.name} | ${fixed(row.requestsPerSecond, 0)} | ${fixed(row.p50Ms)} | ${fixed(row.p99Ms)} | ` +
        `${fixed(row.redisCommandsPerRequest, 2)} | ${fixed(row.sessionWritesPerRequest, 2)} | ` +
        `${fixed(row.requestsPerSecond / baseline.requestsPerSecond, 2)}x | ${fixed(row.requestsPerSecond / ceiling.requestsPerSecond, 2)}x | ${row.non2xx} |`,
    )
  }
  return lines.join('\n')
}

function stormTable(storm: StormReport): string {
  return [
    '| login storm | reads alone | reads during storm | ratio |',
    '|---|---:|---:|---:|',
    `| p99 of authenticated reads (ms) | ${fixed(storm.readsAloneP99Ms)} | ${fixed(storm.readsDuringStormP99Ms)} | ${fixed(storm.p99Ratio, 2)}x |`,
    `| event-loop delay p99 (ms) | ${fixed(storm.eventLoopDelayP99AloneMs)} | ${fixed(storm.eventLoopDelayP99StormMs)} | |`,
    `| logins/s during the storm | | ${fixed(storm.loginsPerSecond, 0)} | |`,
  ].join('\n')
}

function memoryTable(report: MemoryReport): string {
  return [
    `| memory, ${report.sessions} sessions | RSS before (MB) | RSS after (MB) | RSS growth | heap before → after (MB) | Redis bytes/session |`,
    '|---|---:|---:|---:|---:|---:|',
    `| this service (sessions in Redis) | ${fixed(report.serviceRssBeforeMb)} | ${fixed(report.serviceRssAfterMb)} | ${percent(report.serviceRssGrowth)} | ${fixed(report.serviceHeapBeforeMb)} → ${fixed(report.serviceHeapAfterMb)} | ${fixed(report.redisBytesPerSession, 0)} |`,
    `| baseline B, in-memory store | ${fixed(report.inMemoryRssBeforeMb)} | ${fixed(report.inMemoryRssAfterMb)} | ${percent(report.inMemoryRssGrowth)} | ${fixed(report.inMemoryHeapBeforeMb)} → ${fixed(report.inMemoryHeapAfterMb)} | |`,
  ].join('\n')
}

const redisServer = await RedisServer.start()
const redis = redisServer.connect()
try {
  const started = Date.now()
  const rows = await hotPath(redisServer, redis)
  const storm = await loginStorm(redisServer)
  const memoryReport = await memory(redisServer, redis)
  const settings = `${CONNECTIONS} connections, ${WARMUP} s warm-up + ${DURATION} s per row, Node ${process.version}, ${new Date().toISOString()}`
  const report = [hotPathTable(rows), stormTable(storm), memoryTable(memoryReport), `_${settings}; run took ${fixed((Date.now() - started) / 1000, 0)} s_`].join('\n\n')
  console.log(report)
  await mkdir(new URL('results/', import.meta.url), { recursive: true })
  await writeFile(
    new URL('results/latest.json', import.meta.url),
    JSON.stringify({ settings, hotPath: rows, loginStorm: storm, memory: memoryReport }, null, 2),
  )
} finally {
  redis.disconnect()
  await redisServer.stop()
}
