import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { InvalidCredentials, RegistrationClosed, SessionExpired, SessionNotFound, TokenNotAllowed } from '../../errors.js'
import { sessionKeyId } from '../../lib/keys.js'
import { sessionHandle, storedFieldNames } from '../../lib/session-store.js'
import { authenticatedAt, authMethod, LOGIN_ONLY } from '../../plugins/auth-guard.js'
import { toSessionView } from '../../plugins/session-index.js'
import { DEFAULT_ROLES } from '../../plugins/users.js'
import {
  Login,
  LoginResponse,
  LogoutBody,
  MeResponse,
  NewTokenResponse,
  PasswordChange,
  RevokedResponse,
  SessionParams,
  SessionsResponse,
} from '../../schemas/auth.js'
import { SESSION_SECURITY } from '../../schemas/security.js'
import { errorResponses, NoContent } from '../../schemas/error.js'
import { Credentials, UserResponse } from '../../schemas/user.js'
import { bearerToken, refuseLockedAccount, startSession } from './credentials.js'

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
      schema: {
        summary: 'Create an account',
        tags: ['auth'],
        body: Credentials,
        response: { 201: UserResponse, ...errorResponses(400, 403, 409, 429, 503) },
      },
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
      schema: {
        summary: 'Log in: sets the session cookie (persistent with remember: true), or answers a bearer token with transport: "token"',
        tags: ['auth'],
        body: Login,
        response: { 200: LoginResponse, ...errorResponses(400, 401, 429, 503) },
      },
    },
    async (request, reply) => {
      // Before anything else: a client that cannot get the cookie must not cost a session, a lock count or a hash.
      app.sessionCookie.assertDeliverable(request)
      // A login replaces the session it came with (see startSession): never an access token, which only its owner ends.
      if (request.session.token) throw new TokenNotAllowed()
      const { username, password, remember = false, transport = 'cookie' } = request.body
      await refuseLockedAccount(request, reply, username)
      const account = await app.users.authenticate(username, password)
      if (!account) {
        await app.accountLock.recordFailure(username)
        app.recordEvent(request.log, 'login_failed', { username })
        throw new InvalidCredentials()
      }
      if (account.mfa === null) {
        await app.accountLock.reset(username)
        return startSession(request, { account, secondFactor: null, remember, transport })
      }
      // A second factor is due: no session yet, and the failure count stays until the login completes, so that
      // knowing the password does not buy fresh guesses at the code.
      const { user } = account
      const pending = await app.pendingLogins.start({
        userId: user.id,
        username: user.username,
        remember,
        transport,
        loginEpoch: account.loginEpoch,
      })
      app.recordEvent(request.log, 'mfa_challenge', { userId: user.id, transport })
      const expiresAt = new Date(pending.expiresAt).toISOString()
      if (transport === 'token') return { mfaRequired: true as const, mfaToken: pending.id, expiresAt }
      app.pendingLogins.setCookie(reply, pending.id, pending.expiresAt)
      return { mfaRequired: true as const, expiresAt }
    },
  )

  app.post(
    '/logout',
    {
      schema: {
        summary: 'Log out; everywhere: true (from a fresh session) ends every session of mine. The cookie is cleared',
        tags: ['auth'],
        // The cookie is optional: logging out without a session still answers 204.
        security: [...SESSION_SECURITY, {}],
        body: LogoutBody,
        response: { 204: NoContent, ...errorResponses(400, 403, 429, 503) },
      },
    },
    async (request, reply) => {
      const { user, sessionId } = request.session
      // Logging out is what a login does; a personal access token ends by DELETE /auth/tokens/:id.
      if (request.session.token) throw new TokenNotAllowed()
      if (user) {
        const handle = sessionKeyId(sessionId)
        const everywhere = request.body?.everywhere === true
        // Ending every session is a sensitive action too: a stolen, stale cookie must not lock the owner out everywhere.
        if (everywhere) app.assertFresh(request)
        // Everywhere: every session of mine, this one included (revokeAll counts it), and no login in flight either
        // (see user-records.ts); else only this one. The session is deleted before it is unlisted (session-index.ts).
        if (everywhere) await app.users.voidLoginsInFlight(user)
        await request.session.destroy()
        const ended = everywhere ? 1 + (await app.sessionIndex.revokeAll(user.id, handle)) : 1
        await app.sessionIndex.remove(user.id, handle)
        const event = everywhere ? 'logout_everywhere' : 'logout'
        app.recordEvent(request.log, event, { userId: user.id, session: handle, sessions: ended }, ended)
      }
      app.sessionCookie.clear(reply)
      return reply.code(204).send()
    },
  )

  app.get(
    '/me',
    {
      preHandler: app.requireSession,
      schema: {
        summary: 'The logged-in user and the session times',
        tags: ['auth'],
        security: SESSION_SECURITY,
        response: { 200: MeResponse, ...errorResponses(401, 429, 503) },
      },
    },
    async (request, reply) => {
      const { session } = request
      const account = session.user && (await app.users.findAccount(session.user.username))
      // The account is gone (or the name now belongs to a new account); so is any right to this session.
      if (!account || account.user.id !== session.user?.id) throw new SessionExpired()
      const iso = (ms: number) => new Date(ms).toISOString()
      return {
        user: account.user,
        session: {
          createdAt: iso(session.createdAt ?? Date.now()),
          expiresAt: iso(request.sessionExpiresAt ?? Date.now()),
          remember: session.remember === true,
          authenticatedAt: iso(authenticatedAt(session)),
          authMethod: authMethod(session),
        },
        mfa: app.mfa.status(account),
      }
    },
  )

  app.put(
    '/password',
    {
      preHandler: [app.requireSession, app.requireFresh()],
      config: LOGIN_ONLY,
      schema: {
        summary: 'Change my password (fresh session): this session gets a new ID (a bearer client gets its new token), every other one ends',
        tags: ['auth'],
        security: SESSION_SECURITY,
        body: PasswordChange,
        response: { 200: NewTokenResponse, 204: NoContent, ...errorResponses(400, 401, 403, 429, 503) },
      },
    },
    async (request, reply) => {
      // This session gets a new ID, hence a new cookie: refused before the password changes if it cannot be delivered.
      app.sessionCookie.assertDeliverable(request)
      const { session } = request
      const { id, username } = session.user!
      if (!(await app.users.authenticate(username, request.body.currentPassword))) {
        await app.accountLock.recordFailure(username)
        throw new InvalidCredentials()
      }
      if (!(await app.users.setPassword({ id, username }, request.body.newPassword))) throw new SessionExpired()
      const oldHandle = sessionKeyId(session.sessionId)
      const revoked = await app.sessionIndex.revokeAll(id, oldHandle)
      // A new ID for this session too: whoever knew the old one is out. The old one is deleted, then unlisted.
      await session.regenerate(storedFieldNames(session))
      await app.sessionIndex.remove(id, oldHandle)
      app.recordEvent(request.log, 'password_change', { userId: id, revokedSessions: revoked }, revoked)
      // A cookie client gets its new cookie with the answer; a bearer client has no other way to learn its token.
      return request.bearer ? bearerToken(request) : reply.code(204).send()
    },
  )

  app.get(
    '/sessions',
    {
      preHandler: app.requireSession,
      config: LOGIN_ONLY,
      schema: {
        summary: 'My live sessions, newest first',
        tags: ['sessions'],
        security: SESSION_SECURITY,
        response: { 200: SessionsResponse, ...errorResponses(401, 429, 503) },
      },
    },
    async (request) => {
      const current = sessionKeyId(request.session.sessionId)
      const sessions = await app.sessionIndex.list(request.session.user!.id)
      return { sessions: sessions.map((session) => toSessionView(session, current)) }
    },
  )

  app.delete(
    '/sessions/:id',
    {
      preHandler: app.requireSession,
      config: LOGIN_ONLY,
      schema: {
        summary: 'End one of my sessions, on every instance (another than this one: from a fresh session)',
        tags: ['sessions'],
        security: SESSION_SECURITY,
        params: SessionParams,
        response: { 204: NoContent, ...errorResponses(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request, reply) => {
      const userId = request.session.user!.id
      const current = request.params.id === sessionHandle(request.session)
      // Ending this session is a logout; ending another takes a fresh one (ASVS 5.0 §7.5.2), checked before the
      // handle is looked up so that a stale session learns nothing of it.
      if (!current) app.assertFresh(request)
      // Another user's session is "not found" too: the answer must not confirm that a handle exists.
      if (!(await app.sessionIndex.revoke(userId, request.params.id))) throw new SessionNotFound()
      app.recordEvent(request.log, 'revoke', { userId, session: request.params.id })
      if (current) app.sessionCookie.clear(reply)
      return reply.code(204).send()
    },
  )

  app.delete(
    '/sessions',
    {
      preHandler: [app.requireSession, app.requireFresh()],
      config: LOGIN_ONLY,
      schema: {
        summary: 'End all my other sessions, keep this one (fresh session)',
        tags: ['sessions'],
        security: SESSION_SECURITY,
        response: { 200: RevokedResponse, ...errorResponses(401, 403, 429, 503) },
      },
    },
    async (request) => {
      const user = request.session.user!
      // Logins in flight too, before the listed sessions are ended (see user-records.ts).
      await app.users.voidLoginsInFlight(user)
      const userId = user.id
      const revoked = await app.sessionIndex.revokeAll(userId, sessionHandle(request.session))
      app.recordEvent(request.log, 'revoke', { userId, sessions: revoked, reason: 'other sessions' }, revoked)
      return { revoked }
    },
  )
}

export default authRoutes
