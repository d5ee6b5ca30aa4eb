import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest, Session } from 'fastify'
import { Forbidden, InsufficientScope, InvalidAccessToken, ReauthRequired, SessionExpired, TokenNotAllowed, Unauthenticated } from '../errors.js'
import { declareErrors } from '../schemas/error.js'
import type { TokenScope } from '../schemas/tokens.js'
import type { SessionUser } from '../sessions/http.js'
import { authenticatedAt } from '../sessions/proof.js'
import { handleOfSessionId } from '../sessions/index.js'
import type { Account } from '../accounts/index.js'

/** A preHandler that lets only some requests through, with the error codes it answers the others. */
export type Guard = ((request: FastifyRequest, reply: FastifyReply) => Promise<void>) & { errors: readonly string[] }

declare module 'fastify' {
  interface FastifyInstance {
    /** Puts `guard` in front of every route this instance (a route folder) registers, and documents its errors there. */
    guardRoutes(guard: Guard): void
    /** Guard: a live, logged-in session, or a personal access token with the scope the method needs. */
    requireUser: Guard
    /** Guard: a login session (cookie or bearer); a personal access token gets 403 TOKEN_NOT_ALLOWED. */
    requireLogin: Guard
    /** Guard: a login session whose user has every one of `roles`, else 403 FORBIDDEN. */
    requireRole: (...roles: string[]) => Guard
    /** Guard: a session, or a personal access token that carries `scope` whatever the method, else 403 INSUFFICIENT_SCOPE. */
    requireScope: (scope: TokenScope) => Guard
    /**
     * Guard: a session whose user proved a credential (logged in or re-authenticated) within `maxAgeSeconds` (default
     * REAUTH_MAX_AGE_SECONDS), else 403 REAUTH_REQUIRED; an access token is never fresh.
     */
    requireFresh: (maxAgeSeconds?: number) => Guard
    /** The check requireFresh makes, for a handler that needs it only in some cases. */
    assertFresh(request: FastifyRequest, maxAgeSeconds?: number): void
    /** Until when (epoch milliseconds) a session counts as fresh by default. */
    freshUntil(session: Session): number
    /** The account of the request's user as it is now; 401 SESSION_EXPIRED when it is gone or its name changed hands. */
    currentAccount(request: FastifyRequest): Promise<Account>
  }
  interface FastifyRequest {
    /** The logged-in user, set by the guard of the route's folder; only guarded routes read it. */
    user: SessionUser
  }
}

const READ_METHODS = new Set(['GET', 'HEAD'])
const ACCESS_TOKEN_GRANT = { name: 'JWT access token', scopes: ['read', 'write'] } satisfies Session['token']

export interface AuthGuardOptions {
  /** How long after a proof of credentials a session may take sensitive actions (REAUTH_MAX_AGE_SECONDS). */
  freshnessSeconds: number
  /** Whether routes `instance` registers load sessions: the guards work there, and are refused anywhere else. */
  loadsSessions(instance: FastifyInstance): boolean
}

/** A guard put on a route that loads no session: it could never admit anyone, and must not look as if it guarded. */
function outsideSessions(where: string): Error {
  return new Error(
    `${where} is guarded, but its routes load no session: register them through the "routes" option of sessionService (where cookies and `
    + 'sessions are loaded), not on the instance beside it.',
  )
}

/** The scope an access token needs for a request: reading for GET and HEAD, writing for anything else. */
export function scopeFor(method: string): TokenScope {
  return READ_METHODS.has(method) ? 'read' : 'write'
}

/**
 * The guards: one preHandler each, in front of a route folder (`app.guardRoutes`, one line in its index.ts) or of one
 * route (`preHandler: app.requireRole('admin')`), their error codes documented on the routes they guard either way. A
 * guard sets `request.user`, so handlers never reach into the session for it. Guards combine: each checks what it
 * names, and the credential's own rate limit counts a request once, however many guards it passes.
 */
export default fp<AuthGuardOptions>(
  async function authGuardPlugin(app, { freshnessSeconds, loadsSessions }) {
    app.decorateRequest('user')

    // The credential's own rate limit (limitCredential) answers RATE_LIMITED.
    const identityErrors = ['UNAUTHENTICATED', 'SESSION_EXPIRED', 'INVALID_ACCESS_TOKEN', 'RATE_LIMITED']

    /**
     * A guard that admits a live session's request when `check` (which throws the guard's refusal) passes. Every guarded
     * request counts against its credential's limit before it is checked, refused or not, and only once.
     */
    function guard(errors: readonly string[], check: (request: FastifyRequest, user: SessionUser, token: Session['token']) => void): Guard {
      return Object.assign(async function admit(request: FastifyRequest, reply: FastifyReply) {
        const { session } = request
        const { user } = session
        if (!user) {
          if (request.accessToken === 'refused') throw new InvalidAccessToken()
          // A validly signed cookie whose session is gone: tell the client why (the session plugin drops the cookie).
          // The session plugin, and its cookie, belong to the scope that serves the route.
          const goneSessionId = request.server.sessionCookie.signedId(request)
          if (goneSessionId !== null) {
            app.recordEvent(request, 'session_expired', { session: handleOfSessionId(goneSessionId), reason: 'gone' })
            throw new SessionExpired()
          }
          throw new Unauthenticated()
        }
        // A request an earlier guard admitted (it set request.user) has been counted.
        if (request.user === undefined) await app.limitCredential(request, reply)
        check(request, user, session.token ?? jwtGrant(request))
        request.user = user
      }, { errors: [...identityErrors, ...errors] })
    }

    /**
     * A JWT access token is refused where a personal access token is: it travels to other services, and none of them
     * may use it to change credentials or sessions here. It carries every scope of the login it came from.
     */
    const jwtGrant = (request: FastifyRequest): Session['token'] => (request.accessToken === null ? undefined : ACCESS_TOKEN_GRANT)
    const needsScope = (token: Session['token'], scope: TokenScope) => {
      if (token !== undefined && !token.scopes.includes(scope)) throw new InsufficientScope(scope)
    }
    // Changing credentials or sessions, or acting with a role, takes a login: a leaked token must not do it.
    const refuseTokens = (token: Session['token']) => {
      if (token !== undefined) throw new TokenNotAllowed()
    }
    app.decorate('requireUser', guard(['INSUFFICIENT_SCOPE'], (request, _user, token) => needsScope(token, scopeFor(request.method))))
    app.decorate('requireScope', (scope: TokenScope) => guard(['INSUFFICIENT_SCOPE'], (_request, _user, token) => needsScope(token, scope)))
    app.decorate('requireLogin', guard(['TOKEN_NOT_ALLOWED'], (_request, _user, token) => refuseTokens(token)))
    app.decorate('requireRole', (...roles: string[]) => guard(['TOKEN_NOT_ALLOWED', 'FORBIDDEN'], (_request, user, token) => {
      refuseTokens(token)
      if (!roles.every((role) => user.roles.includes(role))) throw new Forbidden()
    }))

    app.decorate('guardRoutes', function guardRoutes(this: FastifyInstance, guard: Guard) {
      if (!loadsSessions(this)) throw outsideSessions('A plugin that calls app.guardRoutes')
      this.addHook('onRoute', (route) => declareErrors(route, guard.errors))
      this.addHook('preHandler', guard)
    })
    // A guard on one route documents its codes there too; on a route that loads no session, it is refused.
    app.addHook('onRoute', function guardedRoute(route) {
      const guards = [route.preHandler ?? []].flat().filter(isGuard)
      if (guards.length > 0 && !loadsSessions(this)) throw outsideSessions(`${String(route.method)} ${route.url}`)
      for (const guard of guards) declareErrors(route, guard.errors)
    })

    function assertFresh(request: FastifyRequest, maxAgeSeconds = freshnessSeconds): void {
      // An access token proves nothing by itself: it is never fresh (the routes that ask refuse tokens anyway).
      const isToken = request.session.token !== undefined || request.accessToken !== null
      if (isToken || Date.now() - authenticatedAt(request.session) > maxAgeSeconds * 1000) throw new ReauthRequired(String(maxAgeSeconds))
    }
    app.decorate('assertFresh', assertFresh)
    app.decorate('requireFresh', (maxAgeSeconds = freshnessSeconds) => guard(['REAUTH_REQUIRED'], (request) => assertFresh(request, maxAgeSeconds)))
    app.decorate('freshUntil', (session: Session) => authenticatedAt(session) + freshnessSeconds * 1000)

    app.decorate('currentAccount', async (request: FastifyRequest) => {
      const account = await app.users.accountOf(request.user)
      if (account === null) throw new SessionExpired()
      return account
    })
  },
  // Registered beside the session scope, so that the guards exist on every instance (typed everywhere, refused where
  // no session is loaded) rather than being undefined outside it: `preHandler: undefined` would serve a route unguarded.
  { name: 'auth-guard', dependencies: ['credential-rate-limit', 'users'] },
)

function isGuard(handler: unknown): handler is Guard {
  return typeof handler === 'function' && Array.isArray((handler as Partial<Guard>).errors)
}
