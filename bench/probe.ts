// Preloaded into a server under test (--import): asked 'probe' over IPC, it answers the event-loop delay since the
// last question and the process RSS, then starts a new measurement; asked 'cpu', the CPU time the process has used.
// Nothing in src/ knows of it. (IPC rather than a signal: the service treats SIGUSR2 as a shutdown request.)
import { monitorEventLoopDelay } from 'node:perf_hooks'

const histogram = monitorEventLoopDelay({ resolution: 10 })
histogram.enable()
process.channel?.unref()
// Servers run with --expose-gc: RSS is read after a full collection, so it shows what is retained, not heap headroom.
const collectGarbage = (globalThis as { gc?: () => void }).gc ?? (() => {})

process.on('message', (question) => {
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
