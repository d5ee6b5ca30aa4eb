import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { InvalidAccountChange, InvalidQuery, MfaNotEnabled, TokenNotFound, UserNotFound } from '../../errors.js'
import { toAccountView } from '../../accounts/index.js'
import { toSessionView } from '../../sessions/index.js'
import {
  AccountChange,
  AccountChanged,
  AccountDeleted,
  AccountDetail,
  AccountsPage,
  AccountsQuery,
  DEFAULT_PAGE,
  QueryFlag,
} from '../../schemas/accounts.js'
import { RevokedResponse, SessionsResponse, UsernameParams } from '../../schemas/auth.js'
import { SESSION_SECURITY } from '../../schemas/security.js'
import { errorResponses, NoContent } from '../../schemas/error.js'
import { MfaStatus } from '../../schemas/mfa.js'
import { TokenParams, TokensResponse } from '../../schemas/tokens.js'
import { USERNAME_PATTERN } from '../../schemas/user.js'
import { answer, ref } from '../../schemas/components.js'
import adminEventRoutes from './events.js'

// The cursor is the last name of a page, lower-cased, in base64url: opaque to clients, and stable while users are added.
const toCursor = (name: string) => Buffer.from(name).toString('base64url')
function fromCursor(cursor: string): string {
  const name = Buffer.from(cursor, 'base64url').toString()
  // A cursor is only ever a name this service gave out: anything else (a NUL, which PostgreSQL refuses) is bad input.
  if (!new RegExp(USERNAME_PATTERN).test(name)) throw new InvalidQuery('cursor is not one a page answered')
  return name
}

const RevokedWithTokens = Type.Object(
  {
    revoked: Type.Integer({ minimum: 0, description: 'Sessions ended (bearer ones included)' }),
    tokens: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'Access tokens ended; null: tokens were left alone (?tokens=true ends them)' }),
  },
  { additionalProperties: false },
)
const EndSessionsQuery = Type.Object({ tokens: Type.Optional(QueryFlag) }, { additionalProperties: false })
// One closed object: an intersection of two closed ones would refuse every request (each refuses the other's field).
const UserTokenParams = Type.Object({ ...UsernameParams.properties, ...TokenParams.properties }, { additionalProperties: false })

/** Everything under /admin needs the admin role. */
const adminRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.guardRoutes(app.requireRole('admin'))
  await app.register(adminEventRoutes)

  async function accountOf(username: string) {
    const account = await app.users.findAccount(username)
    if (!account) throw new UserNotFound()
    return account
  }
  const userIdOf = async (username: string) => (await accountOf(username)).user.id

  app.get(
    '/users',
    {
      schema: {
        operationId: 'listUsers',
        summary: 'Users, sorted by name, a page at a time: search by name prefix, filter by role or state; nextCursor fetches the next page',
        tags: ['admin'],
        security: SESSION_SECURITY,
        querystring: AccountsQuery,
        response: { 200: answer('A page of accounts, and the cursor of the next (null: the last page)', AccountsPage) },
      },
    },
    async (request) => {
      const { search, role, state, limit, cursor } = request.query
      const page = await app.users.list({ search, role, state, limit: Number(limit ?? DEFAULT_PAGE), ...(cursor && { after: fromCursor(cursor) }) })
      return { users: page.accounts.map(toAccountView), nextCursor: page.next === null ? null : toCursor(page.next) }
    },
  )

  app.get(
    '/users/:username',
    {
      schema: {
        operationId: 'getUser',
        summary: 'One user: roles, state, creation, last login, two-factor login, live sessions and access tokens',
        tags: ['admin'],
        security: SESSION_SECURITY,
        params: UsernameParams,
        response: { 200: answer('The account, with how many sessions and access tokens it has', AccountDetail), ...errorResponses('USER_NOT_FOUND') },
      },
    },
    async (request) => {
      const account = await accountOf(request.params.username)
      const [sessions, tokens] = await Promise.all([app.sessionLifecycle.list(account.user.id), app.accessTokens.list(account.user.id)])
      return { ...toAccountView(account), sessions: sessions.length, tokens: tokens.length }
    },
  )

  app.patch(
    '/users/:username',
    {
      preHandler: app.requireFresh(),
      schema: {
        operationId: 'changeUser',
        summary: 'Change roles, or disable (for good, or until a time) or enable a user (fresh session). A disable or new roles end every session and access token of the user at once',
        tags: ['admin'],
        security: SESSION_SECURITY,
        params: UsernameParams,
        body: AccountChange,
        response: { 200: answer('The account as changed, and what the change ended', AccountChanged), ...errorResponses('USER_NOT_FOUND', 'LAST_ADMIN') },
      },
    },
    async (request) => {
      const { roles, disabled, reason, until } = request.body
      if (disabled !== true && (reason !== undefined || until !== undefined)) throw new InvalidAccountChange('reason and until go with disabled: true')
      // Date.parse gives NaN for what the date-time format lets through but a Date cannot hold (a leap second, :60).
      const untilMs = until === undefined ? undefined : Date.parse(until)
      if (untilMs !== undefined && Number.isNaN(untilMs)) throw new InvalidAccountChange('until is not a time this service can store (a leap second?)')
      if (untilMs !== undefined && untilMs <= Date.now()) throw new InvalidAccountChange('until must be in the future')
      const { user } = await accountOf(request.params.username)
      const by = request.user.id
      const disable = disabled === true ? { until: untilMs === undefined ? null : new Date(untilMs), reason: reason ?? null, by } : undefined
      const ended = await app.accountLifecycle.change(user, { roles, disable, enable: disabled === false || undefined })
      if (roles !== undefined) app.recordEvent(request, 'roles_changed', { userId: user.id, roles, by, ...ended }, ended.sessions)
      if (disable) {
        // What the one change ended is counted once, with its first event.
        const counts = roles === undefined ? ended : { sessions: 0, tokens: 0 }
        app.recordEvent(request, 'account_disabled', { userId: user.id, reason, until, by, ...counts }, counts.sessions)
      } else if (disabled === false) app.recordEvent(request, 'account_enabled', { userId: user.id, by })
      return { user: toAccountView((await app.users.accountOf(user)) ?? (await accountOf(user.username))), ended }
    },
  )

  app.delete(
    '/users/:username',
    {
      preHandler: app.requireFresh(),
      schema: {
        operationId: 'deleteUser',
        summary: 'Delete a user and everything stored for them, in PostgreSQL and Redis (fresh session); the name is free again',
        tags: ['admin'],
        security: SESSION_SECURITY,
        params: UsernameParams,
        response: { 200: answer('Deleted, with what it ended', AccountDeleted), ...errorResponses('USER_NOT_FOUND', 'LAST_ADMIN') },
      },
    },
    async (request) => {
      const { user } = await accountOf(request.params.username)
      const ended = await app.accountLifecycle.remove(user)
      app.recordEvent(request, 'account_deleted', { userId: user.id, by: request.user.id, ...ended }, ended.sessions)
      return { deleted: true as const, ended }
    },
  )

  app.get(
    '/users/:username/tokens',
    {
      schema: {
        operationId: 'listUserTokens',
        summary: "A user's personal access tokens (never their secrets)",
        tags: ['admin'],
        security: SESSION_SECURITY,
        params: UsernameParams,
        response: { 200: answer("The account's personal access tokens", TokensResponse), ...errorResponses('USER_NOT_FOUND') },
      },
    },
    async (request) => ({ tokens: await app.accessTokens.list(await userIdOf(request.params.username)) }),
  )

  app.delete(
    '/users/:username/tokens/:id',
    {
      // Ending another user's access, like every admin change: a stale admin cookie must not cut users off.
      preHandler: app.requireFresh(),
      schema: {
        operationId: 'revokeUserToken',
        summary: "Revoke one of a user's personal access tokens, on every instance (fresh session)",
        tags: ['admin'],
        security: SESSION_SECURITY,
        params: UserTokenParams,
        response: { 204: NoContent, ...errorResponses('USER_NOT_FOUND', 'TOKEN_NOT_FOUND') },
      },
    },
    async (request, reply) => {
      const userId = await userIdOf(request.params.username)
      if (!(await app.accessTokens.revoke(userId, request.params.id))) throw new TokenNotFound()
      app.recordEvent(request, 'token_revoked', { userId, token: request.params.id, by: request.user.id })
      return reply.code(204).send()
    },
  )

  app.get(
    '/users/:username/sessions',
    {
      schema: {
        operationId: 'listUserSessions',
        summary: "A user's live sessions",
        tags: ['admin'],
        security: SESSION_SECURITY,
        params: UsernameParams,
        response: { 200: answer("The account's live sessions, bearer ones included", SessionsResponse), ...errorResponses('USER_NOT_FOUND') },
      },
    },
    async (request) => {
      const sessions = await app.sessionLifecycle.list(await userIdOf(request.params.username))
      return { sessions: sessions.map((session) => toSessionView(session, null)) }
    },
  )

  app.delete(
    '/users/:username/sessions',
    {
      preHandler: app.requireFresh(),
      schema: {
        operationId: 'endUserSessions',
        summary: 'End every session of a user (fresh session); with ?tokens=true, every personal access token too (tokens: null says they were left alone)',
        tags: ['admin'],
        security: SESSION_SECURITY,
        params: UsernameParams,
        querystring: EndSessionsQuery,
        response: { 200: answer('How many sessions and access tokens were ended', RevokedWithTokens), ...errorResponses('USER_NOT_FOUND') },
      },
    },
    async (request) => {
      const { user } = await accountOf(request.params.username)
      const ended = request.query.tokens === 'true' ? await app.accountLifecycle.endEverything(user) : { sessions: await app.sessionLifecycle.endAll(user), tokens: null }
      app.recordEvent(request, 'revoke', { userId: user.id, sessions: ended.sessions, tokens: ended.tokens, by: request.user.id }, ended.sessions)
      return { revoked: ended.sessions, tokens: ended.tokens }
    },
  )

  app.get(
    '/users/:username/mfa',
    {
      schema: {
        operationId: 'getUserMfa',
        summary: 'Whether a user has two-factor login, since when, and how many recovery codes are left',
        tags: ['admin'],
        security: SESSION_SECURITY,
        params: UsernameParams,
        response: { 200: answer('Whether two-factor login is on for the account', ref(MfaStatus)), ...errorResponses('USER_NOT_FOUND') },
      },
    },
    async (request) => app.mfa.status(await accountOf(request.params.username)),
  )

  app.delete(
    '/users/:username/mfa',
    {
      // Taking a user's second factor away is as sensitive as changing one's own.
      preHandler: app.requireFresh(),
      schema: {
        operationId: 'resetUserMfa',
        summary: "Reset a user's two-factor login (a lost authenticator): turns it off and ends every session of the user (fresh session)",
        tags: ['admin'],
        security: SESSION_SECURITY,
        params: UsernameParams,
        response: { 200: answer('Two-factor login is off; how many sessions were ended', RevokedResponse), ...errorResponses('USER_NOT_FOUND', 'MFA_NOT_ENABLED') },
      },
    },
    async (request) => {
      const { user } = await accountOf(request.params.username)
      if (!(await app.mfa.disable(user))) throw new MfaNotEnabled()
      const revoked = await app.sessionLifecycle.endAll(user)
      app.recordEvent(request, 'mfa_reset', { userId: user.id, sessions: revoked, by: request.user.id }, revoked)
      return { revoked }
    },
  )
}

export default adminRoutes
