/**
 * `npm run dev`: the server with reload on change and readable logs. When nothing answers at REDIS_URL on this
 * machine and redis-server is installed, it starts one for the session (nothing kept on disk) and stops it after.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import 'dotenv/config'
import PinoPretty from 'pino-pretty'
import { closeRedis, connectRedis } from '../src/plugins/external/redis.js'

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const children: ChildProcess[] = []

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
  const local = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)
  if (!local || spawnSync('redis-server', ['--version']).error) {
    console.error(`Nothing answers at ${url.host} and no local redis-server can be started; the server will say why.`)
    return
  }
  const dir = mkdtempSync(join(tmpdir(), 'redis-dev-'))
  const port = url.port || '6379'
  console.log(`Starting redis-server on port ${port} for this session (data in ${dir}, not kept)`)
  children.push(spawn('redis-server', ['--port', port, '--bind', '127.0.0.1', '--dir', dir, '--save', ''], { stdio: 'ignore' }))
  for (let attempt = 0; attempt < 50 && !(await redisAnswers()); attempt++) await sleep(100)
}

if (!(await redisAnswers())) await startLocalRedis()

const server = spawn(process.execPath, ['--import', 'tsx', '--watch', 'src/server.ts'], {
  stdio: ['inherit', 'pipe', 'inherit'],
  env: { LOG_LEVEL: 'debug', ...process.env },
})
children.push(server)
server.stdout?.pipe(PinoPretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }))
server.on('exit', (code) => process.exit(code ?? 0))

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const child of children) child.kill(signal)
  })
}
