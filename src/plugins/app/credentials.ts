import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { AccountLocked, InvalidMfaCode } from '../../errors.js'
import { sessionHandle } from '../../lib/session-store.js'
import type { SecondFactor } from '../../schemas/mfa.js'
import type { Account } from './users.js'

declare module 'fastify' {
  interface FastifyInstance {
    credentials: CredentialChecks
  }
}

export type SecondFactorStep = 'login' | 'reauth' | 'disable' | 'recovery_codes'

export interface SecondFactorHooks {
  /** After a wrong code, with the lock count. */
  onFailure?: () => Promise<void>
  /** After a right code, before its effects: throwing here stops them (a login that another request completed). */
  onPass?: () => Promise<void>
}

/** What the routes that prove credentials share: login, its second step, re-authentication, two-factor changes. */
export interface CredentialChecks {
  /**
   * 429 ACCOUNT_LOCKED with Retry-After while the account name is locked. Checked before any credential, and the same
   * for every account name, so that a lock reveals nothing either.
   */
  refuseLockedAccount(request: FastifyRequest, reply: FastifyReply, username: string): Promise<void>
  /**
   * Checks a second-factor code of the account (TOTP or recovery code), spending it. A locked account answers 429
   * ACCOUNT_LOCKED without a check; a wrong, replayed or unknown code counts toward the lock and answers 401
   * INVALID_MFA_CODE. A recovery code is what a user whose authenticator is lost (or stolen) has: using one ends every
   * other session of the user (ASVS 7.4.3).
   */
  proveSecondFactor(
    request: FastifyRequest,
    reply: FastifyReply,
    account: Account,
    code: string,
    step: SecondFactorStep,
    hooks?: SecondFactorHooks,
  ): Promise<{ factor: SecondFactor; recoveryCodesLeft: number | null }>
}

export default fp(
  async function credentialsPlugin(app) {
    async function refuseLockedAccount(request: FastifyRequest, reply: FastifyReply, username: string): Promise<void> {
      const lockedFor = await app.accountLock.lockedFor(username)
      if (lockedFor === 0) return
      app.recordEvent(request.log, 'login_locked', { username })
      reply.header('retry-after', Math.ceil(lockedFor / 1000))
      throw new AccountLocked()
    }

    app.decorate('credentials', {
      refuseLockedAccount,
      async proveSecondFactor(request, reply, account, code, step, hooks = {}) {
        const { user } = account
        await refuseLockedAccount(request, reply, user.username)
        const check = await app.mfa.verify(account, code)
        if (!check.passed) {
          await Promise.all([app.accountLock.recordFailure(user.username), hooks.onFailure?.()])
          app.recordEvent(request.log, 'mfa_failed', { userId: user.id, reason: check.reason, step })
          throw new InvalidMfaCode()
        }
        await hooks.onPass?.()
        if (check.factor === 'recovery_code') {
          // The request's own session, when it is the user's (re-authentication, two-factor changes), stays; a login
          // spending the code has none yet. That request is itself a login in flight: it must not void itself.
          const keep = request.session?.user?.id === user.id ? sessionHandle(request.session) : undefined
          const ended = await app.sessions.endAll(user, { keep, keepLoginsInFlight: true })
          app.recordEvent(request.log, 'recovery_code_used', { userId: user.id, step, recoveryCodesLeft: check.recoveryCodesLeft, revokedSessions: ended }, ended)
        }
        return check
      },
    } satisfies CredentialChecks)
  },
  { name: 'credentials', dependencies: ['account-lock', 'mfa', 'sessions', 'metrics'] },
)
