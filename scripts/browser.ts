// What both the tests and the bench send as a browser would, so that they measure the same requests, and the browser
// both drive.
import { chromium, type Browser } from 'playwright-core'

/** What a desktop browser sends (117 characters): what sessions store and list, at its realistic size. */
export const BROWSER_USER_AGENT = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'

/** Debian's Chromium (package chromium): browsers cannot be downloaded here, so Playwright drives the system's. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/**
 * Headless Chromium. Root (CI) needs --no-sandbox; the rest keep it from calling Google's services, which this
 * machine's closed network refuses (many connections at a time, at each start).
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
}
