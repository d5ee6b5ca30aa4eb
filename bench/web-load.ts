/**
 * `npm run bench:web`: the web app's first-load budget (issue: at most 150 KB of JavaScript gzipped, interactive in
 * under 1 s), measured on the built app served by the service, in headless Chromium with a cold cache: each of
 * BENCH_WEB_LOADS loads (default 10) opens /login in a new browser context (no cache, no cookies).
 *
 * Reported: the scripts the page loads, as sent (Brotli, the browser accepting it) and as their gzip copies; and,
 * from the navigation's start, DOMContentLoaded, load, and "ready": the first animation frame in which the sign-in
 * form React renders is in the page (the HTML holds an empty root, so the form exists only once the app runs).
 */
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { buildApp } from '../src/app.js'
import { WEB_APP_DIR } from '../src/platform/http/web-app.js'
import { startTestServers } from '../src/testing/index.js'
import { launchChromium } from '../scripts/browser.js'

const LOADS = Number(process.env.BENCH_WEB_LOADS ?? 10)
const BUDGET = { gzippedScriptKb: 150, readyMs: 1000 }

const servers = await startTestServers()
const app = await buildApp(await servers.config({ WEB_APP: 'true' }))
const browser = await launchChromium()
try {
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const timings: Array<{ domContentLoaded: number; load: number; ready: number }> = []
  let scripts: Array<{ path: string; sentBytes: number }> = []
  for (let load = 0; load < LOADS; load++) {
    const context = await browser.newContext()
    const page = await context.newPage()
    const loaded: Array<Promise<{ path: string; sentBytes: number }>> = []
    page.on('requestfinished', (request) => {
      if (request.resourceType() === 'script') loaded.push(request.sizes().then((sizes) => ({ path: new URL(request.url()).pathname, sentBytes: sizes.responseBodySize })))
    })
    await page.goto(`${url}/login`)
    const ready = Number(await (await page.waitForFunction("document.querySelector('form button[type=submit]') && performance.now()", undefined, { polling: 'raf' })).jsonValue())
    const navigation = (await page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0])")) as string
    const { domContentLoadedEventEnd, loadEventEnd } = JSON.parse(navigation) as { domContentLoadedEventEnd: number; loadEventEnd: number }
    timings.push({ domContentLoaded: domContentLoadedEventEnd, load: loadEventEnd, ready })
    scripts = await Promise.all(loaded)
    await context.close()
  }

  const gzipped = await Promise.all(scripts.map(async ({ path }) => (await stat(join(WEB_APP_DIR, `${path}.gz`))).size))
  const kb = (bytes: number) => (bytes / 1024).toFixed(1)
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
  const gzippedKb = gzipped.reduce((sum, size) => sum + size, 0) / 1024
  const readyMedian = median(timings.map((timing) => timing.ready))
  console.log(`First load of /login, ${LOADS} cold loads (new context each) in headless Chromium on ${url}`)
  console.log(`  scripts: ${scripts.map(({ path }) => path).join(', ')}`)
  console.log(`  JavaScript: ${kb(scripts.reduce((sum, { sentBytes }) => sum + sentBytes, 0))} KB sent (Brotli), ${gzippedKb.toFixed(1)} KB gzipped`)
  console.log(`  (the built files: ${(await readdir(join(WEB_APP_DIR, 'assets'))).filter((name) => name.endsWith('.js')).join(', ')})`)
  for (const key of ['domContentLoaded', 'load', 'ready'] as const) {
    const values = timings.map((timing) => timing[key])
    console.log(`  ${key.padEnd(16)} median ${median(values).toFixed(0)} ms, max ${Math.max(...values).toFixed(0)} ms`)
  }
  console.log(`Budget: ${gzippedKb.toFixed(1)} of ${BUDGET.gzippedScriptKb} KB gzipped: ${gzippedKb <= BUDGET.gzippedScriptKb ? 'within' : 'OVER'}; ready in ${readyMedian.toFixed(0)} of ${BUDGET.readyMs} ms (median): ${readyMedian < BUDGET.readyMs ? 'within' : 'OVER'}`)
} finally {
  await browser.close()
  await app.close()
  await servers.stop()
}
