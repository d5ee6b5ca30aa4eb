import { setTimeout as sleep } from 'node:timers/promises'
import type { Locator, Page } from 'playwright-core'
import t from 'tap'
import { WEB_APP_PAGES as PAGES } from '../../src/lib/web-pages.js'
import { expectShows, launchBrowser, startWebApp } from '../support/browser.js'
import { register } from '../support/flows.js'
import { PASSWORD } from '../support/helper.js'

// The account page's sections and the sign-in page's refusals, in Chromium. Sessions here stop being fresh after 2
// seconds (REAUTH_MAX_AGE_SECONDS), so that a change asks for the password again.

const [app, browser] = await Promise.all([startWebApp(t, { REAUTH_MAX_AGE_SECONDS: '2' }), launchBrowser(t)])
const page = (path: string) => `${app.url}${path}`

async function signIn(person: Page, username: string, password = PASSWORD) {
  await person.getByLabel('Username').fill(username)
  await person.getByLabel('Password').fill(password)
  await person.getByRole('button', { name: 'Sign in' }).click()
}

/** Signed in, on the account page, asked for first so that the sign-in returns to it. */
async function onAccountPage(username: string): Promise<Page> {
  const person = await (await browser.newContext()).newPage()
  await person.goto(page(PAGES.account))
  await person.waitForURL(/\/login\?next=/)
  await signIn(person, username)
  await person.waitForURL(page(PAGES.account))
  return person
}

/**
 * Waits for `done`; when the service asks for a fresh sign-in first (this file's sessions are fresh for 2 seconds
 * only), proves it with the password as a person would.
 */
async function proveIfAsked(person: Page, done: Locator): Promise<void> {
  const asked = person.getByRole('heading', { name: 'Confirm it is you' })
  await done.or(asked).first().waitFor()
  if (await asked.isVisible()) {
    await person.getByLabel('Your password').fill(PASSWORD)
    await person.getByRole('button', { name: 'Confirm' }).click()
  }
  await done.waitFor()
}

/** The section under its heading. */
const section = (person: Page, heading: string) => person.getByRole('region', { name: heading })

t.test('a change on a session that is not fresh asks for the password, then goes through', async (t) => {
  await register(app, 'henry')
  const person = await onAccountPage('henry')
  t.pass('/account asked for while signed out: back on it after signing in')
  await sleep(2500)
  const password = section(person, 'Password')
  await password.getByLabel('Current password').fill(PASSWORD)
  await password.getByLabel('New password').fill('another long passphrase')
  await password.getByRole('button', { name: 'Change password' }).click()
  await person.getByRole('heading', { name: 'Confirm it is you' }).waitFor()
  await person.getByLabel('Your password').fill('not it')
  await person.getByRole('button', { name: 'Confirm' }).click()
  await expectShows(t, person.getByRole('form', { name: 'Confirm it is you' }).getByRole('alert'), 'That password is wrong.')
  await person.getByLabel('Your password').fill(PASSWORD)
  await person.getByRole('button', { name: 'Confirm' }).click()
  await password.getByText('Your password is changed').waitFor()
  t.pass('proved again, the change ran')
  t.equal((await app.call('POST', '/auth/login', { body: { username: 'henry', password: 'another long passphrase' } })).status, 200, 'the new password works')
})

t.test('access tokens: the secret shown once, then revoked', async (t) => {
  await register(app, 'iris')
  const person = await onAccountPage('iris')
  const tokens = section(person, 'Access tokens')
  await tokens.getByLabel('Token name').fill('backup script')
  await tokens.getByLabel('Write').check()
  await tokens.getByRole('button', { name: 'Create token' }).click()
  await proveIfAsked(person, tokens.getByLabel('New token'))
  const secret = String(await tokens.getByLabel('New token').textContent())
  t.match(secret, /^rsa_pat_/, 'the secret, shown')
  t.equal((await app.call('GET', '/auth/me', { authorization: `Bearer ${secret}` })).status, 200, 'and it works')
  await expectShows(t, tokens.getByRole('listitem'), 'backup script (read, write)')
  await person.reload()
  t.equal(await section(person, 'Access tokens').getByLabel('New token').count(), 0, 'not shown again')
  await section(person, 'Access tokens').getByRole('button', { name: 'Revoke backup script' }).click()
  await proveIfAsked(person, person.getByText('Token “backup script” revoked'))
  t.equal((await app.call('GET', '/auth/me', { authorization: `Bearer ${secret}` })).status, 401, 'revoked: refused')
})

t.test('recent activity: a stranger\'s failed and successful sign-ins shown, and every other session ended from there', async (t) => {
  await register(app, 'kate')
  await app.call('POST', '/auth/login', { body: { username: 'kate', password: 'not it at all' } })
  const stranger = await app.call('POST', '/auth/login', { body: { username: 'kate', password: PASSWORD } })
  const person = await onAccountPage('kate')
  const activity = section(person, 'Recent activity')
  const events = activity.getByRole('list', { name: 'Security events' }).getByRole('listitem')
  await expectShows(t, events.first(), 'Signed in', 'the newest first: this sign-in')
  await expectShows(t, events.first(), 'a new device', 'from a browser the account had not seen')
  await expectShows(t, events, 'Sign-in refused: wrong password')
  await expectShows(t, events, 'Account created')
  await activity.getByRole('button', { name: 'End every other session' }).click()
  await proveIfAsked(person, activity.getByText(/Ended 1 other session/))
  t.equal((await app.call('GET', '/auth/me', { cookie: stranger.cookie! })).status, 401, 'the stranger\'s session is over')
  t.equal((await app.call('GET', '/auth/events', { cookie: stranger.cookie! })).status, 401)
})

t.test('email: an address asked for waits for its confirmation; the account is deleted with its password', async (t) => {
  await register(app, 'jack')
  const person = await onAccountPage('jack')
  const email = section(person, 'Email')
  await expectShows(t, email, 'No address yet.')
  await email.getByLabel('New email address').fill('jack@example.test')
  await email.getByRole('button', { name: 'Change email' }).click()
  await proveIfAsked(person, email.getByText('We mailed a link to jack@example.test'))
  await expectShows(t, email, 'jack@example.test (not confirmed yet)')
  await email.getByRole('button', { name: 'Resend confirmation link' }).click()
  await email.getByText('A new link is on its way to jack@example.test').waitFor()

  const remove = section(person, 'Delete account')
  await remove.getByLabel('Password to delete the account').fill(PASSWORD)
  await remove.getByRole('button', { name: 'Delete my account' }).click()
  await proveIfAsked(person, person.getByRole('heading', { name: 'Sign in' }))
  await expectShows(t, person.getByRole('status'), 'Your account is deleted.')
  t.equal((await app.call('POST', '/auth/login', { body: { username: 'jack', password: PASSWORD } })).status, 401, 'and it is gone')
})

t.test('sign-in refusals each say what happened: wrong password, a lock with its wait, the rate limit', async (t) => {
  // An instance of its own: a lock after 2 failures, and the per-client login limit after 6 attempts.
  const strict = await startWebApp(t, { ACCOUNT_LOCK_THRESHOLD: '2', LOGIN_RATE_LIMIT_MAX: '6' })
  await register(strict, 'kate')
  const person = await (await browser.newContext()).newPage()
  await person.goto(`${strict.url}${PAGES.login}`)
  const seen: string[] = []
  for (let attempt = 0; attempt < 8 && !seen.some((message) => message.startsWith('Too many attempts')); attempt++) {
    // Each submit clears the last message; the alert that appears after the answer is this attempt's.
    await Promise.all([person.waitForResponse((response) => response.url().endsWith('/auth/login')), signIn(person, 'kate', 'a wrong password')])
    const message = String(await person.getByRole('alert').textContent())
    if (seen.at(-1) !== message) seen.push(message)
  }
  t.equal(seen[0], 'Wrong username or password.')
  t.match(seen[1], /^Too many failed sign-ins for this account\. Try again in \d+ seconds\.$/, 'the lock, with its wait')
  t.match(seen[2], /^Too many attempts\. Try again in \d+ seconds\.$/, 'the rate limit, with its wait')
  t.equal(seen.length, 3)
})
