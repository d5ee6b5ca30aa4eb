import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest, Session } from 'fastify'
import { Forbidden, InsufficientScope, ReauthRequired, SessionExpired, TokenNotAllowed, Unauthenticated } from '../../errors.js'
import { handleOf } from '../../lib/keys.js'
import type { AuthMethod } from '../../schemas/mfa.js'
import type { TokenScope } from '../../schemas/tokens.js'
import type { SessionUser } from '../external/session.js'
import type { Account } from './users.js'

type Guard = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

declare module 'fastify' {
  interface FastifyInstance {
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

/**
 * When the session's user last proved a credential, and with what. Stored only when they differ from the defaults (the
 * login's time, the password alone), so that a session holds, and every read decodes, as little as it can.
 */
export function authenticatedAt(session: Session): number {
  return session.authenticatedAt ?? session.createdAt ?? 0
}
export function authMethod(session: Session): AuthMethod {
  return session.authMethod ?? 'password'
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

    function guard(tokens: 'accepted' | 'refused'): Guard {
      return async function requireSession(request, reply) {
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
      }
    }
    const requireLogin = guard('refused')
    app.decorate('requireSession', guard('accepted'))
    app.decorate('requireLogin', requireLogin)

    app.decorate('authorize', (...roles: string[]): Guard => {
      return async function authorize(request, reply) {
        await requireLogin(request, reply)
        if (!roles.every((role) => request.user.roles.includes(role))) throw new Forbidden()
      }
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
