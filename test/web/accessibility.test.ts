import t from 'tap'
import { WEB_APP_PAGES as PAGES } from '../../src/lib/web-pages.js'
import { expectAccessible, launchBrowser, signedIn, startWebApp, WEB_ADMIN, WEB_ADMIN_ENV } from '../support/browser.js'
import { register } from '../support/flows.js'
import { PASSWORD } from '../support/helper.js'

// Every page passes axe-core with no serious or critical violation, in the states a person sees; and the sign-in,
// register and count flows work with the keyboard alone.

const [app, browser] = await Promise.all([startWebApp(t, WEB_ADMIN_ENV), launchBrowser(t)])
const page = (path: string) => `${app.url}${path}`

t.test('the pages a signed-out person sees, errors shown', async (t) => {
  const person = await (await browser.newContext()).newPage()
  await person.goto(page(PAGES.login))
  await expectAccessible(t, person, '/login')
  await person.getByLabel('Username').fill('nobody')
  await person.getByLabel('Password').fill('not the password')
  await person.getByRole('button', { name: 'Sign in' }).click()
  await person.getByRole('alert').waitFor()
  await expectAccessible(t, person, '/login with an error')
  for (const path of [PAGES.register, PAGES.forgotPassword, `${PAGES.verifyEmail}?token=x`, `${PAGES.resetPassword}?token=x`, PAGES.resetPassword]) {
    await person.goto(page(path))
    await person.getByRole('heading', { level: 1 }).waitFor()
    await expectAccessible(t, person, path)
  }
})

t.test('the pages a signed-in person and an admin see', async (t) => {
  await register(app, 'viewer')
  const viewer = await signedIn(browser, app.url, 'viewer')
  await expectAccessible(t, viewer, '/dashboard')
  await viewer.getByRole('button', { name: 'Count' }).click()
  await viewer.getByText('Count: 1').waitFor()
  await expectAccessible(t, viewer, '/dashboard counted')
  await viewer.goto(page(PAGES.account))
  await viewer.getByRole('heading', { name: 'Sessions' }).waitFor()
  await expectAccessible(t, viewer, '/account')
  await viewer.getByRole('button', { name: 'Set up two-factor authentication' }).click()
  await viewer.getByRole('img', { name: /QR code/ }).waitFor()
  await expectAccessible(t, viewer, '/account enrolling two-factor')
  await viewer.goto(page(PAGES.users))
  await viewer.getByRole('alert').waitFor()
  await expectAccessible(t, viewer, '/users, not allowed')

  const admin = await signedIn(browser, app.url, WEB_ADMIN.username, WEB_ADMIN.password)
  await admin.goto(page(PAGES.users))
  await admin.getByRole('button', { name: 'Manage viewer' }).click()
  await admin.getByRole('heading', { name: 'Manage viewer' }).waitFor()
  await expectAccessible(t, admin, '/users managing a user')
})

t.test('register, sign in and count with the keyboard alone', async (t) => {
  const person = await (await browser.newContext()).newPage()
  const { keyboard } = person
  const focused = () => person.evaluate('document.activeElement?.labels?.[0]?.textContent ?? document.activeElement?.textContent')

  await person.goto(page(PAGES.register))
  t.equal(await focused(), 'Username', 'the first field has the focus')
  await keyboard.type('keyboarder')
  await keyboard.press('Tab')
  t.equal(await focused(), 'Password')
  await keyboard.type(PASSWORD)
  await keyboard.press('Tab')
  t.equal(await focused(), 'Email')
  await keyboard.press('Tab')
  t.equal(await focused(), 'Create account')
  await keyboard.press('Enter')
  await person.waitForURL(page(PAGES.login))

  await person.getByLabel('Username').waitFor()
  t.equal(await focused(), 'Username', 'the sign-in form has the focus')
  await keyboard.type('keyboarder')
  await keyboard.press('Tab')
  await keyboard.type(PASSWORD)
  await keyboard.press('Tab')
  t.equal(await focused(), 'Remember me')
  await keyboard.press('Space')
  await keyboard.press('Tab')
  t.equal(await focused(), 'Sign in')
  await keyboard.press('Enter')
  await person.waitForURL(page(PAGES.dashboard))

  // From the top of the page: the links, then "Sign out", then the counter.
  for (let presses = 0; presses < 10 && (await focused()) !== 'Count'; presses++) await keyboard.press('Tab')
  t.equal(await focused(), 'Count', 'Tab reaches the counter')
  await keyboard.press('Enter')
  await person.getByText('Count: 1').waitFor()
  await keyboard.press('Space')
  await person.getByText('Count: 2').waitFor()
  t.pass('Enter and Space both count')
  const remembered = (await person.context().cookies()).find((cookie) => cookie.name === 'sid')
  t.ok(remembered && remembered.expires > 0, '"Remember me", ticked with Space, made a persistent cookie')
})
