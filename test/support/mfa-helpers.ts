import type { LightMyRequestResponse } from 'fastify'
import { injected } from './client.js'
import * as flows from './flows.js'
import { json, sessionCookie, type App } from './helper.js'

export type { Enrolled } from './flows.js'

/** The pending login's cookie a response sets, ready for a Cookie header. */
export const pendingCookie = (response: LightMyRequestResponse, name = 'sid-mfa') => sessionCookie(response, name)

export function post(app: App, url: string, body: unknown, headers: Record<string, string> = {}) {
  const request = json(body)
  return app.inject({ method: 'POST', url, ...request, headers: { ...request.headers, ...headers } })
}

export async function startEnrolment(app: App, cookie: string) {
  const response = await app.inject({ method: 'POST', url: '/auth/mfa/totp', headers: { cookie } })
  if (response.statusCode !== 200) throw new Error(`enrolment: ${response.statusCode} ${response.body}`)
  return response.json() as { secret: string; uri: string; qrCode: string; expiresAt: string }
}

/** See flows.enrolled. */
export const enrolled = (app: App, username: string) => flows.enrolled(injected(app), username)

/** See flows.passwordStep. */
export const passwordStep = (app: App, username: string) => flows.passwordStep(injected(app), username)

export const completeLogin = (app: App, pending: string, code: string) => post(app, '/auth/login/mfa', { code }, { cookie: pending })
