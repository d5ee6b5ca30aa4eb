import type { Browser, Page } from 'playwright-core'
import t from 'tap'
import { WEB_APP_PAGES as PAGES } from '../../src/lib/web-pages.js'
import { launchBrowser, startWebApp } from '../support/browser.js'
import { linkOf, PASSWORD, testMail } from '../support/helper.js'

// A person's flows through the web app, in Chromium, against the service as a process of its own.

const NEW_PASSWORD = 'a brand new passphrase'

/** The path and query of a mailed link, on the instance under test (links carry PUBLIC_URL's origin). */
async function mailedLink(to: string, subject: RegExp, baseUrl: string, count = 1): Promise<{ path: string; url: string }> {
  const mails = await (await testMail()).waitFor(to, count, subject)
  const { url } = linkOf(mails[count - 1]!)
  return { path: url.pathname, url: `${baseUrl}${url.pathname}${url.search}` }
}

async function signIn(page: Page, baseUrl: string, username: string, password = PASSWORD) {
  await page.goto(`${baseUrl}${PAGES.login}`)
  await page.getByLabel('Username').fill(username)
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: 'Sign in' }).click()
}

async function newPage(browser: Browser): Promise<Page> {
  const context = await browser.newContext()
  return context.newPage()
}

t.test('register with an email, confirm it from the mail, sign in, count twice, sign out', async (t) => {
  const [app, browser] = await Promise.all([startWebApp(t), launchBrowser(t)])
  const page = await newPage(browser)

  await page.goto(`${app.url}/`)
  await page.waitForURL(`${app.url}${PAGES.login}`)
  t.pass('/ leads to /login when signed out')
  await page.getByRole('link', { name: 'Create an account' }).click()
  await page.getByLabel('Username').fill('alice')
  await page.getByLabel('Password').fill(PASSWORD)
  await page.getByLabel('Email').fill('alice@example.test')
  await page.getByRole('button', { name: 'Create account' }).click()
  await page.waitForURL(`${app.url}${PAGES.login}`)
  t.match(await page.getByRole('status').textContent(), 'We mailed a link to alice@example.test')

  const link = await mailedLink('alice@example.test', /confirm|verify/i, app.url)
  t.equal(link.path, PAGES.verifyEmail, 'the mailed link opens the app')
  await page.goto(link.url)
  const confirm = page.getByRole('button', { name: 'Confirm my email address' })
  await confirm.waitFor()
  t.equal(new URL(page.url()).search, '', 'the token is taken out of the address bar')
  await confirm.click()
  t.match(await page.getByRole('status').textContent(), 'alice@example.test is confirmed')

  await signIn(page, app.url, 'alice')
  await page.waitForURL(`${app.url}${PAGES.dashboard}`)
  t.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Welcome, alice', 'the dashboard greets the user by name')
  const count = page.getByRole('button', { name: 'Count' })
  await count.click()
  await page.getByText('Count: 1').waitFor()
  await count.click()
  await page.getByText('Count: 2').waitFor()
  t.pass('counted twice: 1, then 2')

  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.waitForURL(/\/login/)
  await page.goto(`${app.url}${PAGES.dashboard}`)
  await page.waitForURL(`${app.url}${PAGES.login}?next=${encodeURIComponent(PAGES.dashboard)}`)
  t.pass('signed out: the dashboard sends to /login, to come back after')
})
