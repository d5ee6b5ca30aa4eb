import { createRequire } from 'node:module'
import { readFile } from 'node:fs/promises'
import type { Browser, Locator, Page } from 'playwright-core'
import { launchChromium } from '../../scripts/browser.js'
import type { Test } from 'tap'
import { startInstance, type Instance } from './app-process.js'
import { WEB_APP_PAGES } from '../../src/lib/web-pages.js'
import { PASSWORD, testMail, testRedis, uniquePrefix } from './helper.js'

/** Headless Chromium (scripts/browser.ts), closed when the test ends. */
export async function launchBrowser(t: Test): Promise<Browser> {
  const browser = await launchChromium()
  t.teardown(() => browser.close())
  return browser
}

/** The service with its web app, as `npm start` runs it (a process of its own), on the test's Redis, PostgreSQL and SMTP. */
export async function startWebApp(t: Test, env: Record<string, string> = {}): Promise<Instance> {
  return startInstance(t, {
    WEB_APP: 'true',
    REDIS_URL: (await testRedis()).url,
    REDIS_PREFIX: uniquePrefix(),
    SMTP_URL: (await testMail()).url,
    MAIL_RETRY_DELAY_SECONDS: '1',
    // What is tested is the pages: a cheap hash keeps sign-ins quick beside other test files on two cores.
    PASSWORD_HASH_COST: '10',
    RATE_LIMIT_MAX: '10000',
    LOGIN_RATE_LIMIT_MAX: '1000',
    ...env,
  })
}

/** The admin of the web app tests' instances: pass WEB_ADMIN_ENV to startWebApp. */
export const WEB_ADMIN = { username: 'root', password: 'an admin passphrase' }
export const WEB_ADMIN_ENV = { ADMIN_USERNAME: WEB_ADMIN.username, ADMIN_PASSWORD: WEB_ADMIN.password }

/** A browser of its own (cookies and storage), signed in through the sign-in page, on the dashboard. */
export async function signedIn(browser: Browser, baseUrl: string, username: string, password = PASSWORD): Promise<Page> {
  const person = await (await browser.newContext()).newPage()
  await person.goto(`${baseUrl}${WEB_APP_PAGES.login}`)
  await person.getByLabel('Username').fill(username)
  await person.getByLabel('Password').fill(password)
  await person.getByRole('button', { name: 'Sign in' }).click()
  await person.waitForURL(`${baseUrl}${WEB_APP_PAGES.dashboard}`)
  return person
}

const axeSource = readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

/** axe-core on the page as it is now: no serious or critical violation (WCAG 2.2 A and AA rules, and best practices). */
export async function expectAccessible(t: Test, page: Page, what: string): Promise<void> {
  // Evaluated through the DevTools protocol, which the page's CSP (no inline script) does not apply to.
  await page.evaluate(await axeSource)
  const violations = await page.evaluate(async () => {
    type Violation = { id: string; impact: string; help: string; nodes: Array<{ target: unknown }> }
    const { axe } = globalThis as unknown as { axe: { run(): Promise<{ violations: Violation[] }> } }
    const { violations } = await axe.run()
    return violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
      .map((violation) => `${violation.id} (${violation.impact}): ${violation.help} at ${JSON.stringify(violation.nodes.map((node) => node.target))}`)
  })
  t.same(violations, [], `${what}: no serious or critical accessibility violation`)
}

/**
 * Passes once `locator` shows `text`, waiting for the page to render it (a page's URL changes before React draws the
 * new page, so a read right after a navigation may still see the old one); fails with what it showed instead.
 */
export async function expectShows(t: Test, locator: Locator, text: string, message = `shows "${text}"`): Promise<void> {
  try {
    await locator.filter({ hasText: text }).first().waitFor({ timeout: 10_000 })
    t.pass(message)
  } catch {
    t.fail(message, { found: await locator.allTextContents(), wanted: text })
  }
}
