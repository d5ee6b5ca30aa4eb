import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { InvalidCredentials, LoginInterrupted, MfaCodeRequired, PendingLoginNotFound, TokenNotAllowed } from '../../errors.js'
import { sessionHandle, storedFieldNames } from '../../lib/session-store.js'
import { authenticatedAt, authMethod, LOGIN_ONLY } from '../../plugins/auth-guard.js'
import { LoggedIn } from '../../schemas/auth.js'
import { errorResponses } from '../../schemas/error.js'
import { LoginSecondFactor, Reauthentication, ReauthResponse, type SecondFactor } from '../../schemas/mfa.js'
import { SESSION_SECURITY } from '../../schemas/security.js'
import { bearerToken, confirmLoginStillValid, proveSecondFactor, recordProof, refuseLockedAccount, startSession } from './credentials.js'

export interface SecondFactorRoutesOptions {
  /** The per-IP limit on credential checks, as on POST /auth/login. */
  credentialRateLimit: { max: number; timeWindow: number }
}

/** Proving credentials after the password: the second step of a login, and re-authentication of a live session. */
const secondFactorRoutes: FastifyPluginAsyncTypebox<SecondFactorRoutesOptions> = async (app, options) => {
  app.post(
    '/login/mfa',
    {
      config: { rateLimit: options.credentialRateLimit },
      schema: {
        summary: 'Complete a login that answered mfaRequired: a TOTP code or a recovery code; only now is the session created',
        tags: ['auth'],
        body: LoginSecondFactor,
        response: { 200: LoggedIn, ...errorResponses(400, 401, 429, 503) },
      },
    },
    async (request, reply) => {
      app.sessionCookie.assertDeliverable(request)
      if (request.session.token) throw new TokenNotAllowed()
      const id = request.body.mfaToken ?? app.pendingLogins.cookieId(request)
      const pending = id === null ? null : await app.pendingLogins.find(id)
      if (id === null || pending === null) {
        app.pendingLogins.clearCookie(request, reply)
        throw new PendingLoginNotFound()
      }
      const account = await app.users.findAccount(pending.username)
      if (account === null || account.user.id !== pending.userId || account.loginEpoch !== pending.loginEpoch) {
        await app.pendingLogins.claim(id)
        app.pendingLogins.clearCookie(request, reply)
        throw new LoginInterrupted()
      }
      const { factor, recoveryCodesLeft } = await proveSecondFactor(request, reply, account, request.body.code, 'login', {
        onFailure: () => app.pendingLogins.recordFailure(id),
        // Of two requests completing one login (two right codes at once), only the one that ends it goes on.
        onPass: async () => {
          if (!(await app.pendingLogins.claim(id))) throw new PendingLoginNotFound()
        },
      })
      app.pendingLogins.clearCookie(request, reply)
      await app.accountLock.reset(pending.username)
      const loggedIn = await startSession(request, { account, secondFactor: factor, remember: pending.remember, transport: pending.transport })
      return recoveryCodesLeft === null ? loggedIn : { ...loggedIn, recoveryCodesLeft }
    },
  )

  app.post(
    '/reauth',
    {
      preHandler: app.requireSession,
      config: { ...LOGIN_ONLY, rateLimit: options.credentialRateLimit },
      schema: {
        summary: 'Prove my credentials again (password, and code when two-factor login is on): the session is fresh again and gets a new ID',
        tags: ['auth'],
        security: SESSION_SECURITY,
        body: Reauthentication,
        response: { 200: ReauthResponse, ...errorResponses(400, 401, 403, 429, 503) },
      },
    },
    async (request, reply) => {
      // The session gets a new ID, hence a new cookie.
      app.sessionCookie.assertDeliverable(request)
      const { id, username } = request.session.user!
      await refuseLockedAccount(request, reply, username)
      const account = await app.users.authenticate(username, request.body.password)
      if (account === null || account.user.id !== id) {
        await app.accountLock.recordFailure(username)
        app.recordEvent(request.log, 'reauth_failed', { userId: id, reason: 'password' })
        throw new InvalidCredentials()
      }
      let factor: SecondFactor | null = null
      if (account.mfa !== null) {
        if (request.body.code === undefined) throw new MfaCodeRequired()
        factor = (await proveSecondFactor(request, reply, account, request.body.code, 'reauth')).factor
      }
      await app.accountLock.reset(username)
      const { session } = request
      const oldHandle = sessionHandle(session)
      session.authenticatedAt = Date.now()
      recordProof(session, factor)
      // A new ID with every proof of credentials (ASVS 7.2.4): whoever held the old one is out. Deleted, then unlisted.
      await session.regenerate(storedFieldNames(session))
      await app.sessionIndex.remove(id, oldHandle)
      await confirmLoginStillValid(request, account)
      const fresh = request.session
      app.recordEvent(request.log, 'reauth', { userId: id, authMethod: authMethod(fresh) })
      return {
        authenticatedAt: new Date(authenticatedAt(fresh)).toISOString(),
        authMethod: authMethod(fresh),
        freshUntil: new Date(app.freshUntil(fresh)).toISOString(),
        ...(request.bearer ? bearerToken(request) : {}),
      }
    },
  )
}

export default secondFactorRoutes
