/**
 * `npm run bench:profile`: where the CPU time of one kind of request goes. Runs the service (its real configuration,
 * as in `npm run bench`) under the bench's load, warms it up, profiles the steady state with V8's CPU profiler (started
 * and stopped over the probe's IPC: start-up's compiling and loading stay out), then prints the busy time by area (each
 * dependency, each file of ours, Node's own modules, GC), in µs per request and as a share, and the top functions.
 * A profile attributes time to the function running, so the areas add up to the whole: the table to read before
 * cutting anything on the hot path.
 *
 * BENCH_PROFILE_PATH (default /api/dashboard), BENCH_PROFILE_METHOD (default GET), BENCH_DURATION (seconds, default 10).
 * BENCH_PROFILE_BASELINE=true profiles baseline "B tuned" (bare @fastify/session, GET /dashboard) instead: the floor
 * to compare the service's areas with.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { comparisonEnv, DURATION, load, loginCookie, PASSWORD, registerBenchUser, ServerProcess, serviceEnv, startStores, stopStores, USERNAME } from './harness.js'

const BASELINE = process.env.BENCH_PROFILE_BASELINE === 'true'
const PATH = BASELINE ? '/dashboard' : (process.env.BENCH_PROFILE_PATH ?? '/api/dashboard')
const METHOD = process.env.BENCH_PROFILE_METHOD === 'POST' ? 'POST' : 'GET'
const TOP_AREAS = 45
const TOP_FUNCTIONS = 60
const WARM_UP_SECONDS = 5

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: CallFrame }>
  samples: number[]
  timeDeltas: number[]
}

/** Which area a function belongs to: its npm package, our file, Node's module, or what V8 calls it. */
export function areaOf({ url, functionName }: CallFrame): string {
  const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (dependency) return dependency[1]!
  const ours = /\/((?:src|bench)\/.+)$/.exec(url)
  if (ours) return ours[1]!
  if (url.startsWith('node:')) return url
  return url === '' ? `(${functionName.replace(/[()]/g, '')})` : url
}

/** Self time by key, in microseconds, without the idle time. */
function selfTime(profile: CpuProfile, keyOf: (frame: CallFrame) => string): Map<string, number> {
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]))
  const totals = new Map<string, number>()
  profile.samples.forEach((id, i) => {
    const frame = frames.get(id)!
    if (frame.functionName === '(idle)') return
    const key = keyOf(frame)
    totals.set(key, (totals.get(key) ?? 0) + profile.timeDeltas[i]!)
  })
  return totals
}

function table(title: string, totals: Map<string, number>, requests: number, rows: number): string {
  const busy = [...totals.values()].reduce((sum, micros) => sum + micros, 0)
  const lines = [`| ${title} | µs/req | share |`, '|---|---:|---:|']
  for (const [key, micros] of [...totals].sort((a, b) => b[1] - a[1]).slice(0, rows)) {
    lines.push(`| ${key} | ${(micros / requests).toFixed(1)} | ${((100 * micros) / busy).toFixed(1)}% |`)
  }
  lines.push(`| **busy total** | **${(busy / requests).toFixed(1)}** | 100% |`)
  return lines.join('\n')
}

const stores = await startStores()
const profiles = await mkdtemp(join(tmpdir(), 'bench-profile-'))
try {
  const env = { BENCH_PROFILE_FILE: join(profiles, 'steady') }
  const server = BASELINE
    ? await ServerProcess.start('bench/servers/fastify-session.ts', comparisonEnv(stores, { BENCH_TUNED: 'true', ...env }))
    : await ServerProcess.start('src/server.ts', serviceEnv(stores, env))
  let requests = 0
  let path: string
  try {
    if (!BASELINE) await registerBenchUser(server)
    const cookie = BASELINE ? await loginCookie(server, '/login') : await loginCookie(server, '/auth/login', { username: USERNAME, password: PASSWORD })
    const request = { method: METHOD, path: PATH, cookie } as const
    // Warmed up first, so that the profile holds what every request costs, not compiling and loading.
    await load(server, { ...request, duration: WARM_UP_SECONDS })
    console.error(`profiling ${METHOD} ${PATH} for ${DURATION} s`)
    await server.startProfile()
    const result = await load(server, request)
    path = await server.stopProfile()
    requests = result.requests.total
    if (result.non2xx > 0) console.error(`warning: ${result.non2xx} answers were not 2xx`)
  } finally {
    await server.stop()
  }
  const profile = JSON.parse(await readFile(path, 'utf8')) as CpuProfile
  const functionKey = (frame: CallFrame) => `${frame.functionName || '(anonymous)'} ${areaOf(frame)}:${frame.lineNumber + 1}`
  console.log(`${METHOD} ${PATH}: ${requests} requests profiled after a ${WARM_UP_SECONDS} s warm-up\n`)
  console.log(table('area', selfTime(profile, areaOf), requests, TOP_AREAS))
  console.log()
  console.log(table('function', selfTime(profile, functionKey), requests, TOP_FUNCTIONS))
} finally {
  await rm(profiles, { recursive: true, force: true })
  await stopStores(stores)
}
