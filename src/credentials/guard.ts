import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest, Session } from 'fastify'
import { Forbidden, InsufficientScope, ReauthRequired, SessionExpired, TokenNotAllowed, Unauthenticated } from '../errors.js'
import { handleOf } from '../lib/keys.js'
import { declareErrors } from '../schemas/error.js'
import type { TokenScope } from '../schemas/tokens.js'
import type { SessionUser } from '../sessions/http.js'
import { authenticatedAt } from '../sessions/proof.js'
import type { Account } from '../accounts/index.js'

/** A preHandler that lets only some requests through, with the error codes it answers the others. */
type Guard = ((request: FastifyRequest, reply: FastifyReply) => Promise<void>) & { errors: readonly string[] }

declare module 'fastify' {
  interface FastifyInstance {
    /** Puts `guard` in front of every route this instance (a route folder) registers, and documents its errors there. */
    guardRoutes(guard: Guard): void
    /** Guard: a live, logged-in session, or a personal access token with the scope the method needs. */
    requireSession: Guard
    /** Guard: a login session (cookie or bearer); a personal access token gets 403 TOKEN_NOT_ALLOWED. */
    requireLogin: Guard
    /** Guard: a login session whose user has every one of `roles`, else 403 FORBIDDEN. */
    authorize: (...roles: string[]) => Guard
    /**
     * preHandler, after a guard: the session's user must have proved a credential (logged in or re-authenticated)
     * within `maxAgeSeconds` (default REAUTH_MAX_AGE_SECONDS), else 403 REAUTH_REQUIRED.
     */
    requireFresh: (maxAgeSeconds?: number) => (request: FastifyRequest) => Promise<void>
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

export interface AuthGuardOptions {
  /** How long after a proof of credentials a session may take sensitive actions (REAUTH_MAX_AGE_SECONDS). */
  freshnessSeconds: number
}

/** The scope an access token needs for a request: reading for GET and HEAD, writing for anything else. */
export function scopeFor(method: string): TokenScope {
  return READ_METHODS.has(method) ? 'read' : 'write'
}

/**
 * The guards a route folder puts in front of all its routes (one `preHandler` hook in its index.ts), and the checks a
 * single route adds (freshness). A guard sets `request.user`, so handlers never reach into the session for it.
 */
export default fp<AuthGuardOptions>(
  async function authGuardPlugin(app, { freshnessSeconds }) {
    app.decorateRequest('user')

    // The credential's own rate limit (limitCredential) answers RATE_LIMITED.
    const sessionErrors = ['UNAUTHENTICATED', 'SESSION_EXPIRED', 'RATE_LIMITED']

    function guard(tokens: 'accepted' | 'refused'): Guard {
      const errors = [...sessionErrors, tokens === 'refused' ? 'TOKEN_NOT_ALLOWED' : 'INSUFFICIENT_SCOPE']
      return Object.assign(async function requireSession(request: FastifyRequest, reply: FastifyReply) {
        const { user, token } = request.session
        if (user) {
          if (token !== undefined) {
            // Changing credentials or sessions, or acting with a role, takes a login: a leaked token must not do it.
            if (tokens === 'refused') throw new TokenNotAllowed()
            const needed = scopeFor(request.method)
            if (!token.scopes.includes(needed)) throw new InsufficientScope(needed)
          }
          request.user = user
          return app.limitCredential(request, reply)
        }
        // A validly signed cookie whose session is gone: tell the client why (the session plugin drops the cookie).
        const goneSessionId = app.sessionCookie.signedId(request)
        if (goneSessionId !== null) {
          app.recordEvent(request.log, 'session_expired', { session: handleOf(goneSessionId), reason: 'gone' })
          throw new SessionExpired()
        }
        throw new Unauthenticated()
      }, { errors })
    }
    const requireLogin = guard('refused')
    app.decorate('requireSession', guard('accepted'))
    app.decorate('requireLogin', requireLogin)

    app.decorate('authorize', (...roles: string[]): Guard => {
      const authorize = async (request: FastifyRequest, reply: FastifyReply) => {
        await requireLogin(request, reply)
        if (!roles.every((role) => request.user.roles.includes(role))) throw new Forbidden()
      }
      return Object.assign(authorize, { errors: [...requireLogin.errors, 'FORBIDDEN'] })
    })

    app.decorate('guardRoutes', function guardRoutes(this: FastifyInstance, guard: Guard) {
      this.addHook('onRoute', (route) => declareErrors(route, guard.errors))
      this.addHook('preHandler', guard)
    })

    function assertFresh(request: FastifyRequest, maxAgeSeconds = freshnessSeconds): void {
      // An access token proves nothing by itself: it is never fresh (the routes that ask refuse tokens anyway).
      if (request.session.token || Date.now() - authenticatedAt(request.session) > maxAgeSeconds * 1000) throw new ReauthRequired(String(maxAgeSeconds))
    }
    app.decorate('assertFresh', assertFresh)
    app.decorate('requireFresh', (maxAgeSeconds = freshnessSeconds) => async (request: FastifyRequest) => assertFresh(request, maxAgeSeconds))
    app.decorate('freshUntil', (session: Session) => authenticatedAt(session) + freshnessSeconds * 1000)

    app.decorate('currentAccount', async (request: FastifyRequest) => {
      const account = await app.users.accountOf(request.user)
      if (account === null) throw new SessionExpired()
      return account
    })
  },
  { name: 'auth-guard', dependencies: ['session', 'credential-rate-limit', 'users'] },
)
