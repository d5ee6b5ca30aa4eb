import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest, Session } from 'fastify'
import { Forbidden, InsufficientScope, ReauthRequired, SessionExpired, TokenNotAllowed, Unauthenticated } from '../errors.js'
import { sessionKeyId } from '../lib/keys.js'
import type { AuthMethod } from '../schemas/mfa.js'
import type { TokenScope } from '../schemas/tokens.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler that lets a request through only with a live, logged-in session (or an access token allowed here). */
    requireSession: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    /** preHandler that also requires every one of `roles`, and a login session: 403 FORBIDDEN otherwise. */
    authorize: (...roles: string[]) => (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    /**
     * preHandler, after requireSession or authorize: the session's user must have proved a credential (logged in or
     * re-authenticated) within `maxAgeSeconds` (default REAUTH_MAX_AGE_SECONDS), else 403 REAUTH_REQUIRED.
     */
    requireFresh: (maxAgeSeconds?: number) => (request: FastifyRequest) => Promise<void>
    /** The check requireFresh makes, for a handler that needs it only in some cases. */
    assertFresh(request: FastifyRequest, maxAgeSeconds?: number): void
    /** Until when (epoch milliseconds) a session counts as fresh by default. */
    freshUntil(session: Session): number
  }
  interface FastifyContextConfig {
    /** false: personal access tokens are refused here (403 TOKEN_NOT_ALLOWED); the route needs a login session. */
    accessTokens?: false
  }
}

/** Route config of the routes that change credentials or sessions: they take a login, never an access token. */
export const LOGIN_ONLY = { accessTokens: false } as const

/** For a route plugin: every route registered after the call needs a logged-in user, and a login rather than a token. */
export function requireLoginOnEveryRoute(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, ...LOGIN_ONLY }
  })
  app.addHook('preHandler', app.requireSession)
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

/** Refuses a personal access token where the route wants a login, or where it lacks the scope. */
function checkAccessToken(request: FastifyRequest): void {
  const { token } = request.session
  if (token === undefined) return
  if (request.routeOptions.config.accessTokens === false) throw new TokenNotAllowed()
  const needed = scopeFor(request.method)
  if (!token.scopes.includes(needed)) throw new InsufficientScope(needed)
}

export default fp<AuthGuardOptions>(
  async function authGuardPlugin(app, { freshnessSeconds }) {
    app.decorate('requireSession', async function requireSession(request: FastifyRequest, reply: FastifyReply) {
      if (request.session.user) {
        checkAccessToken(request)
        return app.limitCredential(request, reply)
      }
      // A validly signed cookie whose session is gone: tell the client why (the session plugin drops the cookie).
      const goneSessionId = app.sessionCookie.signedId(request)
      if (goneSessionId !== null) {
        app.recordEvent(request.log, 'session_expired', { session: sessionKeyId(goneSessionId), reason: 'gone' })
        throw new SessionExpired()
      }
      throw new Unauthenticated()
    })

    app.decorate('authorize', (...roles: string[]) => {
      return async function authorize(request: FastifyRequest, reply: FastifyReply) {
        await app.requireSession(request, reply)
        // Acting with a role (an admin's) takes a login: a leaked token must not carry it.
        if (request.session.token) throw new TokenNotAllowed()
        const granted = request.session.user?.roles ?? []
        if (!roles.every((role) => granted.includes(role))) throw new Forbidden()
      }
    })

    function assertFresh(request: FastifyRequest, maxAgeSeconds = freshnessSeconds): void {
      // An access token proves nothing by itself: it is never fresh (the routes that ask refuse tokens anyway).
      if (request.session.token || Date.now() - authenticatedAt(request.session) > maxAgeSeconds * 1000) throw new ReauthRequired(String(maxAgeSeconds))
    }
    app.decorate('assertFresh', assertFresh)
    app.decorate('requireFresh', (maxAgeSeconds = freshnessSeconds) => async (request: FastifyRequest) => assertFresh(request, maxAgeSeconds))
    app.decorate('freshUntil', (session: Session) => authenticatedAt(session) + freshnessSeconds * 1000)
  },
  { name: 'auth-guard', dependencies: ['session', 'credential-rate-limit'] },
)
