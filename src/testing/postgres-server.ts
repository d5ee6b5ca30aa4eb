import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readdirSync } from 'node:fs'
import { chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { freePort } from './redis-server.js'

const POSTGRES_MISSING = 'The PostgreSQL server binaries (initdb, postgres) were not found in POSTGRES_BIN_DIR, /usr/lib/postgresql/<version>/bin '
  + 'or on PATH. The tests, the benchmark and npm run dev start their own PostgreSQL from them: install them with '
  + '"apt-get install postgresql" (Debian/Ubuntu), "brew install postgresql" (macOS) or your package manager.'

/** Where initdb and postgres live: Debian keeps them off PATH, under one folder per major version. */
function binDir(): string | null {
  if (process.env.POSTGRES_BIN_DIR) return process.env.POSTGRES_BIN_DIR
  const debian = '/usr/lib/postgresql'
  const versions = existsSync(debian) ? readdirSync(debian).filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(b) - Number(a)) : []
  const newest = versions.find((version) => existsSync(join(debian, version, 'bin', 'initdb')))
  if (newest) return join(debian, newest, 'bin')
  return spawnSync('initdb', ['--version']).error ? null : ''
}

/**
 * initdb refuses to run as root, and so does postgres: as root (CI), both run as the `postgres` user, which the
 * server packages create.
 */
function serverUser(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim())
  const uid = id('-u')
  if (!Number.isInteger(uid) || uid <= 0) throw new Error('running as root, but there is no "postgres" user to run PostgreSQL as')
  return { uid, gid: id('-g') }
}

export type StatementListener = (statement: string, parameters: string) => void

/**
 * A real PostgreSQL server on a free port (or the one given) with its own temp dir, owned by whoever started it. It
 * does not survive a machine crash (fsync off): it is for tests and throwaway development databases only.
 */
export class PostgresServer {
  private process: ChildProcess | null = null
  private readonly statementListeners = new Set<StatementListener>()
  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly bin: string,
    private readonly user: { uid: number; gid: number } | null,
    private readonly logStatements: boolean,
  ) {}

  /** A URL for one of its databases (the superuser `postgres`, no password: trust on loopback). */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`
  }

  /** A role that logs in only with its password (SCRAM), as a managed or packaged PostgreSQL asks of everyone. */
  async addPasswordRole(role: string, password: string): Promise<void> {
    await this.query(`CREATE ROLE "${role}" LOGIN PASSWORD '${password.replaceAll("'", "''")}'`)
    const hba = join(this.dataDir, 'pg_hba.conf')
    await writeFile(hba, `host all ${role} 127.0.0.1/32 scram-sha-256\n${await readFile(hba, 'utf8')}`)
    await this.query('SELECT pg_reload_conf()')
  }

  /** `logStatements`: every statement is logged, for onStatement() (slower: for tests that watch the queries). */
  static async start({ port, logStatements = false }: { port?: number; logStatements?: boolean } = {}): Promise<PostgresServer> {
    const bin = binDir()
    if (bin === null) throw new Error(POSTGRES_MISSING)
    const user = serverUser()
    const dir = await mkdtemp(join(tmpdir(), 'postgres-server-'))
    if (user) await chown(dir, user.uid, user.gid)
    const server = new PostgresServer(port ?? (await freePort()), dir, bin, user, logStatements)
    const initdb = spawnSync(join(bin, 'initdb'), ['-D', server.dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], {
      encoding: 'utf8',
      ...user,
    })
    if (initdb.status !== 0) throw new Error(`initdb failed: ${initdb.error?.message ?? initdb.stderr}`)
    await server.resume()
    return server
  }

  private get dataDir(): string {
    return join(this.dir, 'data')
  }

  /** Starts (again) on the same port and data, and waits until it accepts connections. */
  async resume(): Promise<void> {
    // fsync off: what is written reaches the OS and survives a halt() (only a machine crash would lose it). Commits stay
    // synchronous: an asynchronous commit still in PostgreSQL's buffers would be lost by halt(), as a crash loses it.
    const settings = ['listen_addresses=127.0.0.1', `unix_socket_directories=${this.dir}`, 'fsync=off', 'full_page_writes=off', 'max_connections=300']
    if (this.logStatements) settings.push('log_statement=all')
    const args = ['-D', this.dataDir, '-p', String(this.port), ...settings.flatMap((setting) => ['-c', setting])]
    this.process = spawn(join(this.bin, 'postgres'), args, { stdio: ['ignore', 'ignore', this.logStatements ? 'pipe' : 'ignore'], ...this.user })
    if (this.process.stderr) this.followLog(this.process.stderr)
    for (let attempt = 0; attempt < 200; attempt++) {
      const probe = new pg.Client({ connectionString: this.url(), connectionTimeoutMillis: 1000 })
      probe.on('error', () => {})
      try {
        await probe.connect()
        await probe.query('SELECT 1')
        return
      } catch {
        await sleep(50)
      } finally {
        await probe.end().catch(() => {})
      }
    }
    throw new Error(`postgres did not start on port ${this.port}`)
  }

  /**
   * Calls `listener` with every statement run with parameters (the extended protocol node-postgres uses) and the
   * parameters' line, as the server logs them; needs `logStatements`. Returns a function that stops the calls.
   */
  onStatement(listener: StatementListener): () => void {
    if (!this.logStatements) throw new Error('started without logStatements')
    this.statementListeners.add(listener)
    return () => this.statementListeners.delete(listener)
  }

  private followLog(log: NodeJS.ReadableStream): void {
    let statement = ''
    createInterface({ input: log }).on('line', (line) => {
      const executed = /LOG: {2}execute [^:]*: (.*)$/.exec(line)
      if (executed) statement = executed[1]!
      const parameters = /DETAIL: {2}Parameters: (.*)$/i.exec(line)
      if (parameters) for (const listener of this.statementListeners) listener(statement, parameters[1]!)
    })
  }

  /** Stops the server at once, as a crash or an outage would (the data stays for resume()). */
  async halt(): Promise<void> {
    const child = this.process
    this.process = null
    if (!child || child.exitCode !== null) return
    const exited = once(child, 'exit')
    // SIGQUIT: the immediate shutdown, which also ends every backend (SIGKILL would leave them holding the port).
    child.kill('SIGQUIT')
    await exited
  }

  async stop(): Promise<void> {
    await this.halt()
    await rm(this.dir, { recursive: true, force: true })
  }

  /** A new empty database on this server; its URL. */
  async createDatabase(name: string): Promise<string> {
    await this.query(`CREATE DATABASE "${name}"`)
    return this.url(name)
  }

  /** Runs one statement as the superuser, on the database given (the default one unless named). */
  async query(sql: string, params: unknown[] = [], database?: string): Promise<pg.QueryResult> {
    const client = new pg.Client({ connectionString: this.url(database) })
    await client.connect()
    try {
      return await client.query(sql, params)
    } finally {
      await client.end()
    }
  }
}
