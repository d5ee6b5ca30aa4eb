/**
 * `npm run bench:login`: what one password login costs beside its key derivation. Starts a Redis, a PostgreSQL (with
 * its statement log) and the service (its real configuration and hash cost, as in `npm run bench`), logs in
 * BENCH_LOGINS times (default 10) one after the other, and prints the Redis commands (MONITOR) and PostgreSQL
 * statements of the last login, their round trips, and the split of the server's CPU time per login: the key
 * derivation (timed alone in this process with the same parameters) and the rest, less what the process spends
 * meanwhile when idle (the job queue's polls, the metrics' sampling), measured over 3 s without requests.
 */
import { scryptSync, randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { PostgresServer } from '../src/testing/postgres-server.js'
import { RedisServer } from '../src/testing/redis-server.js'
import { OWASP_SCRYPT_COST_LOG2 } from '../src/lib/password.js'
import { PASSWORD, registerBenchUser, ServerProcess, serviceEnv, USERNAME } from './harness.js'

// Under MAX_SESSIONS_PER_USER (10): a login over the cap also ends the oldest session, which is not a login's cost.
const LOGINS = Number(process.env.BENCH_LOGINS ?? 5)
const IDLE_MS = 3000

const redis = await RedisServer.start()
const postgres = await PostgresServer.start({ logStatements: true })
const server = await ServerProcess.start('src/server.ts', serviceEnv({ redis, postgres, databaseUrl: await postgres.createDatabase('login') }))
const logIn = async () => {
  const response = await fetch(`${server.url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: USERNAME, password: PASSWORD }),
  })
  if (response.status !== 200) throw new Error(`login answered ${response.status}`)
}
try {
  await registerBenchUser(server)
  await logIn()
  const idleBefore = await server.cpuMicros()
  await new Promise((resolve) => setTimeout(resolve, IDLE_MS))
  const idlePerMs = ((await server.cpuMicros()) - idleBefore) / IDLE_MS
  const cpuBefore = await server.cpuMicros()
  const started = performance.now()
  for (let i = 1; i < LOGINS; i++) await logIn()
  // The last login, watched.
  const monitor = await new Redis(redis.url).monitor()
  const commands: Array<{ command: string; fromScript: boolean }> = []
  monitor.on('monitor', (_time: string, args: string[], source: string) => commands.push({ command: args.join(' '), fromScript: source === 'lua' }))
  const statements: string[] = []
  // The job queue's polls are its own (pg-boss's schema), not the login's.
  const stop = postgres.onStatement((statement) => statement.trim() !== '' && !statement.includes('pgboss') && statements.push(statement))
  await logIn()
  const cpuPerLogin = ((await server.cpuMicros()) - cpuBefore - idlePerMs * (performance.now() - started)) / LOGINS
  await new Promise((resolve) => setTimeout(resolve, 500))
  stop()
  monitor.disconnect()

  const cost = 2 ** OWASP_SCRYPT_COST_LOG2
  const startedCpu = process.cpuUsage()
  for (let i = 0; i < 3; i++) scryptSync(PASSWORD, randomBytes(16), 64, { N: cost, r: 8, p: 1, maxmem: 256 * cost * 8 })
  const { user, system } = process.cpuUsage(startedCpu)
  const hashCpu = (user + system) / 3

  // A script's commands run inside it, and a transaction's travel with its EXEC: neither is a trip of its own.
  let inTransaction = false
  const sent = commands.filter(({ command, fromScript }) => {
    if (/^multi$/i.test(command)) inTransaction = true
    if (/^exec$/i.test(command)) inTransaction = false
    return !fromScript && (!inTransaction || /^multi$/i.test(command))
  })
  console.log(`Redis, the last login: ${commands.length} commands, ${sent.length} sent by the service (a transaction counted once)`)
  for (const { command, fromScript } of commands) console.log(`  ${fromScript ? '  ' : ''}${command.replace(/\s+/g, ' ').slice(0, 118)}`)
  console.log(`PostgreSQL, the last login (${statements.length} statements):`)
  for (const statement of statements) console.log(`  ${statement.slice(0, 120)}`)
  console.log()
  console.log('| per login (server CPU) | ms | share |')
  console.log('|---|---:|---:|')
  console.log(`| key derivation (scrypt N=2^${OWASP_SCRYPT_COST_LOG2}, r=8, p=1) | ${(hashCpu / 1000).toFixed(1)} | ${((100 * hashCpu) / cpuPerLogin).toFixed(0)}% |`)
  console.log(`| the rest | ${((cpuPerLogin - hashCpu) / 1000).toFixed(1)} | ${((100 * (cpuPerLogin - hashCpu)) / cpuPerLogin).toFixed(0)}% |`)
  console.log(`| **login** | **${(cpuPerLogin / 1000).toFixed(1)}** | 100% |`)
} finally {
  await server.stop()
  await Promise.all([redis.stop(), postgres.stop()])
}
