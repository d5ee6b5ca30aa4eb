import fp from 'fastify-plugin'
import type { FastifyRequest, Session } from 'fastify'
import { LoginInterrupted, SessionExpired } from '../errors.js'
import { sessionHandle, storedFieldNames } from './fastify-store.js'
import { keptUserAgent } from '../lib/user-agent.js'
import type { LoginTransport } from '../schemas/auth.js'
import { authMethodOf, type SecondFactor } from '../schemas/mfa.js'
import { authMethod } from './proof.js'
import type { IndexedSession } from './user-sessions.js'
import type { Account, UserRef } from '../accounts/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    sessionLifecycle: Sessions
  }
}

/** What a request proved of a user's credentials: the account as read when the password was checked, and the code. */
export interface Proof {
  account: Account
  secondFactor: SecondFactor | null
}

/** What a new ID for a live session is conditional on: see Sessions.rotate. */
export interface Rotation {
  /**
   * The user's login epoch as the request's change left it (a password change raises it) or proved it (a
   * re-authentication): the new ID lives only while the epoch still holds it (invariant 2).
   */
  loginEpoch: number
  /** A re-authentication: the session records what was proved and is fresh again. */
  reauthenticated?: { secondFactor: SecondFactor | null }
}

export interface EndAllOptions {
  /** The handle of a session to leave alone (the request's own). */
  keep?: string
  /**
   * Leave the user's login epoch alone: for the request that is itself a login in flight (a login or
   * re-authentication spending a recovery code), which would otherwise void itself, and for a change that raised the
   * epoch itself (a password change) and must keep its own session under the epoch it set.
   */
  keepLoginsInFlight?: boolean
}

export interface Sessions {
  /**
   * Creates the request's session for a login whose credentials are all proved: a new ID, room under the per-user
   * cap, then the check of invariant 2 below (401 LOGIN_INTERRUPTED).
   */
  start(request: FastifyRequest, login: Proof & { remember: boolean; transport: LoginTransport; newDevice?: boolean | undefined }): Promise<void>
  /**
   * Gives the request's session a new ID, keeping what it holds; the old ID ends. Only a session still live gets one:
   * 401 SESSION_EXPIRED when another request ended it meanwhile. Then the check of invariant 2 at
   * `rotation.loginEpoch`: 401 SESSION_EXPIRED (LOGIN_INTERRUPTED for a re-authentication) when it moved.
   */
  rotate(request: FastifyRequest, rotation: Rotation): Promise<void>
  /** Ends the request's own session (a logout). */
  end(request: FastifyRequest): Promise<void>
  /** Ends one session of the user; false when the user has no such session. */
  endOne(userId: string, handle: string): Promise<boolean>
  /** Ends every session of the user but `keep`, and first the user's logins in flight; how many sessions it ended. */
  endAll(user: UserRef, options?: EndAllOptions): Promise<number>
  /** The user's live sessions, newest first. */
  list(userId: string): Promise<IndexedSession[]>
  /**
   * Whether the request's session still exists: a credential it made (an access token) while it was being ended must
   * not outlive it. Whoever ends sessions and tokens ends the sessions first (lifecycle/account-lifecycle.ts): either that sees
   * the token, or this sees the session gone.
   */
  isLive(request: FastifyRequest): Promise<boolean>
  /** The request's session as a bearer token: its signed ID (the value a cookie would carry) and its end. */
  bearerToken(request: FastifyRequest): { token: string; expiresAt: string }
}

/** Records in the session with what its user proved their credentials: stored only when more than the password. */
function recordProof(session: Session, secondFactor: SecondFactor | null): void {
  if (secondFactor === null) delete session.authMethod
  else session.authMethod = authMethodOf(secondFactor)
}

/**
 * The one owner of the session lifecycle: every way a session starts, changes its ID or ends goes through here, in the
 * order the invariants need. Route handlers call it in one line and never touch the session index or the store.
 *
 * A session (a hash under its handle, sessions/records.ts) and its user's index (a sorted set, sessions/user-sessions.ts) are
 * different keys, on different Cluster slots, so no single step updates both. These invariants hold under any
 * concurrency, on any number of instances:
 * 1. A live session is always listed, so every way of ending sessions finds it: it is listed before it is created (the
 *    store does so on its first save), and deleted before it is unlisted, only when the delete found it.
 * 2. Ending every session of a user first raises the user's login epoch (accounts/users.ts), then ends every listed session. A
 *    login notes the epoch when it checks the password and reads it again once its session is written: either the
 *    end found the session listed, or the login sees the new epoch and ends its own session (LOGIN_INTERRUPTED). A
 *    change of what a login must prove raises the epoch in the same script as the change.
 * 3. An end is answered only once enough replicas have the deletion (REDIS_WAIT_REPLICAS, platform/redis/replication.ts), and only
 *    a login, or the rotation of a session that this very request found live and deleted, creates a session key
 *    (sessions/records.ts): no failover and no request in flight brings a session back. A rotation then checks the
 *    epoch as a login does (2): a change in flight never outlives a disable, a demotion or a reset that came first.
 */
export default fp(
  async function sessionsPlugin(app) {
    const index = app.sessionIndex

    /** Deleted (and confirmed on replicas by the store), then unlisted: invariant 1. */
    async function end(request: FastifyRequest): Promise<void> {
      const { session } = request
      const { user } = session
      const handle = sessionHandle(session)
      await session.destroy()
      if (user) await index.remove(user.id, handle)
    }

    /**
     * Invariant 2, for a session just written by a request that proved (or set) the user's login epoch: false, once
     * the session is ended again, when the epoch moved since. A login (or re-authentication) is noted on the account
     * by the same statement that checks the epoch.
     */
    async function stillValid(request: FastifyRequest, user: UserRef, loginEpoch: number, { isLogin }: { isLogin: boolean }): Promise<boolean> {
      const holds = isLogin ? await app.users.recordLogin(user, loginEpoch) : !(await app.users.loginEpochMovedSince(user, loginEpoch))
      if (holds) return true
      await end(request)
      app.recordEvent(request, 'login_failed', { username: user.username, reason: 'interrupted by a credential change or the end of every session' })
      return false
    }

    /**
     * A new ID for the request's session; the old one ends the way every session does (invariant 1). With
     * `requireLive`, the old one must still exist when this request ends it: one ended meanwhile (by the user, an
     * admin, a reset) is never brought back under a new ID.
     */
    async function regenerate(request: FastifyRequest, { keep, requireLive = false }: { keep?: string[]; requireLive?: boolean } = {}): Promise<void> {
      const { user } = request.session
      const oldHandle = sessionHandle(request.session)
      if (user && requireLive && !(await index.revoke(user.id, oldHandle))) throw new SessionExpired()
      await (keep ? request.session.regenerate(keep) : request.session.regenerate())
      if (user && !requireLive) await index.remove(user.id, oldHandle)
    }

    const sessions: Sessions = {
      async start(request, { account, secondFactor, remember, transport, newDevice }) {
        const { user } = account
        // A new session ID at login, never one planted before (session fixation): a request without a live session
        // already has a fresh ID (@fastify/session makes one for an unknown cookie); a live session is replaced.
        if (request.session.user) await regenerate(request)
        const { session } = request
        session.user = { id: user.id, username: user.username, roles: user.roles }
        // The login's time is when the credentials were proved (authenticatedAt stays unset until a re-authentication).
        session.createdAt = Date.now()
        recordProof(session, secondFactor)
        session.ip = request.ip
        session.userAgent = keptUserAgent(request.headers['user-agent'])
        // Stored only when set: every field is repeated in every session.
        if (remember) session.remember = true
        const ended = await index.makeRoom(user.id)
        if (ended > 0) app.recordEvent(request, 'revoke', { userId: user.id, sessions: ended, reason: 'too many sessions', by: 'system' }, ended)
        await session.save()
        if (!(await stillValid(request, user, account.loginEpoch, { isLogin: true }))) throw new LoginInterrupted()
        // Lifecycle events name the session by its handle, never by its ID.
        app.recordEvent(request, 'login', { userId: user.id, session: sessionHandle(session), remember, transport, authMethod: authMethod(session), newDevice })
        // A token client gets no cookie (see the session plugin's onSend).
        if (transport !== 'cookie') request.bearer = true
      },

      async rotate(request, { loginEpoch, reauthenticated }) {
        const { user } = request
        if (reauthenticated) {
          request.session.authenticatedAt = Date.now()
          recordProof(request.session, reauthenticated.secondFactor)
        }
        await regenerate(request, { keep: storedFieldNames(request.session), requireLive: true })
        const isLogin = reauthenticated !== undefined
        if (!(await stillValid(request, user, loginEpoch, { isLogin }))) throw isLogin ? new LoginInterrupted() : new SessionExpired()
      },

      end,

      endOne: (userId, handle) => index.revoke(userId, handle),

      async endAll(user, { keep, keepLoginsInFlight = false } = {}) {
        if (!keepLoginsInFlight) await app.users.voidLoginsInFlight(user)
        return index.revokeAll(user.id, keep)
      },

      list: (userId) => index.list(userId),

      isLive: (request) => index.exists(sessionHandle(request.session)),

      bearerToken({ session }) {
        return { token: session.encryptedSessionId, expiresAt: new Date(app.sessionEndsAt(session)).toISOString() }
      },
    }
    app.decorate('sessionLifecycle', sessions)
  },
  { name: 'sessions', dependencies: ['session', 'session-index', 'users', 'metrics'] },
)
