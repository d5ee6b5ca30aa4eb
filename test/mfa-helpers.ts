import type { LightMyRequestResponse } from 'fastify'
import { json, PASSWORD, register, sessionCookie, type App } from './helper.js'
import { steadyStep, totpCode } from './totp.js'

/** The pending login's cookie a response sets, ready for a Cookie header. */
export const pendingCookie = (response: LightMyRequestResponse, name = 'sid-mfa') => sessionCookie(response, name)

/** A registered, logged-in user with two-factor login on; its secret, and the step its confirmation used. */
export interface Enrolled {
  username: string
  cookie: string
  secret: string
  recoveryCodes: string[]
  /** Steps above this one are still unused. */
  lastStep: number
}

export function post(app: App, url: string, body: unknown, headers: Record<string, string> = {}) {
  const request = json(body)
  return app.inject({ method: 'POST', url, ...request, headers: { ...request.headers, ...headers } })
}

export async function startEnrolment(app: App, cookie: string) {
  const response = await app.inject({ method: 'POST', url: '/auth/mfa/totp', headers: { cookie } })
  if (response.statusCode !== 200) throw new Error(`enrolment: ${response.statusCode} ${response.body}`)
  return response.json() as { secret: string; uri: string; qrCode: string; expiresAt: string }
}

/**
 * Registers `username`, logs in, and turns two-factor login on with the code of the step before the current one, so
 * that the current and the next step stay free for the test.
 */
export async function enrolled(app: App, username: string): Promise<Enrolled> {
  await register(app, username)
  const login = await post(app, '/auth/login', { username, password: PASSWORD })
  const cookie = sessionCookie(login)
  const { secret } = await startEnrolment(app, cookie)
  const lastStep = (await steadyStep()) - 1
  const confirmed = await post(app, '/auth/mfa/totp/confirm', { code: totpCode(secret, lastStep) }, { cookie })
  if (confirmed.statusCode !== 200) throw new Error(`confirm: ${confirmed.statusCode} ${confirmed.body}`)
  return { username, cookie, secret, recoveryCodes: confirmed.json().recoveryCodes, lastStep }
}

/** The password step of a login with a second factor: the pending login's cookie. */
export async function passwordStep(app: App, username: string): Promise<string> {
  const response = await post(app, '/auth/login', { username, password: PASSWORD })
  if (response.statusCode !== 200 || response.json().mfaRequired !== true) throw new Error(`password step: ${response.statusCode} ${response.body}`)
  return pendingCookie(response)
}

export const completeLogin = (app: App, pending: string, code: string) => post(app, '/auth/login/mfa', { code }, { cookie: pending })
