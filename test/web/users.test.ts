import type { Page } from 'playwright-core'
import t from 'tap'
import { WEB_APP_PAGES as PAGES } from '../../src/lib/web-pages.js'
import { expectShows, launchBrowser, signedIn, startWebApp, WEB_ADMIN, WEB_ADMIN_ENV } from '../support/browser.js'
import { register } from '../support/flows.js'
import { PASSWORD } from '../support/helper.js'

// The admins' page in Chromium: paging, enable, roles, ending sessions and deleting; and "Sign out everywhere else".

const [app, browser] = await Promise.all([startWebApp(t, WEB_ADMIN_ENV), launchBrowser(t)])
const page = (path: string) => `${app.url}${path}`

const userRows = (admin: Page) => admin.getByRole('table').getByRole('row').filter({ has: admin.getByRole('rowheader') })

t.test('the user list pages by 20, forward and back', async (t) => {
  for (let i = 0; i < 22; i++) await register(app, `member${String(i).padStart(2, '0')}`)
  const admin = await signedIn(browser, app.url, WEB_ADMIN.username, WEB_ADMIN.password)
  await admin.goto(page(PAGES.users))
  await admin.getByLabel('Search users').fill('member')
  await admin.getByRole('button', { name: 'Search' }).click()
  await admin.getByRole('rowheader', { name: 'member00' }).waitFor()
  t.equal(await userRows(admin).count(), 20, 'a first page of 20')
  await admin.getByRole('button', { name: 'Next page' }).click()
  await admin.getByRole('rowheader', { name: 'member21' }).waitFor()
  t.same(await userRows(admin).getByRole('rowheader').allTextContents(), ['member20', 'member21'], 'then the rest')
  t.ok(await admin.getByRole('button', { name: 'Next page' }).isDisabled(), 'and no page after')
  await admin.getByRole('button', { name: 'Previous page' }).click()
  await admin.getByRole('rowheader', { name: 'member00' }).waitFor()
  t.pass('back to the first')
})

t.test('an admin enables, re-roles, signs out and deletes a user, each reaching the user at once', async (t) => {
  await register(app, 'nina')
  const nina = await signedIn(browser, app.url, 'nina')
  const admin = await signedIn(browser, app.url, WEB_ADMIN.username, WEB_ADMIN.password)
  await admin.goto(page(PAGES.users))
  await admin.getByLabel('Search users').fill('nina')
  await admin.getByRole('button', { name: 'Search' }).click()
  await admin.getByRole('button', { name: 'Manage nina' }).click()
  const panel = admin.getByRole('region', { name: 'Manage nina' })

  await panel.getByRole('button', { name: 'Disable user' }).click()
  await panel.getByText('nina is disabled').waitFor()
  await panel.getByRole('button', { name: 'Enable user' }).click()
  await panel.getByText('nina is enabled').waitFor()
  await expectShows(t, admin.getByRole('row', { name: /nina/ }).getByRole('cell').nth(1), 'Active', 'enabled again')

  const again = await signedIn(browser, app.url, 'nina')
  await panel.getByLabel('Roles').fill('user, auditor')
  await panel.getByRole('button', { name: 'Save roles' }).click()
  await panel.getByText("nina's roles are saved").waitFor()
  await expectShows(t, admin.getByRole('row', { name: /nina/ }).getByRole('cell').first(), 'user, auditor')
  await again.getByRole('button', { name: 'Count' }).click()
  await again.waitForURL(/\/login/)
  t.pass('new roles ended her session')

  const third = await signedIn(browser, app.url, 'nina')
  await panel.getByRole('button', { name: 'End all sessions' }).click()
  await panel.getByText('Every session of nina is ended').waitFor()
  await third.getByRole('button', { name: 'Count' }).click()
  await third.waitForURL(/\/login/)
  t.pass('"End all sessions" ended it too')

  admin.once('dialog', (dialog) => void dialog.accept())
  await panel.getByRole('button', { name: 'Delete user' }).click()
  await admin.getByRole('rowheader', { name: 'nina' }).waitFor({ state: 'detached' })
  t.equal((await app.call('POST', '/auth/login', { body: { username: 'nina', password: PASSWORD } })).status, 401, 'deleted')
  await nina.close()
})

t.test('"Sign out everywhere else" ends every other session and keeps this one', async (t) => {
  await register(app, 'oscar')
  const [here, there, elsewhere] = [await signedIn(browser, app.url, 'oscar'), await signedIn(browser, app.url, 'oscar'), await signedIn(browser, app.url, 'oscar')]
  await here.goto(page(PAGES.account))
  await here.getByRole('button', { name: 'Sign out everywhere else' }).click()
  await here.getByText('Signed out 2 other sessions.').waitFor()
  for (const other of [there, elsewhere]) {
    await other.getByRole('button', { name: 'Count' }).click()
    await other.waitForURL(/\/login/)
  }
  t.pass('both others went to /login')
  await here.getByRole('link', { name: 'Dashboard' }).click()
  await here.getByRole('button', { name: 'Count' }).click()
  await here.getByText('Count: 1').waitFor()
  t.pass('this one still counts')
})
