import type { Client, HttpReply } from './client.js'
import { steadyStep, totpCode } from './totp.js'

// The steps tests take to get somewhere (an account, a session, two-factor login on), written once for every kind
// of client: an app through inject, or running instances over real HTTP.

export const PASSWORD = 'correct horse battery'

function fail(what: string, reply: HttpReply): never {
  throw new Error(`${what}: ${reply.status} ${JSON.stringify(reply.body)}`)
}

function expect(what: string, reply: HttpReply, status: number): void {
  if (reply.status !== status) fail(what, reply)
}

export async function register(via: Client, username: string, password = PASSWORD): Promise<void> {
  expect(`register ${username}`, await via.call('POST', '/auth/register', { body: { username, password } }), 201)
}

/** Registers with an email address; a link to confirm it is mailed there. */
export async function registerWithEmail(via: Client, username: string, email: string, password = PASSWORD): Promise<void> {
  expect(`register ${username}`, await via.call('POST', '/auth/register', { body: { username, password, email } }), 201)
}

/** Logs in with the password alone; the session cookie. */
export async function logIn(via: Client, username: string, password = PASSWORD): Promise<string> {
  const reply = await via.call('POST', '/auth/login', { body: { username, password } })
  if (reply.status !== 200 || reply.cookie === null) fail(`login ${username}`, reply)
  return reply.cookie
}

/** Registers a user and logs in: the session cookie. */
export async function loggedIn(via: Client, username: string): Promise<string> {
  await register(via, username)
  return logIn(via, username)
}

/** A logged-in user with two-factor login on, its secret and recovery codes. */
export interface Enrolled {
  username: string
  cookie: string
  secret: string
  recoveryCodes: string[]
  /** Steps above this one are still unused. */
  lastStep: number
}

/**
 * Registers `username`, logs in, and turns two-factor login on with the code of the step before the current one, so
 * that the current and the next step stay free for the test.
 */
export async function enrolled(via: Client, username: string): Promise<Enrolled> {
  const cookie = await loggedIn(via, username)
  const started = await via.call('POST', '/auth/mfa/totp', { cookie })
  expect('enrolment', started, 200)
  const secret = started.body.secret as string
  const lastStep = (await steadyStep()) - 1
  const confirmed = await via.call('POST', '/auth/mfa/totp/confirm', { cookie, body: { code: totpCode(secret, lastStep) } })
  expect('confirm', confirmed, 200)
  return { username, cookie, secret, recoveryCodes: confirmed.body.recoveryCodes as string[], lastStep }
}

/** The password step of a login with a second factor: the pending login's cookie. */
export async function passwordStep(via: Client, username: string): Promise<string> {
  const reply = await via.call('POST', '/auth/login', { body: { username, password: PASSWORD } })
  const pending = reply.cookies['sid-mfa']
  if (reply.body.mfaRequired !== true || pending === undefined) fail('password step', reply)
  return pending
}
