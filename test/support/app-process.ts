import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import { call, type Client } from './client.js'
import { databaseFor, freePort, TEST_DEFAULTS, TEST_SECRET } from './helper.js'

const root = fileURLToPath(new URL('../..', import.meta.url))

export interface Server {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  exited: Promise<number | null>
}

/**
 * Runs src/server.ts (or another entry point, such as a command of src/cli/) as the operator would, with only the
 * given environment; killed when the test ends.
 */
export function startServer(t: Test, env: Record<string, string>, script = 'src/server.ts'): Server {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  child.stderr.on('data', (chunk) => (stderr += chunk))
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  return { child, stdout: () => stdout, stderr: () => stderr, exited }
}

export async function waitForListening(server: Server): Promise<void> {
  for (let i = 0; i < 200 && !server.stdout().includes('Server listening'); i++) await sleep(50)
  if (!server.stdout().includes('Server listening')) throw new Error(`server did not start: ${server.stderr()}`)
}

/** A running instance of the service, as a separate process, and how to reach it over HTTP. */
export interface Instance extends Client {
  server: Server
  url: string
}

/**
 * Starts an instance on a free port (logging warnings only) and waits until it answers. Instances with the same
 * REDIS_PREFIX share a database unless DATABASE_URL is given. TEST_DEFAULTS apply unless `env` sets them (load
 * shedding and the new-device mail off).
 */
export async function startInstance(t: Test, env: Record<string, string>): Promise<Instance> {
  const port = await freePort()
  const databaseUrl = env.DATABASE_URL ?? (await databaseFor(env.REDIS_PREFIX ?? 'app:'))
  const server = startServer(t, {
    SESSION_SECRET: TEST_SECRET,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    ...TEST_DEFAULTS,
    DATABASE_URL: databaseUrl,
    ...env,
  })
  const url = `http://127.0.0.1:${port}`
  for (let attempt = 0; attempt < 200 && server.child.exitCode === null; attempt++) {
    if (await fetch(`${url}/health/live`).then((response) => response.ok, () => false)) {
      return { server, url, call: (method, path, options) => call(url, method, path, options) }
    }
    await sleep(50)
  }
  throw new Error(`instance did not start: ${server.stderr()}`)
}

/** Two instances with the same settings plus `extra`, started on first use and kept until the test ends. */
export type InstancePairs = (extra?: Record<string, string>) => Promise<Instance[]>

export function instancePairs(t: Test, env: Record<string, string>): InstancePairs {
  const pairs = new Map<string, Promise<Instance[]>>()
  return (extra = {}) => {
    const key = JSON.stringify(extra)
    if (!pairs.has(key)) pairs.set(key, Promise.all([startInstance(t, { ...env, ...extra }), startInstance(t, { ...env, ...extra })]))
    return pairs.get(key)!
  }
}
