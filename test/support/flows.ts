import { clientOf, type HttpReply, type Target } from './client.js'
import { steadyStep, totpCode } from './totp.js'

// The steps tests take to get somewhere (an account, a session, two-factor login on), written once for every kind
// of client: an app through inject, or running instances over real HTTP. Each throws when a step is refused; a test
// that looks at the answer itself sends the request (helper.ts: postRegister, postLogin).

export const PASSWORD = 'correct horse battery'

function fail(what: string, reply: HttpReply): never {
  throw new Error(`${what}: ${reply.status} ${JSON.stringify(reply.body)}`)
}

function expect(what: string, reply: HttpReply, status: number): void {
  if (reply.status !== status) fail(what, reply)
}

export async function register(target: Target, username: string, password = PASSWORD): Promise<void> {
  const via = clientOf(target)
  expect(`register ${username}`, await via.call('POST', '/auth/register', { body: { username, password } }), 201)
}

/** Registers with an email address; a link to confirm it is mailed there. */
export async function registerWithEmail(target: Target, username: string, email: string, password = PASSWORD): Promise<void> {
  const via = clientOf(target)
  expect(`register ${username}`, await via.call('POST', '/auth/register', { body: { username, password, email } }), 201)
}

/** Logs in with the password alone; the session cookie. */
export async function logIn(target: Target, username: string, password = PASSWORD): Promise<string> {
  const via = clientOf(target)
  const reply = await via.call('POST', '/auth/login', { body: { username, password } })
  if (reply.status !== 200 || reply.cookie === null) fail(`login ${username}`, reply)
  return reply.cookie
}

/** Registers a user and logs in: the session cookie. */
export async function loggedIn(target: Target, username: string): Promise<string> {
  const via = clientOf(target)
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
export async function enrolled(target: Target, username: string): Promise<Enrolled> {
  const via = clientOf(target)
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
export async function passwordStep(target: Target, username: string): Promise<string> {
  const via = clientOf(target)
  const reply = await via.call('POST', '/auth/login', { body: { username, password: PASSWORD } })
  const pending = reply.cookies['sid-mfa']
  if (reply.body.mfaRequired !== true || pending === undefined) fail('password step', reply)
  return pending
}
