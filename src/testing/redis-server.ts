import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'

const REDIS_MISSING = 'redis-server was not found on PATH. The tests, the benchmark and npm run dev start their own Redis from it: install it with '
  + '"apt-get install redis-server" (Debian/Ubuntu), "brew install redis" (macOS) or your package manager.'

export async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** A real redis-server on a free port (or the one given) with its own temp dir, owned by whoever started it. */
export class RedisServer {
  private process: ChildProcess | null = null
  private constructor(
    readonly port: number,
    readonly dir: string,
    /** More redis-server options, e.g. to make it a Cluster node or a replica. */
    private readonly extraArgs: string[],
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  static async start({ port, extraArgs = [] }: { port?: number; extraArgs?: string[] } = {}): Promise<RedisServer> {
    if (spawnSync('redis-server', ['--version']).error) throw new Error(REDIS_MISSING)
    const server = new RedisServer(port ?? (await freePort()), await mkdtemp(join(tmpdir(), 'redis-server-')), extraArgs)
    await server.resume()
    return server
  }

  /** Starts (again) on the same port and dir, and waits until it answers PING. */
  async resume(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'no', ...this.extraArgs]
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

  /** A plain client for looking into Redis; the caller disconnects it. */
  connect(): Redis {
    return new Redis(this.port, '127.0.0.1')
  }

  /** A plain client for looking into Redis from a test; closed when the test ends. */
  client(t: { teardown(fn: () => void): void }): Redis {
    const client = this.connect()
    t.teardown(() => client.disconnect())
    return client
  }
}
