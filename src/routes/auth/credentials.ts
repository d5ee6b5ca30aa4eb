import type { FastifyReply, FastifyRequest, Session } from 'fastify'
import { AccountLocked, InvalidMfaCode, LoginInterrupted } from '../../errors.js'
import { sessionKeyId } from '../../lib/keys.js'
import { sessionHandle } from '../../lib/session-store.js'
import { authMethod } from '../../plugins/auth-guard.js'
import type { Account } from '../../plugins/users.js'
import type { LoginTransport } from '../../schemas/auth.js'
import { authMethodOf, type SecondFactor } from '../../schemas/mfa.js'

// What the routes that prove credentials share: login, its second step, re-authentication, two-factor changes.

const USER_AGENT_MAX_LENGTH = 256

/** The client's User-Agent as sessions and tokens keep it (shown in their lists), at most 256 characters. */
export function userAgentOf(request: FastifyRequest): string {
  return (request.headers['user-agent'] ?? '').slice(0, USER_AGENT_MAX_LENGTH)
}

/** Records in the session with what its user proved their credentials: stored only when more than the password. */
export function recordProof(session: Session, secondFactor: SecondFactor | null): void {
  if (secondFactor === null) delete session.authMethod
  else session.authMethod = authMethodOf(secondFactor)
}

/**
 * 429 ACCOUNT_LOCKED with Retry-After while the account name is locked. Checked before any credential, and the same
 * for every account name, so that a lock reveals nothing either.
 */
export async function refuseLockedAccount(request: FastifyRequest, reply: FastifyReply, username: string): Promise<void> {
  const lockedFor = await request.server.accountLock.lockedFor(username)
  if (lockedFor === 0) return
  request.server.recordEvent(request.log, 'login_locked', { username })
  reply.header('retry-after', Math.ceil(lockedFor / 1000))
  throw new AccountLocked()
}

/** The session of this request as a bearer token: its signed ID (the value a cookie would carry) and its end. */
export function bearerToken({ session, server }: FastifyRequest) {
  return { token: session.encryptedSessionId, expiresAt: new Date(server.sessionEndsAt(session)).toISOString() }
}

export interface LoginProof {
  /** As read when the password was checked. */
  account: Account
  secondFactor: SecondFactor | null
  remember: boolean
  transport: LoginTransport
}

/**
 * Creates the session of a login whose credentials are all proved, and answers as POST /auth/login does: the user,
 * and for transport "token" the bearer token.
 *
 * The session is written before the answer, then the user's login epoch is read again: a password change, a second
 * factor turned on or a logout everywhere while this login was checking the credentials either finds this session
 * listed (and ends it) or is seen here, and this session is ended before anyone gets it (see user-records.ts).
 */
export async function startSession(request: FastifyRequest, { account, secondFactor, remember, transport }: LoginProof) {
  const app = request.server
  const { user } = account
  // A new session ID at login, never one planted before (session fixation): a request without a live session
  // already has a fresh ID (@fastify/session makes one for an unknown cookie); a live session is replaced.
  if (request.session.user) await request.session.regenerate()
  const { session } = request
  const now = Date.now()
  session.user = { id: user.id, username: user.username, roles: user.roles }
  // The login's time is when the credentials were proved (authenticatedAt stays unset until a re-authentication).
  session.createdAt = now
  recordProof(session, secondFactor)
  session.ip = request.ip
  session.userAgent = userAgentOf(request)
  session.remember = remember
  const handle = sessionKeyId(session.sessionId)
  const ended = await app.sessionIndex.makeRoom(user.id)
  if (ended > 0) app.recordEvent(request.log, 'revoke', { userId: user.id, sessions: ended, reason: 'too many sessions' }, ended)
  await session.save()
  await confirmLoginStillValid(request, account)
  // Lifecycle events name the session by the hash it is stored under, never by its ID.
  app.recordEvent(request.log, 'login', { userId: user.id, session: handle, remember, transport, authMethod: authMethod(session) })
  if (transport === 'cookie') return { user }
  request.bearer = true
  return { user, ...bearerToken(request) }
}

/**
 * Called once the request's session is written with a new proof of `account`'s credentials: when the user's login
 * epoch moved since `account` was read (a password change, two-factor login turned on or off, every session ended),
 * the session is ended and the request answers 401 LOGIN_INTERRUPTED. Whichever came first, no session proved before
 * such a change outlives it: the change ends every listed session, and a session listed after it sees the new epoch
 * here.
 */
export async function confirmLoginStillValid(request: FastifyRequest, account: Account): Promise<void> {
  const app = request.server
  const { user } = account
  if (!(await app.users.loginEpochMovedSince(user.username, account.loginEpoch))) return
  const handle = sessionKeyId(request.session.sessionId)
  // Deleted, then unlisted (see session-index.ts).
  await request.session.destroy()
  await app.sessionIndex.remove(user.id, handle)
  app.recordEvent(request.log, 'login_failed', { username: user.username, reason: 'interrupted by a credential change or the end of every session' })
  throw new LoginInterrupted()
}

export type SecondFactorStep = 'login' | 'reauth' | 'disable' | 'recovery_codes'

export interface SecondFactorHooks {
  /** After a wrong code, with the lock count. */
  onFailure?: () => Promise<void>
  /** After a right code, before its effects: throwing here stops them (a login that another request completed). */
  onPass?: () => Promise<void>
}

/**
 * Checks a second-factor code of the account (TOTP or recovery code), spending it. A locked account answers 429
 * ACCOUNT_LOCKED without a check; a wrong, replayed or unknown code counts toward the lock and answers 401
 * INVALID_MFA_CODE. A recovery code is what a user whose authenticator is lost (or stolen) has: using one ends every
 * other session of the user (ASVS 7.4.3).
 */
export async function proveSecondFactor(
  request: FastifyRequest,
  reply: FastifyReply,
  account: Account,
  code: string,
  step: SecondFactorStep,
  hooks: SecondFactorHooks = {},
): Promise<{ factor: SecondFactor; recoveryCodesLeft: number | null }> {
  const app = request.server
  const userId = account.user.id
  await refuseLockedAccount(request, reply, account.user.username)
  const check = await app.mfa.verify(account, code)
  if (!check.passed) {
    await Promise.all([app.accountLock.recordFailure(account.user.username), hooks.onFailure?.()])
    app.recordEvent(request.log, 'mfa_failed', { userId, reason: check.reason, step })
    throw new InvalidMfaCode()
  }
  await hooks.onPass?.()
  if (check.factor === 'recovery_code') {
    const current = request.session?.user?.id === userId ? sessionHandle(request.session) : undefined
    const ended = await app.sessionIndex.revokeAll(userId, current)
    app.recordEvent(request.log, 'recovery_code_used', { userId, step, recoveryCodesLeft: check.recoveryCodesLeft, revokedSessions: ended }, ended)
  }
  return check
}
