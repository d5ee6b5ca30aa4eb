import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { InvalidCredentials, SessionExpired } from '../../errors.js'
import { sessionHandle, authenticatedAt, authMethod } from '../../sessions/index.js'
import { AccountDeletion } from '../../schemas/accounts.js'
import { NewTokenResponse, PasswordChange } from '../../schemas/auth.js'
import { errorResponses, NoContent } from '../../schemas/error.js'
import { Reauthentication, ReauthResponse } from '../../schemas/mfa.js'
import { SESSION_SECURITY } from '../../schemas/security.js'
import type { CredentialRateLimit } from './index.js'
import { answer } from '../../schemas/components.js'

/**
 * What takes my password: PUT /auth/password and POST /auth/reauth, which give the session a new ID (hence a new
 * cookie: refused before anything changes if it cannot be delivered), and DELETE /auth/account (GDPR Art. 17). All
 * take a login, never an access token, and count toward the account lock and the per-address login limit.
 */
const credentialRoutes: FastifyPluginAsyncTypebox<{ credentialRateLimit: CredentialRateLimit }> = async (app, options) => {
  app.guardRoutes(app.requireLogin)

  app.put(
    '/password',
    {
      // Guessing the current password is guessing a password: the login's limit per address applies.
      config: { rateLimit: options.credentialRateLimit },
      preHandler: app.requireFresh(),
      schema: {
        operationId: 'changePassword',
        summary: 'Change my password (fresh session): this session gets a new ID (a bearer client gets its new token), every other one ends',
        tags: ['auth'],
        security: SESSION_SECURITY,
        body: PasswordChange,
        response: { 200: answer("Changed; a bearer session's new token (the old one is ended)", NewTokenResponse), 204: NoContent, ...errorResponses('INSECURE_TRANSPORT', 'INVALID_CREDENTIALS', 'ACCOUNT_LOCKED', 'OVERLOADED') },
      },
    },
    async (request, reply) => {
      app.sessionCookie.assertDeliverable(request)
      const { user } = request
      const account = await app.credentials.provePassword(app.claimantOf(request), user.username, request.body.currentPassword, user.id)
      if (account === null) {
        app.recordEvent(request, 'password_change_failed', { userId: user.id })
        throw new InvalidCredentials()
      }
      // Conditional on the account as the password was proved: a disable, a demotion or a reset since wins (and ended
      // this session), so nothing changes and the answer is the one a request after it gets.
      const loginEpoch = await app.users.changePassword(account, request.body.newPassword)
      if (loginEpoch === null) throw new SessionExpired()
      // The change raised the epoch already (logins in flight are void): only the sessions are left to end.
      const revoked = await app.sessionLifecycle.endAll(user, { keep: sessionHandle(request.session), keepLoginsInFlight: true })
      // A new ID for this session too: whoever knew the old one is out. It lives only while the epoch stays ours.
      await app.sessionLifecycle.rotate(request, { loginEpoch })
      app.recordEvent(request, 'password_change', { userId: user.id, revokedSessions: revoked }, revoked)
      // A cookie client gets its new cookie with the answer; a bearer client has no other way to learn its token.
      return request.bearer ? app.sessionLifecycle.bearerToken(request) : reply.code(204).send()
    },
  )

  app.post(
    '/reauth',
    {
      config: { rateLimit: options.credentialRateLimit },
      schema: {
        operationId: 'reauthenticate',
        summary: 'Prove my credentials again (password, and code when two-factor login is on): the session is fresh again and gets a new ID',
        tags: ['auth'],
        security: SESSION_SECURITY,
        body: Reauthentication,
        response: { 200: answer('The session is fresh: when, how, and until when', ReauthResponse), ...errorResponses('INSECURE_TRANSPORT', 'INVALID_CREDENTIALS', 'ACCOUNT_LOCKED', 'MFA_CODE_REQUIRED', 'INVALID_MFA_CODE', 'LOGIN_INTERRUPTED', 'OVERLOADED') },
      },
    },
    async (request, reply) => {
      app.sessionCookie.assertDeliverable(request)
      const { id } = request.user
      const wrongPassword = () => app.recordEvent(request, 'reauth_failed', { userId: id, reason: 'password' })
      const { account, secondFactor } = await app.credentials.proveAccount(app.claimantOf(request), request.user, request.body, 'reauth', wrongPassword)
      await app.loginCompleted(request, reply, account.user)
      // A new ID with every proof of credentials (ASVS 7.2.4): whoever held the old one is out.
      await app.sessionLifecycle.rotate(request, { loginEpoch: account.loginEpoch, reauthenticated: { secondFactor } })
      const fresh = request.session
      app.recordEvent(request, 'reauth', { userId: id, authMethod: authMethod(fresh) })
      return {
        authenticatedAt: new Date(authenticatedAt(fresh)).toISOString(),
        authMethod: authMethod(fresh),
        freshUntil: new Date(app.freshUntil(fresh)).toISOString(),
        ...(request.bearer ? app.sessionLifecycle.bearerToken(request) : {}),
      }
    },
  )

  app.delete(
    '/account',
    {
      config: { rateLimit: options.credentialRateLimit },
      preHandler: app.requireFresh(),
      schema: {
        operationId: 'deleteMyAccount',
        summary: 'Delete my account and everything stored for me (fresh session, my password, and my code when two-factor login is on): every session and token ends, the cookie is cleared',
        tags: ['auth'],
        security: SESSION_SECURITY,
        body: AccountDeletion,
        response: { 204: NoContent, ...errorResponses('INVALID_CREDENTIALS', 'ACCOUNT_LOCKED', 'MFA_CODE_REQUIRED', 'INVALID_MFA_CODE', 'LAST_ADMIN', 'OVERLOADED') },
      },
    },
    async (request, reply) => {
      const { id } = request.user
      const { account } = await app.credentials.proveAccount(app.claimantOf(request), request.user, request.body, 'delete_account')
      const ended = await app.accountLifecycle.remove(account.user)
      await app.sessionLifecycle.end(request)
      app.sessionCookie.clear(reply)
      app.recordEvent(request, 'account_deleted', { userId: id, by: id, ...ended }, ended.sessions)
      return reply.code(204).send()
    },
  )
}

export default credentialRoutes
