import { randomBytes } from 'node:crypto'
import { InvalidRefreshToken } from '../errors.js'
import type { EventOrigin } from '../platform/metrics.js'
import { pastAbsoluteLimit, slidExpiry, type SessionTimeouts } from '../lib/session-timeouts.js'
import type { AuthMethod } from '../schemas/mfa.js'
import type { SessionUser } from '../sessions/index.js'
import type { AccessTokenClaims, AccessTokenIssuer } from './access-tokens.js'

/** What a login with `transport: "jwt"`, and every refresh, answers. */
export interface TokenPair {
  accessToken: string
  refreshToken: string
  tokenType: 'Bearer'
  /** Seconds until the access token expires. */
  expiresIn: number
}

/** The session a pair is issued for, as a login made it or Redis holds it. */
export interface FamilySession {
  handle: string
  user: SessionUser
  createdAt: number
  authMethod: AuthMethod
}

/** What RFC 7662 introspection answers: `active`, and for an active token who and what it is. */
export type Introspection = { active: false } | ({ active: true; token_type: 'access_token' | 'refresh_token' } & Partial<AccessTokenClaims> & { username: string })

/** What this service needs of the sessions concern: plain data in and out, no request. */
export interface SessionsForTokens {
  /** Makes the session a refresh family: its first refresh token, or null when the session is gone. */
  beginFamily(handle: string): Promise<string | null>
  findFamily(token: string): Promise<{ handle: string; session: Record<string, unknown>; expiresAt: number; current: boolean } | null>
  successor(token: string): string
  rotate(token: string, next: { refreshToken: string; answer: TokenPair }, reuseWindowMs: number): Promise<
    { outcome: 'rotated' | 'retried'; answer: TokenPair } | { outcome: 'reused' } | { outcome: 'unknown' }
  >
  /** Ends a session of the user (the family with it); false when it was gone. */
  end(userId: string, handle: string): Promise<boolean>
  /** Slides the session's idle expiry. */
  touch(userId: string, handle: string, ttlMs: number, seenAt: number): Promise<void>
  exists(handle: string): Promise<boolean>
}

export interface JwtSessionsOptions {
  issuer: AccessTokenIssuer
  sessions: SessionsForTokens
  timeouts: SessionTimeouts
  accessTokenTtlSeconds: number
  reuseWindowMs: number
  recordEvent(origin: EventOrigin, event: 'tokens_refreshed' | 'refresh_token_reused' | 'logout', fields: Record<string, unknown>): void
}

export interface JwtSessions {
  /** The first pair of a session a login just made with `transport: "jwt"`. */
  issue(session: FamilySession): Promise<TokenPair>
  /** Rotates a refresh token (see sessions/refresh-families.ts); throws INVALID_REFRESH_TOKEN. */
  refresh(refreshToken: string, origin: EventOrigin): Promise<TokenPair>
  /** Ends the session of a refresh token or an access token (RFC 7009): whether one ended. */
  revoke(token: string, origin: EventOrigin): Promise<boolean>
  /** What RFC 7662 answers for a token: active only while its session lives. */
  introspect(token: string): Promise<Introspection>
}

const isUser = (value: unknown): value is SessionUser => typeof value === 'object' && value !== null && 'id' in value && 'roles' in value

/** The session a stored family holds, or null when it is not one a pair can be issued for. */
function familySession(handle: string, stored: Record<string, unknown>): FamilySession | null {
  const { user, createdAt, authMethod = 'password' } = stored
  if (!isUser(user) || typeof createdAt !== 'number') return null
  return { handle, user, createdAt, authMethod: authMethod as AuthMethod }
}

/**
 * JWT sessions: a login's session seen by other services through short-lived signed access tokens, and kept going by
 * rotating refresh tokens. The session stays the one source of truth: every token names it, every refresh needs it
 * live, and every way it ends (sessions/service.ts) ends its tokens: at once on this service's routes and for
 * refreshes, and for services that verify tokens offline when the access token expires (accessTokenTtlSeconds).
 */
export function jwtSessions(options: JwtSessionsOptions): JwtSessions {
  const { issuer, sessions, timeouts, accessTokenTtlSeconds, reuseWindowMs } = options

  async function pairFor(session: FamilySession, refreshToken: string): Promise<TokenPair> {
    const issuedAt = Math.floor(Date.now() / 1000)
    const { user, handle, createdAt, authMethod } = session
    const subject = { userId: user.id, username: user.username, roles: user.roles, sessionHandle: handle, authTime: createdAt, authMethod }
    const accessToken = await issuer.sign(subject, { issuedAt, jti: randomBytes(16).toString('base64url') })
    return { accessToken, refreshToken, tokenType: 'Bearer', expiresIn: accessTokenTtlSeconds }
  }

  /** The live family a refresh token names, within its session's absolute limit (ended, and null, past it). */
  async function liveFamily(token: string): Promise<{ session: FamilySession; expiresAt: number; current: boolean } | null> {
    const found = await sessions.findFamily(token)
    const session = found && familySession(found.handle, found.session)
    if (!found || !session) return null
    if (pastAbsoluteLimit(timeouts, found.session, Date.now())) {
      await sessions.end(session.user.id, session.handle)
      return null
    }
    return { session, expiresAt: found.expiresAt, current: found.current }
  }

  return {
    async issue(session) {
      const refreshToken = await sessions.beginFamily(session.handle)
      if (refreshToken === null) throw new InvalidRefreshToken()
      return pairFor(session, refreshToken)
    },

    async refresh(token, origin) {
      const family = await liveFamily(token)
      if (family === null) throw new InvalidRefreshToken()
      const { session, expiresAt } = family
      const next = await pairFor(session, sessions.successor(token))
      const rotation = await sessions.rotate(token, { refreshToken: next.refreshToken, answer: next }, reuseWindowMs)
      const { id: userId } = session.user
      if (rotation.outcome === 'reused') {
        // A spent token again, after its retry window: two holders, one of them a thief. Neither keeps the session.
        await sessions.end(userId, session.handle)
        options.recordEvent(origin, 'refresh_token_reused', { userId, session: session.handle, by: 'system' })
        throw new InvalidRefreshToken()
      }
      if (rotation.outcome === 'unknown') throw new InvalidRefreshToken()
      if (rotation.outcome === 'rotated') {
        // A refresh is use: it slides the session's idle expiry, as a request with its cookie would.
        const now = Date.now()
        const slid = slidExpiry(timeouts, family.session, expiresAt, now)
        if (slid !== null) await sessions.touch(userId, session.handle, slid - now, now)
        options.recordEvent(origin, 'tokens_refreshed', { userId, session: session.handle })
      }
      return rotation.answer
    },

    async revoke(token, origin) {
      const claims = await issuer.verify(token)
      const family = claims === null ? await liveFamily(token) : null
      const userId = claims?.sub ?? family?.session.user.id
      const handle = claims?.sid ?? family?.session.handle
      if (userId === undefined || handle === undefined || !(await sessions.end(userId, handle))) return false
      options.recordEvent(origin, 'logout', { userId, session: handle, by: 'token revocation' })
      return true
    },

    async introspect(token) {
      const claims = await issuer.verify(token)
      if (claims !== null) {
        if (!(await sessions.exists(claims.sid))) return { active: false }
        return { ...claims, active: true, token_type: 'access_token', username: claims.preferred_username }
      }
      const family = await liveFamily(token)
      if (family === null || !family.current) return { active: false }
      const { session, expiresAt } = family
      return {
        active: true,
        token_type: 'refresh_token',
        sub: session.user.id,
        username: session.user.username,
        sid: session.handle,
        exp: Math.floor(expiresAt / 1000),
        auth_time: Math.floor(session.createdAt / 1000),
      }
    },
  }
}
