import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AccountLocked, InvalidCredentials, RegistrationClosed, SessionExpired } from '../../errors.js'
import { sessionKeyId } from '../../lib/keys.js'
import { sessionExpiresAt } from '../../plugins/session.js'
import { DEFAULT_ROLES } from '../../plugins/users.js'
import { MeResponse } from '../../schemas/auth.js'
import { errorResponses } from '../../schemas/error.js'
import { Credentials, UserResponse } from '../../schemas/user.js'

export interface AuthRoutesOptions {
  allowRegistration: boolean
  /** The per-IP limit on credential checks, tighter than the global one. */
  credentialRateLimit: { max: number; timeWindow: number }
}

const authRoutes: FastifyPluginAsyncTypebox<AuthRoutesOptions> = async (app, options) => {
  const credentialLimit = { rateLimit: options.credentialRateLimit }

  app.post(
    '/register',
    {
      config: credentialLimit,
      schema: { body: Credentials, response: { 201: UserResponse, ...errorResponses(400, 403, 409, 429, 503) } },
    },
    async (request, reply) => {
      if (!options.allowRegistration) throw new RegistrationClosed()
      const user = await app.users.create({ ...request.body, roles: DEFAULT_ROLES })
      return reply.code(201).send({ user })
    },
  )

  app.post(
    '/login',
    {
      config: credentialLimit,
      schema: { body: Credentials, response: { 200: UserResponse, ...errorResponses(400, 401, 429, 503) } },
    },
    async (request, reply) => {
      const { username, password } = request.body
      // Checked before the password, and the same for every account name, so a lock reveals nothing either.
      const lockedFor = await app.accountLock.lockedFor(username)
      if (lockedFor > 0) {
        request.log.info({ event: 'login_locked', username }, 'login refused: account locked')
        reply.header('retry-after', Math.ceil(lockedFor / 1000))
        throw new AccountLocked()
      }
      const user = await app.users.authenticate(username, password)
      if (!user) {
        await app.accountLock.recordFailure(username)
        request.log.info({ event: 'login_failed', username }, 'login failed')
        throw new InvalidCredentials()
      }
      await app.accountLock.reset(username)
      // A new session ID at login: an ID planted before login (session fixation) is destroyed, never promoted.
      await request.session.regenerate()
      request.session.user = { id: user.id, username: user.username, roles: user.roles }
      request.session.createdAt = Date.now()
      // Lifecycle events name the session by the hash it is stored under, never by its ID.
      request.log.info({ event: 'login', userId: user.id, session: sessionKeyId(request.session.sessionId) }, 'login')
      return { user }
    },
  )

  app.post(
    '/logout',
    { schema: { response: { 204: { type: 'null' }, ...errorResponses(429, 503) } } },
    async (request, reply) => {
      const { user, sessionId } = request.session
      if (user) {
        await request.session.destroy()
        request.log.info({ event: 'logout', userId: user.id, session: sessionKeyId(sessionId) }, 'logout')
      }
      app.sessionCookie.clear(reply)
      return reply.code(204).send()
    },
  )

  app.get(
    '/me',
    { preHandler: app.requireSession, schema: { response: { 200: MeResponse, ...errorResponses(401, 429, 503) } } },
    async (request, reply) => {
      const { session } = request
      const user = session.user && (await app.users.findById(session.user.id))
      if (!user) {
        // The account is gone; so is any right to this session.
        await session.destroy()
        app.sessionCookie.clear(reply)
        throw new SessionExpired()
      }
      return {
        user,
        session: {
          createdAt: new Date(session.createdAt ?? Date.now()).toISOString(),
          expiresAt: (sessionExpiresAt(session.cookie) ?? new Date()).toISOString(),
        },
      }
    },
  )
}

export default authRoutes
