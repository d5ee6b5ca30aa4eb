/**
 * `npm run bench`: every server under test runs as its own process against one redis-server started here, and is
 * loaded by wrk (installed when missing and possible; autocannon otherwise) with the same connections. The hot-path rows are all started first and
 * measured in alternating rounds (medians reported), so that a noisy moment of the shared machine hits every row
 * alike. Figures are only comparable within one run: read the ratios, not the absolute numbers. CPU µs/req (the
 * server process's CPU time per request) moves much less with the machine's noise than req/s does.
 *
 * BENCH_ROUNDS (alternating rounds of the hot path, default 7), BENCH_ROUND_SECONDS (seconds per row and round,
 * default 5), BENCH_DURATION (seconds per login-storm measurement, default 10), BENCH_CONNECTIONS (default 50),
 * BENCH_SESSIONS (sessions created in the memory scenario, five per user, default 100000), BENCH_BASELINE_TREE (another
 * checkout whose GET /api/dashboard is measured beside this one's, in the same rounds).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { basename, resolve } from 'node:path'
import type { Redis } from 'ioredis'
import { setTimeout as sleep } from 'node:timers/promises'
import pLimit from 'p-limit'
import { DEFAULT_SCRYPT_COST, hashPassword } from '../src/lib/password.js'
import { capacity, capacityTables, type MeasuredCosts } from './capacity.js'
import { eventCostTable, securityEventCost } from './security-events.js'
import { BROWSER_USER_AGENT } from '../scripts/browser.js'
import {
  comparisonEnv,
  CONNECTIONS,
  driver,
  ensureWrk,
  credentials,
  DURATION,
  load,
  loginCookie,
  PASSWORD,
  registerBenchUser,
  SECRET,
  ServerProcess,
  serviceEnv,
  startStores,
  stopStores,
  USERNAME,
  type Load,
  type Stores,
} from './harness.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)
const ROUND_SECONDS = Number(process.env.BENCH_ROUND_SECONDS ?? 5)
const WARMUP = Math.max(1, Math.round(DURATION / 3))
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 100_000)

/** What Redis has done so far: calls by command (scripts' inner commands included), and its process's CPU time. */
interface RedisCounters {
  calls: Map<string, number>
  /** user + system CPU of the redis-server process, in microseconds: command execution and network I/O alike. */
  cpuMicros: number
}

async function redisCounters(redis: Redis): Promise<RedisCounters> {
  const [stats, cpu] = await Promise.all([redis.info('commandstats'), redis.info('cpu')])
  const calls = new Map<string, number>()
  for (const [, command, count] of stats.matchAll(/cmdstat_([\w|]+):calls=(\d+)/g)) if (command !== 'info') calls.set(command!, Number(count))
  const seconds = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(cpu)![1])
  return { calls, cpuMicros: (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1e6 }
}

const SESSION_WRITES = new Set(['set', 'setex', 'psetex', 'expire', 'pexpire', 'del', 'getex', 'hset', 'hdel', 'hincrby'])

interface Sample {
  requestsPerSecond: number
  p50Ms: number
  p99Ms: number
  cpuMicrosPerRequest: number
  redisCommandsPerRequest: number
  redisMicrosPerRequest: number
  sessionWritesPerRequest: number
  /** Expiry slides (PEXPIRE) per request. */
  slidesPerRequest: number
  /** PostgreSQL queries the service sent per request (its /metrics); null for the servers without a database. */
  databaseQueriesPerRequest: number | null
  non2xx: number
}

interface Row extends Sample {
  name: string
  rounds: number[]
}

/**
 * The PostgreSQL queries the service has sent for its own work, from its /metrics (not the job queue's polling, which
 * goes on whatever the load); null for a server without them.
 */
async function databaseQueries(server: ServerProcess): Promise<number | null> {
  const response = await fetch(`${server.url}/metrics`).catch(() => null)
  if (!response?.ok) return null
  const count = /^database_query_duration_seconds_count\{source="service"\} (\d+)/m.exec(await response.text())
  return count ? Number(count[1]) : null
}

/** Redis's CPU while no load runs, in microseconds per second. */
async function redisIdleCpu(redis: Redis): Promise<number> {
  const before = await redisCounters(redis)
  await sleep(IDLE_SECONDS * 1000)
  return ((await redisCounters(redis)).cpuMicros - before.cpuMicros) / IDLE_SECONDS
}
const IDLE_SECONDS = 3

/**
 * One measured load of a row, with the server CPU, the Redis commands (and their Redis CPU) and the PostgreSQL
 * queries it caused.
 */
async function sample(server: ServerProcess, redis: Redis, request: Load, redisIdleCpuPerSecond: number): Promise<Sample> {
  const before = await redisCounters(redis)
  const queriesBefore = await databaseQueries(server)
  const cpuBefore = await server.cpuMicros()
  const started = performance.now()
  const result = await load(server, request)
  const seconds = (performance.now() - started) / 1000
  const cpu = (await server.cpuMicros()) - cpuBefore
  const queriesAfter = await databaseQueries(server)
  const after = await redisCounters(redis)
  const requests = result.requests.total
  let commands = 0
  let writes = 0
  const delta = (command: string) => (after.calls.get(command) ?? 0) - (before.calls.get(command) ?? 0)
  for (const command of after.calls.keys()) {
    commands += delta(command)
    if (SESSION_WRITES.has(command)) writes += delta(command)
  }
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    cpuMicrosPerRequest: cpu / requests,
    redisCommandsPerRequest: commands / requests,
    // Less what Redis spends idle (its timers, expiry cycles): at a few logins a second, that would swamp the login's cost.
    redisMicrosPerRequest: Math.max(0, after.cpuMicros - before.cpuMicros - redisIdleCpuPerSecond * seconds) / requests,
    sessionWritesPerRequest: writes / requests,
    slidesPerRequest: delta('pexpire') / requests,
    databaseQueriesPerRequest: queriesBefore === null || queriesAfter === null ? null : (queriesAfter - queriesBefore) / requests,
    non2xx: result.non2xx + result.errors,
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

/** The row's median of each figure over its rounds (non-2xx: their sum). */
function summarize(name: string, samples: Sample[]): Row {
  const of = (key: Exclude<keyof Sample, 'databaseQueriesPerRequest'>) => median(samples.map((sample) => sample[key]))
  return {
    name,
    requestsPerSecond: of('requestsPerSecond'),
    p50Ms: of('p50Ms'),
    p99Ms: of('p99Ms'),
    cpuMicrosPerRequest: of('cpuMicrosPerRequest'),
    redisCommandsPerRequest: of('redisCommandsPerRequest'),
    redisMicrosPerRequest: of('redisMicrosPerRequest'),
    sessionWritesPerRequest: of('sessionWritesPerRequest'),
    slidesPerRequest: of('slidesPerRequest'),
    databaseQueriesPerRequest: samples[0]!.databaseQueriesPerRequest === null ? null : median(samples.map((sample) => sample.databaseQueriesPerRequest!)),
    non2xx: samples.reduce((sum, sample) => sum + sample.non2xx, 0),
    rounds: samples.map((sample) => sample.requestsPerSecond),
  }
}

type HotPathCase = [string, string, Record<string, string>, (server: ServerProcess) => Promise<Array<[string, Load]>>]

// The login row logs in over and over as a user of its own: as the bench user, the cap on sessions per user would end
// the session the other rows read.
const LOGIN_ROW_USERNAME = 'benchlogins'
// The same at the hash cost of 0.3.0 and before (scrypt N=2^15), side by side: what OWASP's N=2^17 costs a login.
const EARLIER_COST_LOGIN_USERNAME = 'benchlogins15'
const EARLIER_COST_LOGIN_ROW = "this service at 0.3.0's hash cost (N=2^15): POST /auth/login"

/**
 * A login: the account read from PostgreSQL, a key derivation, the session in Redis, the login-epoch check. Four at a
 * time, as in the storm below: the account lock judges at most ACCOUNT_LOCK_THRESHOLD attempts of one account at once,
 * and key derivations queue behind each other anyway.
 */
const loginLoad = (username: string): Load => ({ method: 'POST', path: '/auth/login', body: JSON.stringify({ username, password: PASSWORD }), connections: 4 })

/**
 * The service logged in as the bench user, sending the given requests with its session; `anonymous` ones go without
 * it (a login sent with a session would end that session: a login always starts a new one).
 */
function serviceCase(label: string, env: Record<string, string>, requests: Array<[string, Load]>, anonymous: Array<[string, Load]>): HotPathCase {
  return [label, 'src/server.ts', env, async (server) => {
    await registerBenchUser(server)
    await registerBenchUser(server, LOGIN_ROW_USERNAME)
    const cookie = await loginCookie(server, '/auth/login', { username: USERNAME, password: PASSWORD })
    const row = ([name, request]: [string, Load], withSession: boolean): [string, Load] => [`${label}: ${name}`, withSession ? { ...request, cookie } : request]
    return [...requests.map((request) => row(request, true)), ...anonymous.map((request) => row(request, false))]
  }]
}

/** The footprint's users: many, with a few sessions each, as on a real service. */
const SESSIONS_PER_USER = 5

/**
 * The servers that log many seeded accounts in hash at the cheapest cost (PASSWORD_HASH_COST), so that creating many
 * sessions measures sessions, not key derivation, and no login stores its hash again at a higher one.
 */
const CHEAP_HASH_ENV = { PASSWORD_HASH_COST: '1' }

/** Creates `count` accounts named `${prefix}1`... straight in PostgreSQL (the service's schema), with a hash at the cheapest cost. */
async function seedAccounts(stores: Stores, prefix: string, count: number): Promise<string[]> {
  const cheapHash = await hashPassword(PASSWORD, { ...DEFAULT_SCRYPT_COST, costLog2: Number(CHEAP_HASH_ENV.PASSWORD_HASH_COST) })
  await stores.postgres.query(
    "INSERT INTO redis_session_api.users (id, username, roles, password_hash) SELECT gen_random_uuid(), $1 || i, '{user}', $2 FROM generate_series(1, $3) AS i",
    [prefix, cheapHash, count],
    'bench',
  )
  return Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`)
}

const JWT_ROW = 'this service: GET /api/dashboard with a JWT access token'
const JWT_ROW_USERNAME = 'bench-jwt'

/** Reads of many sessions in turn, each read sliding its session's expiry, and the same reads without the slides. */
const SLIDES_ROW = 'this service: GET /api/dashboard, 20,000 sessions in turn, a slide per read'
const MANY_SESSIONS_ROW = 'GET /api/dashboard, 20,000 sessions in turn'
const SLIDING_SESSIONS = 20_000

/**
 * Sessions of many users (SLIDING_SESSIONS, five per user), as cookies: read in turn, each comes back after more than
 * the slides row's touch interval (1 s) at any rate this machine reaches, so each of its reads slides the expiry.
 */
async function sessionsOfMany(server: ServerProcess, stores: Stores): Promise<string[]> {
  const usernames = await seedAccounts(stores, 'slider', SLIDING_SESSIONS / SESSIONS_PER_USER)
  const limit = pLimit(16)
  const logins = usernames.flatMap((username) => Array.from({ length: SESSIONS_PER_USER }, () => username))
  return Promise.all(logins.map((username) => limit(() => loginCookie(server, '/auth/login', { username, password: PASSWORD }))))
}

/**
 * BENCH_BASELINE_TREE: another checkout of this service (its dependencies installed), measured in the same run beside
 * this one, so that a change's cost on the hot path is a ratio of one run, not of two runs on a shared machine.
 */
const BASELINE_TREE = process.env.BENCH_BASELINE_TREE

function baselineTreeCase(stores: Stores, tree: string): HotPathCase {
  const label = `the tree at ${basename(resolve(tree))}`
  return [label, resolve(tree, 'src/server.ts'), serviceEnv(stores), async (server) => {
    await registerBenchUser(server)
    const cookie = await loginCookie(server, '/auth/login', { username: USERNAME, password: PASSWORD })
    return [[`${label}: GET /api/dashboard`, { path: '/api/dashboard', cookie }]]
  }]
}

/** The peer row's account, made by its own sign-up. */
const PEER_ACCOUNT = { email: 'bench@example.test', password: PASSWORD, name: USERNAME }

async function hotPath(stores: Stores, redis: Redis): Promise<Row[]> {
  const betterAuthDatabase = await stores.postgres.createDatabase('better_auth')
  const manySessions: string[] = []
  const cases: HotPathCase[] = [
    ['ceiling', 'bench/servers/ceiling.ts', {}, async () => [['ceiling: Fastify, no session', { path: '/dashboard' }]]],
    ['limit', 'bench/servers/round-trip-limit.ts', comparisonEnv(stores), async (s) => [
      ['limit: signed cookie + one Redis GET', { path: '/dashboard', cookie: await loginCookie(s, '/login') }],
    ]],
    ['A', 'bench/servers/express-session.ts', comparisonEnv(stores), async (s) => [
      ['baseline A: Express + express-session', { path: '/dashboard', cookie: await loginCookie(s, '/login') }],
    ]],
    ['B', 'bench/servers/fastify-session.ts', comparisonEnv(stores), async (s) => [
      ['baseline B: @fastify/session defaults', { path: '/dashboard', cookie: await loginCookie(s, '/login') }],
    ]],
    ['B tuned', 'bench/servers/fastify-session.ts', comparisonEnv(stores, { BENCH_TUNED: 'true' }), async (s) => [
      ['baseline B tuned: @fastify/session, rolling and saveUninitialized off', { path: '/dashboard', cookie: await loginCookie(s, '/login') }],
    ]],
    ['better-auth', 'bench/peers/better-auth.ts', comparisonEnv(stores, { DATABASE_URL: betterAuthDatabase }), async (s) => {
      // As a browser on its own origin: it refuses a sign-in without one.
      const origin = { origin: s.url }
      await loginCookie(s, '/api/auth/sign-up/email', PEER_ACCOUNT, origin)
      const { email, password } = PEER_ACCOUNT
      const cookie = await loginCookie(s, '/api/auth/sign-in/email', { email, password }, origin)
      return [['peer: better-auth (Redis secondary storage, PostgreSQL accounts)', { path: '/dashboard', cookie }]]
    }],
    // The same sessions (same prefix) are read by the service's own rows too, where they slide once a minute.
    ['slides', 'src/server.ts', serviceEnv(stores, { SESSION_TOUCH_INTERVAL: '1', ...CHEAP_HASH_ENV }), async (s) => {
      manySessions.push(...(await sessionsOfMany(s, stores)))
      return [[SLIDES_ROW, { path: '/api/dashboard', cookiesInTurn: manySessions }]]
    }],
    serviceCase('this service', serviceEnv(stores), [
      ['GET /api/dashboard', { path: '/api/dashboard' }],
      [MANY_SESSIONS_ROW, { path: '/api/dashboard', cookiesInTurn: manySessions }],
      ['GET /auth/me', { path: '/auth/me' }],
      // The write path: every request changes the session (an atomic increment).
      ['POST /api/count', { method: 'POST', path: '/api/count' }],
    ], [['POST /auth/login', loginLoad(LOGIN_ROW_USERNAME)]]),
    // The same read with a JWT access token instead of the cookie: a signature check on top of the session's read.
    // The token lives longer than the whole bench.
    ['JWT access token', 'src/server.ts', serviceEnv(stores, { JWT_ACCESS_TTL: '3600' }), async (s) => {
      await registerBenchUser(s, JWT_ROW_USERNAME)
      const login = await fetch(`${s.url}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: JWT_ROW_USERNAME, password: PASSWORD, transport: 'jwt' }),
      })
      const { accessToken } = (await login.json()) as { accessToken: string }
      return [[JWT_ROW, { path: '/api/dashboard', authorization: `Bearer ${accessToken}` }]]
    }],
    // Registered on this server, so hashed at its cost; a hash at or above the server's cost is never stored again.
    ['earlier hash cost', 'src/server.ts', serviceEnv(stores, { PASSWORD_HASH_COST: '15' }), async (s) => {
      await registerBenchUser(s, EARLIER_COST_LOGIN_USERNAME)
      return [[EARLIER_COST_LOGIN_ROW, loginLoad(EARLIER_COST_LOGIN_USERNAME)]]
    }],
  ]
  if (BASELINE_TREE) cases.push(baselineTreeCase(stores, BASELINE_TREE))
  const servers: ServerProcess[] = []
  try {
    const measured: Array<{ name: string; server: ServerProcess; request: Load; samples: Sample[] }> = []
    for (const [, script, env, requests] of cases) {
      const server = await ServerProcess.start(script, env)
      servers.push(server)
      for (const [name, request] of await requests(server)) measured.push({ name, server, request: { ...request, duration: ROUND_SECONDS }, samples: [] })
    }
    for (const { name, server, request } of measured) {
      console.error(`warming up ${name}`)
      await load(server, { ...request, duration: WARMUP })
      await server.settle()
    }
    const redisIdleCpuPerSecond = await redisIdleCpu(redis)
    const order = samplingOrder(measured)
    for (let round = 1; round <= ROUNDS; round++) {
      console.error(`round ${round} of ${ROUNDS}`)
      // Every other round backwards: a machine getting slower or faster during a round favours neither row of a pair.
      for (const row of round % 2 ? order : order.toReversed()) {
        row.samples.push(await sample(row.server, redis, row.request, redisIdleCpuPerSecond))
        await row.server.settle()
      }
    }
    return measured.map(({ name, samples }) => summarize(name, samples))
  } finally {
    await Promise.all(servers.map((server) => server.stop()))
  }
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
async function loginStorm(stores: Stores): Promise<StormReport> {
  console.error('measuring the login storm')
  const server = await ServerProcess.start('src/server.ts', serviceEnv(stores, { REDIS_PREFIX: 'bench-storm:' }))
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

/**
 * Creates SESSIONS sessions by logging in (SESSIONS / 5 users, 5 sessions each, from a desktop browser's User-Agent)
 * and reads what they cost the process and Redis.
 */
async function memory(stores: Stores, redis: Redis): Promise<MemoryReport> {
  console.error(`measuring memory for ${SESSIONS} sessions`)
  // As short as the default (app:), so that the bytes per session are what a deployment sees.
  const prefix = 'mem:'
  const users = Math.ceil(SESSIONS / SESSIONS_PER_USER)
  const service = await ServerProcess.start('src/server.ts', serviceEnv(stores, { REDIS_PREFIX: prefix, ...CHEAP_HASH_ENV }))
  let serviceReport: Pick<MemoryReport, 'serviceRssBeforeMb' | 'serviceRssAfterMb' | 'serviceHeapBeforeMb' | 'serviceHeapAfterMb' | 'redisBytesPerSession'>
  try {
    const usernames = await seedAccounts(stores, 'member', users)
    let next = 0
    const logins: Load = {
      method: 'POST',
      path: '/auth/login',
      userAgent: BROWSER_USER_AGENT,
      // Round after round over every user: each gets its sessions one by one, all alike.
      nextBody: () => JSON.stringify({ username: usernames[next++ % users], password: PASSWORD }),
    }
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

/** The cost of each operation from the rows: a slide is what the slides row adds to the same reads, per slide. */
function measuredCosts(rows: Row[], memoryReport: MemoryReport): MeasuredCosts {
  const row = (name: string) => rows.find((candidate) => candidate.name === name)!
  const costOf = ({ cpuMicrosPerRequest, redisMicrosPerRequest }: Row) => ({ instanceMicros: cpuMicrosPerRequest, redisMicros: redisMicrosPerRequest })
  // Reads of many sessions: what a fleet serves (one session read over and over hits every per-process memo).
  const read = row(`this service: ${MANY_SESSIONS_ROW}`)
  const slides = row(SLIDES_ROW)
  const addedSlides = slides.slidesPerRequest - read.slidesPerRequest
  return {
    read: costOf(read),
    write: costOf(row('this service: POST /api/count')),
    slide: {
      instanceMicros: (slides.cpuMicrosPerRequest - read.cpuMicrosPerRequest) / addedSlides,
      redisMicros: (slides.redisMicrosPerRequest - read.redisMicrosPerRequest) / addedSlides,
    },
    login: costOf(row('this service: POST /auth/login')),
    redisBytesPerSession: memoryReport.redisBytesPerSession,
  }
}

const fixed = (value: number, digits = 1) => value.toFixed(digits)
const percent = (value: number) => `${value >= 0 ? '+' : ''}${(value * 100).toFixed(1)}%`

function hotPathTable(rows: Row[]): string {
  const find = (prefix: string) => rows.find((row) => row.name.startsWith(prefix))!
  const [baseline, tuned, ceiling, limit] = [find('baseline A'), find('baseline B tuned'), find('ceiling'), find('limit')]
  const lines = [
    '| server | req/s | CPU µs/req | p50 ms | p99 ms | Redis cmds/req | Redis CPU µs/req | session writes/req | DB queries/req | vs limit: req/s | vs limit: CPU | vs baseline A | vs B tuned | vs ceiling | non-2xx |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const row of rows) {
    const ratio = (of: Row) => `${fixed(row.requestsPerSecond / of.requestsPerSecond, 2)}x`
    lines.push(
      `| ${row.name} | ${fixed(row.requestsPerSecond, 0)} | ${fixed(row.cpuMicrosPerRequest)} | ${fixed(row.p50Ms)} | ${fixed(row.p99Ms)} | `
      + `${fixed(row.redisCommandsPerRequest, 2)} | ${fixed(row.redisMicrosPerRequest, 2)} | ${fixed(row.sessionWritesPerRequest, 2)} | `
      + `${row.databaseQueriesPerRequest === null ? '–' : fixed(row.databaseQueriesPerRequest, 2)} | `
      + `${ratio(limit)} | ${fixed(limit.cpuMicrosPerRequest / row.cpuMicrosPerRequest, 2)}x | ${ratio(baseline)} | ${ratio(tuned)} | ${ratio(ceiling)} | ${row.non2xx} |`,
    )
  }
  return lines.join('\n')
}

/**
 * The comparisons the targets are stated in, as ratios of req/s taken round by round (rows of one round run next to
 * each other, so each ratio sees one moment of the machine): the spread over the rounds, not one number.
 */
const COMPARISONS: Array<[string, string, string]> = [
  ['GET /auth/me vs GET /api/dashboard', 'this service: GET /auth/me', 'this service: GET /api/dashboard'],
  ["GET /auth/me vs better-auth's getSession (with the user)", 'this service: GET /auth/me', 'peer: better-auth'],
  ['GET /api/dashboard vs @fastify/session tuned', 'this service: GET /api/dashboard', 'baseline B tuned'],
  ['GET /api/dashboard vs the one-round-trip limit', 'this service: GET /api/dashboard', 'limit'],
  ['GET /api/dashboard: a JWT access token vs the cookie', JWT_ROW, 'this service: GET /api/dashboard'],
]

/**
 * A row by its exact name, else by its label (the part before its description): "this service: GET /api/dashboard"
 * must not find the rows whose names continue it.
 */
function findRow<T extends { name: string }>(rows: T[], name: string): T | undefined {
  return rows.find((row) => row.name === name) ?? rows.find((row) => row.name.startsWith(`${name}:`) || row.name.startsWith(`${name} (`))
}

/**
 * The rows the comparisons pair, measured one right after the other: a chain in which each pair but the last is
 * adjacent, after every other row. Seconds apart rather than a quarter of a round apart, a pair's ratio sees the same
 * moment of the shared machine (the dashboard against @fastify/session tuned spread 0.65x to 1.01x over seven rounds
 * with two rows between them).
 */
const ADJACENT = ['peer: better-auth', 'this service: GET /auth/me', JWT_ROW, 'this service: GET /api/dashboard', 'baseline B tuned', 'limit']

function samplingOrder<T extends { name: string }>(rows: T[]): T[] {
  const chain = ADJACENT.map((name) => findRow(rows, name)).filter((row) => row !== undefined)
  return [...rows.filter((row) => !chain.includes(row)), ...chain]
}

function ratioTable(rows: Row[]): string {
  const find = (name: string) => findRow(rows, name)!
  const lines = ['| ratio of req/s, round by round | min | median | max |', '|---|---:|---:|---:|']
  for (const [label, of, to] of COMPARISONS) {
    const [a, b] = [find(of), find(to)]
    const ratios = a.rounds.map((rate, round) => rate / b.rounds[round]!).sort((x, y) => x - y)
    lines.push(`| ${label} | ${fixed(ratios[0]!, 2)}x | ${fixed(median(ratios), 2)}x | ${fixed(ratios.at(-1)!, 2)}x |`)
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
    `| memory, ${report.sessions} sessions (${SESSIONS_PER_USER} per user, a browser User-Agent) | RSS before (MB) | RSS after (MB) | RSS growth | heap before → after (MB) | Redis bytes/session |`,
    '|---|---:|---:|---:|---:|---:|',
    `| this service (sessions in Redis) | ${fixed(report.serviceRssBeforeMb)} | ${fixed(report.serviceRssAfterMb)} | ${percent(report.serviceRssGrowth)} | ${fixed(report.serviceHeapBeforeMb)} → ${fixed(report.serviceHeapAfterMb)} | ${fixed(report.redisBytesPerSession, 0)} |`,
    `| baseline B, in-memory store | ${fixed(report.inMemoryRssBeforeMb)} | ${fixed(report.inMemoryRssAfterMb)} | ${percent(report.inMemoryRssGrowth)} | ${fixed(report.inMemoryHeapBeforeMb)} → ${fixed(report.inMemoryHeapAfterMb)} | |`,
  ].join('\n')
}

ensureWrk()
const stores = await startStores()
const redis = stores.redis.connect()
try {
  const started = Date.now()
  const rows = await hotPath(stores, redis)
  const storm = await loginStorm(stores)
  const memoryReport = await memory(stores, redis)
  const eventCosts = await securityEventCost(stores)
  const settings
    = `${CONNECTIONS} connections; hot path: ${WARMUP} s warm-up, then ${ROUNDS} alternating rounds of ${ROUND_SECONDS} s per row (medians); `
      + `login storm: ${DURATION} s; load from ${driver === 'wrk' ? 'wrk (one thread)' : 'autocannon (wrk missing)'}; Node ${process.version}, ${new Date().toISOString()}`
  const costs = measuredCosts(rows, memoryReport)
  const report = [
    hotPathTable(rows),
    ratioTable(rows),
    stormTable(storm),
    memoryTable(memoryReport),
    eventCostTable(eventCosts, findRow(rows, 'this service: POST /auth/login')),
    capacityTables(costs),
    `_${settings}; run took ${fixed((Date.now() - started) / 1000, 0)} s_`,
  ].join('\n\n')
  console.log(report)
  await mkdir(new URL('results/', import.meta.url), { recursive: true })
  await writeFile(
    new URL('results/latest.json', import.meta.url),
    JSON.stringify(
      { settings, hotPath: rows, loginStorm: storm, memory: memoryReport, securityEvents: eventCosts, capacity: { costs, ...capacity(costs) } },
      null,
      2,
    ),
  )
} finally {
  redis.disconnect()
  await stopStores(stores)
}
