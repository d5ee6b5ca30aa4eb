/**
 * `npm run dev`: the server with reload on change and readable logs. When nothing answers at REDIS_URL on this
 * machine and redis-server is installed, it starts one for the session (nothing kept on disk) and stops it after.
 */
import { spawn } from 'node:child_process'
import 'dotenv/config'
import PinoPretty from 'pino-pretty'
import { closeRedis, connectRedis } from '../src/plugins/external/redis.js'
import { RedisServer } from './redis-server.js'

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
let localRedis: RedisServer | null = null

async function redisAnswers(): Promise<boolean> {
  try {
    await closeRedis(await connectRedis({ topology: 'single', url: redisUrl }))
    return true
  } catch {
    return false
  }
}

async function startLocalRedis(): Promise<void> {
  const url = new URL(redisUrl)
  const cannot = `Nothing answers at ${url.host} and no local redis-server can be started`
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) return console.error(`${cannot}; the server will say why.`)
  try {
    localRedis = await RedisServer.start({ port: Number(url.port || 6379) })
    console.log(`Started redis-server on port ${localRedis.port} for this session (data in ${localRedis.dir}, not kept)`)
  } catch (error) {
    console.error(`${cannot} (${error instanceof Error ? error.message : String(error)}); the server will say why.`)
  }
}

if (!(await redisAnswers())) await startLocalRedis()

const server = spawn(process.execPath, ['--import', 'tsx', '--watch', 'src/server.ts'], {
  stdio: ['inherit', 'pipe', 'inherit'],
  env: { LOG_LEVEL: 'debug', ...process.env },
})
server.stdout?.pipe(PinoPretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }))
// The Redis this script started goes with the server.
server.on('exit', (code) => void (localRedis?.stop() ?? Promise.resolve()).finally(() => process.exit(code ?? 0)))

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => server.kill(signal))
