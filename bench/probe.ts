// Preloaded into a server under test (--import): asked 'probe' over IPC, it answers the event-loop delay since the
// last question and the process RSS, then starts a new measurement; asked 'cpu', the CPU time the process has used;
// asked 'profile:start' and then 'profile:stop', V8's CPU profile of the time between (bench/profile.ts: the steady
// state only, without start-up's compiling and loading). Nothing in src/ knows of it. (IPC rather than a signal: the
// service treats SIGUSR2 as a shutdown request.)
import { Session } from 'node:inspector/promises'
import { writeFile } from 'node:fs/promises'
import { monitorEventLoopDelay } from 'node:perf_hooks'

const histogram = monitorEventLoopDelay({ resolution: 10 })
histogram.enable()
process.channel?.unref()
// Servers run with --expose-gc: RSS is read after a full collection, so it shows what is retained, not heap headroom.
const collectGarbage = (globalThis as { gc?: () => void }).gc ?? (() => {})

const inspector = new Session()

async function profile(question: 'profile:start' | 'profile:stop'): Promise<unknown> {
  if (question === 'profile:start') {
    inspector.connect()
    await inspector.post('Profiler.enable')
    await inspector.post('Profiler.start')
    return { started: true }
  }
  const { profile } = await inspector.post('Profiler.stop')
  inspector.disconnect()
  // Tens of megabytes: written beside the process rather than sent over IPC.
  const path = `${process.env.BENCH_PROFILE_FILE ?? 'cpu'}.cpuprofile`
  await writeFile(path, JSON.stringify(profile))
  return { path }
}

process.on('message', (question) => {
  if (question === 'profile:start' || question === 'profile:stop') {
    profile(question).then((answer) => process.send?.(answer))
    return
  }
  if (question === 'cpu') {
    const { user, system } = process.cpuUsage()
    process.send?.({ cpuMicros: user + system })
    return
  }
  collectGarbage()
  process.send?.({
    eventLoopDelayP99Ms: histogram.percentile(99) / 1e6,
    eventLoopDelayMaxMs: histogram.max / 1e6,
    rssBytes: process.memoryUsage.rss(),
    heapUsedBytes: process.memoryUsage().heapUsed,
  })
  histogram.reset()
})
