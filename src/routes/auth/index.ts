import type { FastifyPluginAsync } from 'fastify'
import credentialRoutes from './credentials.js'
import emailRoutes from './email.js'
import eventRoutes from './events.js'
import meRoutes from './me.js'
import mfaRoutes from './mfa/index.js'
import publicAuthRoutes from './public.js'
import recoveryRoutes from './recovery.js'
import sessionRoutes from './sessions/index.js'
import tokenRoutes from './tokens/index.js'
import verifyRoutes from './verify.js'

/** The per-IP limit on credential checks, tighter than the global one. */
export interface CredentialRateLimit {
  max: number
  timeWindow: number
}

export interface AuthRoutesOptions {
  allowRegistration: boolean
  requireVerifiedEmail: boolean
  credentialRateLimit: CredentialRateLimit
}

/**
 * /auth: each part is a plugin of its own with its guard at its top, so a route's guard is the one of its file or
 * folder: none for public.ts (register, login, logout) and recovery.ts (forgot and reset password, verify email),
 * requireUser for me.ts, verify.ts and events.ts, requireLogin for credentials.ts, email.ts and the sessions/, mfa/ and tokens/ folders.
 */
const authRoutes: FastifyPluginAsync<AuthRoutesOptions> = async (app, { allowRegistration, requireVerifiedEmail, credentialRateLimit }) => {
  await app.register(publicAuthRoutes, { allowRegistration, requireVerifiedEmail, credentialRateLimit })
  await app.register(recoveryRoutes, { credentialRateLimit })
  await app.register(meRoutes)
  await app.register(credentialRoutes, { credentialRateLimit })
  await app.register(emailRoutes)
  await app.register(sessionRoutes, { prefix: '/sessions' })
  await app.register(mfaRoutes, { prefix: '/mfa' })
  await app.register(tokenRoutes, { prefix: '/tokens' })
  await app.register(verifyRoutes)
  await app.register(eventRoutes)
}

export default authRoutes
