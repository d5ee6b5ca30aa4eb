import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { build, loggedIn, type App } from '../support/helper.js'

/** Keeps the event loop busy, as a saturated instance would be. */
function blockEventLoop(ms: number): void {
  const end = Date.now() + ms
  while (Date.now() < end);
}

/** Polls `url` until it answers `status`, with `between` run before each try; returns that response. */
async function until(app: App, url: string, status: number, headers: Record<string, string>, between: () => Promise<void>) {
  // Generous: on a loaded CI machine the sampled mean delay takes a while to settle below the limit again.
  for (let attempt = 0; attempt < 150; attempt++) {
    await between()
    const response = await app.inject({ url, headers })
    if (response.statusCode === status) return response
  }
  throw new Error(`${url} never answered ${status}`)
}

// Busy most of the time, as a saturated instance is: the pressure sampler (once a second) sees a long mean delay.
const saturate = async () => {
  blockEventLoop(400)
  await sleep(5)
}
const idle = () => sleep(100)

t.test('an instance whose event loop lags sheds load with 503 OVERLOADED, and recovers', async (t) => {
  const app = await build(t, { MAX_EVENT_LOOP_DELAY_MS: '100' })
  const cookie = await loggedIn(app, 'pressed')
  const shed = await until(app, '/api/dashboard', 503, { cookie }, saturate)
  t.equal(shed.json().code, 'OVERLOADED')
  t.ok(Number(shed.headers['retry-after']) > 0, 'with Retry-After')
  t.equal((await app.inject({ url: '/health/ready' })).json().code, 'OVERLOADED', 'readiness says so, for the balancer')
  t.equal((await app.inject({ url: '/health/live' })).statusCode, 200, 'liveness does not: the process is fine')
  t.equal((await app.inject({ url: '/metrics' })).statusCode, 200, 'and metrics still answer')
  await until(app, '/api/dashboard', 200, { cookie }, idle)
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200, 'ready again once the loop has caught up')
})

t.test('MAX_EVENT_LOOP_DELAY_MS=0 never sheds', async (t) => {
  const app = await build(t, { MAX_EVENT_LOOP_DELAY_MS: '0' })
  for (let i = 0; i < 8; i++) {
    await saturate()
    t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200)
  }
})
