import type { Browser, Page } from 'playwright-core'
import t from 'tap'
import { WEB_APP_PAGES as PAGES } from '../../src/lib/web-pages.js'
import { expectShows, launchBrowser, signedIn, startWebApp, WEB_ADMIN, WEB_ADMIN_ENV } from '../support/browser.js'
import { enrolled, register, registerWithEmail } from '../support/flows.js'
import { linkOf, PASSWORD, testMail } from '../support/helper.js'
import { steadyStep, totpCode } from '../support/totp.js'

// A person's flows through the web app, in Chromium, against the service as a process of its own (one for the file).

const [app, browser] = await Promise.all([startWebApp(t, WEB_ADMIN_ENV), launchBrowser(t)])
const page = (path: string) => `${app.url}${path}`

/** A browser of its own (cookies and storage), at a blank page. */
async function newPerson(browser: Browser): Promise<Page> {
  return (await browser.newContext()).newPage()
}

/** The path and query of the newest mailed link, on the instance under test (links carry PUBLIC_URL's origin). */
async function mailedLink(to: string, subject: RegExp, count = 1): Promise<{ path: string; url: string }> {
  const mails = await (await testMail()).waitFor(to, count, subject)
  const { url } = linkOf(mails[count - 1]!)
  return { path: url.pathname, url: page(`${url.pathname}${url.search}`) }
}

async function signIn(person: Page, username: string, password = PASSWORD, path: string = PAGES.login) {
  await person.goto(page(path))
  await person.getByLabel('Username').fill(username)
  await person.getByLabel('Password').fill(password)
  await person.getByRole('button', { name: 'Sign in' }).click()
}

t.test('register with an email, confirm it from the mail, sign in, count twice, sign out', async (t) => {
  const person = await newPerson(browser)
  await person.goto(page('/'))
  await person.waitForURL(page(PAGES.login))
  t.pass('/ leads to /login when signed out')
  await person.getByRole('link', { name: 'Create an account' }).click()
  await person.getByLabel('Username').fill('alice')
  await person.getByLabel('Password').fill(PASSWORD)
  await person.getByLabel('Email').fill('alice@example.test')
  await person.getByRole('button', { name: 'Create account' }).click()
  await person.waitForURL(page(PAGES.login))
  await expectShows(t, person.getByRole('status'), 'We mailed a link to alice@example.test')

  const link = await mailedLink('alice@example.test', /confirm|verify/i)
  t.equal(link.path, PAGES.verifyEmail, 'the mailed link opens the app')
  await person.goto(link.url)
  const confirm = person.getByRole('button', { name: 'Confirm my email address' })
  await confirm.waitFor()
  t.equal(new URL(person.url()).search, '', 'the token is taken out of the address bar')
  await confirm.click()
  await expectShows(t, person.getByRole('status'), 'alice@example.test is confirmed')

  await signIn(person, 'alice')
  await person.waitForURL(page(PAGES.dashboard))
  await expectShows(t, person.getByRole('heading', { level: 1 }), 'Welcome, alice', 'the dashboard greets the user by name')
  const count = person.getByRole('button', { name: 'Count' })
  await count.click()
  await person.getByText('Count: 1').waitFor()
  await count.click()
  await person.getByText('Count: 2').waitFor()
  t.pass('counted twice: 1, then 2')

  await person.getByRole('button', { name: 'Sign out' }).click()
  await person.waitForURL(/\/login/)
  await person.goto(page(PAGES.dashboard))
  await person.waitForURL(page(`${PAGES.login}?next=${encodeURIComponent(PAGES.dashboard)}`))
  t.pass('signed out: the dashboard sends to /login, to come back after')
})

t.test('two-factor: enrol with the code of the app, recovery codes shown once, then sign in with a code', async (t) => {
  await register(app, 'bob')
  const person = await signedIn(browser, app.url, 'bob')
  await person.getByRole('link', { name: 'Account' }).click()
  await person.getByRole('button', { name: 'Set up two-factor authentication' }).click()
  const qrCode = person.getByRole('img', { name: /QR code/ })
  await qrCode.waitFor()
  // Drawn, not blocked: the pages' policy allows data: images and nothing else from elsewhere.
  await person.waitForFunction('document.querySelector(\'img[alt^="QR code"]\').naturalWidth > 0')
  t.pass('the QR code is shown')
  const secret = String(await person.getByLabel('Secret').textContent())
  const step = await steadyStep()
  await person.getByLabel('Code from your app').fill(totpCode(secret, step))
  await person.getByRole('button', { name: 'Turn on' }).click()
  await person.getByText('Two-factor authentication is on.').waitFor()
  const recoveryCodes = await person.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem').allTextContents()
  t.equal(recoveryCodes.length, 10, 'ten recovery codes, shown once')
  await person.reload()
  t.equal(await person.getByRole('list', { name: 'Recovery codes' }).count(), 0, 'and gone after a reload')

  await person.getByRole('button', { name: 'Sign out' }).click()
  await signIn(person, 'bob')
  const code = person.getByLabel('Authentication code')
  await code.fill('000000')
  await person.getByRole('button', { name: 'Verify' }).click()
  await expectShows(t, person.getByRole('alert'), 'That code is not right', 'a wrong code says so')
  // The next step's code: the one of the enrolment's step is spent (accepted drift: one step either way).
  await code.fill(totpCode(secret, step + 1))
  await person.getByRole('button', { name: 'Verify' }).click()
  await person.waitForURL(page(PAGES.dashboard))
  t.pass('signed in with the code')

  await person.getByRole('link', { name: 'Account' }).click()
  await person.getByLabel('Code to turn it off').fill(recoveryCodes[0]!)
  await person.getByRole('button', { name: 'Turn off two-factor authentication' }).click()
  await person.getByText('Two-factor authentication is off.').waitFor()
  await person.getByRole('button', { name: 'Set up two-factor authentication' }).waitFor()
  t.pass('off with a recovery code, and offered again')
})

t.test('a session ended from another browser lands on /login saying why, and returns where it was after', async (t) => {
  await register(app, 'carol')
  const laptop = await signedIn(browser, app.url, 'carol')
  const phone = await signedIn(browser, app.url, 'carol')
  await phone.getByRole('link', { name: 'Account' }).click()
  await phone.getByRole('heading', { name: 'Sessions' }).waitFor()

  await laptop.goto(page(PAGES.account))
  const sessions = laptop.getByRole('listitem').filter({ hasText: 'Last seen' })
  await sessions.nth(1).waitFor()
  t.equal(await sessions.count(), 2, 'both sessions listed')
  t.equal(await sessions.filter({ hasText: 'This device' }).count(), 1, 'one is this device')
  t.match(await sessions.first().textContent(), /Chrom(e|ium).*Linux/, 'each with its browser')
  await sessions.filter({ hasNotText: 'This device' }).getByRole('button', { name: 'End session' }).click()
  await laptop.getByText('Ended the session').waitFor()

  await phone.getByRole('link', { name: 'Dashboard' }).click()
  await phone.getByRole('button', { name: 'Count' }).click()
  await phone.waitForURL(/\/login\?next=/)
  await expectShows(t, phone.getByRole('status'), 'Your session has ended', 'the page says why')
  await phone.getByLabel('Username').fill('carol')
  await phone.getByLabel('Password').fill(PASSWORD)
  await phone.getByRole('button', { name: 'Sign in' }).click()
  await phone.waitForURL(page(PAGES.dashboard))
  t.pass('and signing in returns to the page it was on')
})

t.test('forgot password: the mailed link resets it, and the old sessions are gone', async (t) => {
  await registerWithEmail(app, 'dave', 'dave@example.test')
  const confirmation = await mailedLink('dave@example.test', /confirm|verify/i)
  await app.call('POST', '/auth/email/verify', { body: { token: new URL(confirmation.url).searchParams.get('token') } })
  const before = await signedIn(browser, app.url, 'dave')

  const person = await newPerson(browser)
  await person.goto(page(PAGES.login))
  await person.getByRole('link', { name: 'Forgot your password?' }).click()
  await person.getByLabel('Email').fill('dave@example.test')
  await person.getByRole('button', { name: 'Send reset link' }).click()
  await person.getByText('a reset link is on its way').waitFor()
  const link = await mailedLink('dave@example.test', /reset/i)
  t.equal(link.path, PAGES.resetPassword)
  await person.goto(link.url)
  await person.getByLabel('New password').fill('a brand new passphrase')
  await person.getByRole('button', { name: 'Set new password' }).click()
  await person.waitForURL(page(PAGES.login))
  await expectShows(t, person.getByRole('status'), 'Your password is changed')

  await before.reload()
  await before.waitForURL(/\/login/)
  t.pass('the session from before the reset is gone')
  await signIn(person, 'dave', 'a brand new passphrase')
  await person.waitForURL(page(PAGES.dashboard))
  t.pass('the new password signs in')
})

t.test('a reset link for an account with two-factor on asks for a code too', async (t) => {
  const { cookie, recoveryCodes } = await enrolled(app, 'paula')
  await app.call('PUT', '/auth/email', { cookie, body: { email: 'paula@example.test' } })
  const confirmation = await mailedLink('paula@example.test', /confirm|verify/i)
  await app.call('POST', '/auth/email/verify', { body: { token: new URL(confirmation.url).searchParams.get('token') } })
  await app.call('POST', '/auth/password/forgot', { body: { email: 'paula@example.test' } })

  const person = await newPerson(browser)
  await person.goto((await mailedLink('paula@example.test', /reset/i)).url)
  await person.getByLabel('New password').fill('a brand new passphrase')
  await person.getByRole('button', { name: 'Set new password' }).click()
  await expectShows(t, person.getByRole('alert'), 'This account has two-factor authentication', 'the page asks for the code')
  await person.getByLabel('Authentication code').fill(recoveryCodes[0]!)
  await person.getByRole('button', { name: 'Set new password' }).click()
  await person.waitForURL(page(PAGES.login))
  await expectShows(t, person.getByRole('status'), 'Your password is changed')
})

t.test('an admin disables a user, whose page then goes to /login; a non-admin is told /users is not for them', async (t) => {
  await register(app, 'erin')
  const erin = await signedIn(browser, app.url, 'erin')
  await erin.goto(page(PAGES.users))
  await expectShows(t, erin.getByRole('alert'), 'Not allowed: this page is for administrators.')

  const admin = await signedIn(browser, app.url, WEB_ADMIN.username, WEB_ADMIN.password)
  await admin.getByRole('link', { name: 'Users' }).click()
  await admin.getByLabel('Search users').fill('er')
  await admin.getByRole('button', { name: 'Search' }).click()
  await admin.getByRole('button', { name: 'Manage erin' }).click()
  await admin.getByLabel('Reason').fill('spam')
  await admin.getByRole('button', { name: 'Disable user' }).click()
  await admin.getByText('erin is disabled').waitFor()
  await expectShows(t, admin.getByRole('row', { name: /erin/ }).getByRole('cell').nth(1), 'Disabled: spam', 'the list shows it')

  await erin.getByRole('link', { name: 'Dashboard' }).click()
  await erin.getByRole('button', { name: 'Count' }).click()
  await erin.waitForURL(/\/login/)
  t.pass("erin's page went to /login")
  await signIn(erin, 'erin')
  await expectShows(t, erin.getByRole('alert'), 'This account is disabled', 'and the sign-in says why')
})

t.test('signing out in one tab signs out the others', async (t) => {
  await register(app, 'frank')
  const first = await signedIn(browser, app.url, 'frank')
  const second = await first.context().newPage()
  await second.goto(page(PAGES.account))
  await second.getByRole('heading', { name: 'Your account' }).waitFor()
  await first.getByRole('button', { name: 'Sign out' }).click()
  await second.waitForURL(/\/login/)
  await expectShows(t, second.getByRole('status'), 'You signed out in another tab')
})

t.test('a minute before the idle timeout a notice offers to stay; ignored, the page goes to /login', async (t) => {
  await register(app, 'grace')
  const person = await newPerson(browser)
  // The page's clock, driven by the test: the idle timeout (30 minutes) passes in no time.
  await person.clock.install()
  await signIn(person, 'grace')
  await person.waitForURL(page(PAGES.dashboard))
  const { session } = (await (await person.request.get(page('/auth/me'))).json()) as { session: { expiresAt: string } }
  const idleMs = Date.parse(session.expiresAt) - Date.now()

  await person.clock.fastForward(idleMs - 50_000)
  const stay = person.getByRole('button', { name: 'Stay signed in' })
  await stay.waitFor()
  t.pass('the notice, a minute before')
  await stay.click()
  await stay.waitFor({ state: 'detached' })
  t.pass('"Stay signed in" reads the session, and the notice goes')

  // The session ends on the server (as its idle timeout would); the page's next look finds it gone.
  await app.call('POST', '/auth/logout', { cookie: (await person.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ') })
  await person.clock.fastForward(idleMs + 5_000)
  await person.waitForURL(/\/login/)
  await expectShows(t, person.getByRole('status'), 'after a period of inactivity')
})
