import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Database } from '../../platform/database/connection.js'
import { EmailRequired, InvalidCredentials, LoginInterrupted, PendingLoginNotFound, RegistrationClosed, TokenNotAllowed } from '../../errors.js'
import { authMethod, sessionHandle, type Proof } from '../../sessions/index.js'
import { DEFAULT_ROLES } from '../../accounts/index.js'
import { LoggedIn, Login, LoginResponse, LogoutBody, type LoginTransport } from '../../schemas/auth.js'
import { errorResponses, NoContent } from '../../schemas/error.js'
import { LoginSecondFactor } from '../../schemas/mfa.js'
import { PUBLIC, SESSION_SECURITY } from '../../schemas/security.js'
import { Registration } from '../../schemas/recovery.js'
import { UserResponse, type User } from '../../schemas/user.js'
import type { CredentialRateLimit } from './index.js'
import { answer, ref } from '../../schemas/components.js'

export interface PublicAuthOptions {
  allowRegistration: boolean
  requireVerifiedEmail: boolean
  credentialRateLimit: CredentialRateLimit
}

/**
 * How a session begins and ends: /auth/register, /auth/login (and its second step), /auth/logout. No guard: these
 * routes are for clients without a session, and logging out without one still answers 204.
 */
const publicAuthRoutes: FastifyPluginAsyncTypebox<PublicAuthOptions> = async (app, options) => {
  const credentialLimit = { rateLimit: options.credentialRateLimit }

  /** What a login answers: the user, for transport "token" the bearer token, for "jwt" the token pair. */
  async function loggedIn(request: FastifyRequest, user: User, transport: LoginTransport) {
    if (transport === 'cookie') return { user }
    if (transport === 'token') return { user, ...app.sessionLifecycle.bearerToken(request) }
    const { session } = request
    const { id, username, roles } = user
    const createdAt = session.createdAt ?? Date.now()
    const pair = await app.jwtSessions.issue({ handle: sessionHandle(session), user: { id, username, roles }, createdAt, authMethod: authMethod(session) })
    return { user, ...pair }
  }

  /**
   * A login whose credentials are all proved: its session, the device cookie, the notice to the account's address when
   * the browser is new to it, and the answer.
   */
  async function signIn(request: FastifyRequest, reply: FastifyReply, login: Proof & { remember: boolean; transport: LoginTransport }) {
    const { account, transport } = login
    const newDevice = app.isNewDevice(request, account.user.username, transport)
    await app.sessionLifecycle.start(request, { ...login, newDevice })
    if (newDevice) app.securityEvents.noticeNewDevice(request, account)
    await app.loginCompleted(request, reply, account.user)
    return loggedIn(request, account.user, transport)
  }

  /** Before anything else: a client that cannot get the cookie must not cost a session, a lock count or a hash. */
  function assertCanLogIn(request: FastifyRequest): void {
    app.sessionCookie.assertDeliverable(request)
    // A login replaces the session it came with: never an access token, which only its owner ends.
    if (request.session.token || request.accessToken !== null) throw new TokenNotAllowed()
  }

  app.post(
    '/register',
    {
      config: credentialLimit,
      schema: {
        operationId: 'register',
        security: PUBLIC,
        summary: 'Create an account',
        tags: ['auth'],
        body: Registration,
        response: { 201: answer('The new account (not signed in: POST /auth/login)', UserResponse), ...errorResponses('REGISTRATION_CLOSED', 'EMAIL_REQUIRED', 'USERNAME_TAKEN', 'RATE_LIMITED', 'OVERLOADED') },
      },
    },
    async (request, reply) => {
      if (!options.allowRegistration) throw new RegistrationClosed()
      const { email } = request.body
      if (email === undefined && options.requireVerifiedEmail) throw new EmailRequired()
      // Its verification mail counts toward the address's limit, as every mail to an address does.
      if (email !== undefined) await app.limitMailAddress(request, reply, email)
      // The answer is the same whether or not another account has the address: the mail worker finds out, and tells
      // that account's owner instead (ASVS 6.3.8).
      // The account, its event and its verification mail commit together, or none of them does.
      const alongside = async (within: Database, user: User) => {
        app.recordEvent(request, 'signup', { userId: user.id })
        await app.securityEvents.writeKept(request, within)
        if (email !== undefined) await app.accountRecovery.requestVerification(user, email, within)
      }
      const user = await app.users.create({ ...request.body, roles: DEFAULT_ROLES }, alongside)
      return reply.code(201).send({ user })
    },
  )

  app.post(
    '/login',
    {
      config: credentialLimit,
      schema: {
        operationId: 'logIn',
        security: PUBLIC,
        summary: 'Log in: sets the session cookie (persistent with remember: true), or answers a bearer token with transport: "token", or a JWT access token and a refresh token with transport: "jwt"',
        tags: ['auth'],
        body: Login,
        response: { 200: answer('Signed in, or a second factor is needed (mfaRequired)', LoginResponse), ...errorResponses('INSECURE_TRANSPORT', 'TOKEN_NOT_ALLOWED', 'INVALID_CREDENTIALS', 'ACCOUNT_LOCKED', 'ACCOUNT_DISABLED', 'EMAIL_NOT_VERIFIED', 'LOGIN_INTERRUPTED', 'OVERLOADED') },
      },
    },
    async (request, reply) => {
      assertCanLogIn(request)
      const { username, password, remember = false, transport = 'cookie' } = request.body
      const claimant = app.claimantOf(request)
      const account = await app.credentials.provePassword(claimant, username, password)
      if (!account) {
        app.recordEvent(request, 'login_failed', { username })
        throw new InvalidCredentials()
      }
      app.credentials.assertMayLogIn(claimant, account)
      if (account.mfa === null) return signIn(request, reply, { account, secondFactor: null, remember, transport })
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
      app.recordEvent(request, 'mfa_challenge', { userId: user.id, transport })
      const expiresAt = new Date(pending.expiresAt).toISOString()
      if (transport !== 'cookie') return { mfaRequired: true as const, mfaToken: pending.id, expiresAt }
      app.pendingLoginCookie.set(reply, pending.id, pending.expiresAt)
      return { mfaRequired: true as const, expiresAt }
    },
  )

  app.post(
    '/login/mfa',
    {
      config: credentialLimit,
      schema: {
        operationId: 'completeLogin',
        security: PUBLIC,
        summary: 'Complete a login that answered mfaRequired: a TOTP code or a recovery code; only now is the session created',
        tags: ['auth'],
        body: LoginSecondFactor,
        response: { 200: answer('Signed in', ref(LoggedIn)), ...errorResponses('INSECURE_TRANSPORT', 'TOKEN_NOT_ALLOWED', 'MFA_LOGIN_EXPIRED', 'LOGIN_INTERRUPTED', 'INVALID_MFA_CODE', 'ACCOUNT_LOCKED') },
      },
    },
    async (request, reply) => {
      assertCanLogIn(request)
      const id = request.body.mfaToken ?? app.pendingLoginCookie.idOf(request)
      const pending = id === null ? null : await app.pendingLogins.find(id)
      if (id === null || pending === null) {
        app.pendingLoginCookie.clear(request, reply)
        throw new PendingLoginNotFound()
      }
      const account = await app.users.accountOf({ id: pending.userId })
      if (account === null || account.loginEpoch !== pending.loginEpoch) {
        await app.pendingLogins.claim(id)
        app.pendingLoginCookie.clear(request, reply)
        throw new LoginInterrupted()
      }
      const { factor, recoveryCodesLeft } = await app.credentials.proveSecondFactor(app.claimantOf(request), account, request.body.code, 'login', {
        onFailure: () => app.pendingLogins.recordFailure(id),
        // Of two requests completing one login (two right codes at once), only the one that ends it goes on.
        onPass: async () => {
          if (!(await app.pendingLogins.claim(id))) throw new PendingLoginNotFound()
        },
      })
      app.pendingLoginCookie.clear(request, reply)
      const { remember, transport } = pending
      const answer = await signIn(request, reply, { account, secondFactor: factor, remember, transport })
      return recoveryCodesLeft === null ? answer : { ...answer, recoveryCodesLeft }
    },
  )

  app.post(
    '/logout',
    {
      schema: {
        operationId: 'logOut',
        summary: 'Log out; everywhere: true (from a fresh session) ends every session of mine. The cookie is cleared',
        tags: ['auth'],
        // The cookie is optional: logging out without a session still answers 204.
        security: [...SESSION_SECURITY, {}],
        body: LogoutBody,
        response: { 204: NoContent, ...errorResponses('TOKEN_NOT_ALLOWED', 'REAUTH_REQUIRED') },
      },
    },
    async (request, reply) => {
      const { user } = request.session
      // Logging out is what a login does; a personal access token ends by DELETE /auth/tokens/:id.
      if (request.session.token) throw new TokenNotAllowed()
      if (user) {
        const handle = sessionHandle(request.session)
        const everywhere = request.body?.everywhere === true
        // Ending every session is a sensitive action too: a stolen, stale cookie must not lock the owner out everywhere.
        if (everywhere) app.assertFresh(request)
        const others = everywhere ? await app.sessionLifecycle.endAll(user, { keep: handle }) : 0
        await app.sessionLifecycle.end(request)
        const event = everywhere ? 'logout_everywhere' : 'logout'
        app.recordEvent(request, event, { userId: user.id, session: handle, sessions: 1 + others }, 1 + others)
      }
      app.sessionCookie.clear(reply)
      return reply.code(204).send()
    },
  )
}

export default publicAuthRoutes
