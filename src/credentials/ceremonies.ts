import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { AccountDisabled, AccountLocked, EmailNotVerified, InvalidMfaCode } from '../errors.js'
import { sessionHandle } from '../sessions/fastify-store.js'
import type { SecondFactor } from '../schemas/mfa.js'
import type { Account, UserRef } from '../accounts/users.js'

declare module 'fastify' {
  interface FastifyInstance {
    credentials: CredentialChecks
  }
}

export type SecondFactorStep = 'login' | 'reauth' | 'disable' | 'recovery_codes' | 'delete_account' | 'password_reset'

export interface SecondFactorHooks {
  /** After a wrong code, with the lock count. */
  onFailure?: () => Promise<void>
  /** After a right code, before its effects: throwing here stops them (a login that another request completed). */
  onPass?: () => Promise<void>
}

/** What the routes that prove credentials share: login, its second step, re-authentication, two-factor changes. */
export interface CredentialChecks {
  /**
   * Checks the password of the account named `username` as one attempt admitted by the account lock (see
   * credentials/lock.ts): the account when the password matches (and the account is `userId`'s, when given), else null,
   * counted toward the lock. 429 ACCOUNT_LOCKED with Retry-After, and no check, while the name is locked or its
   * allowance of attempts is in flight; the same for every name, existing or not, so that a lock reveals nothing.
   */
  provePassword(request: FastifyRequest, reply: FastifyReply, username: string, password: string, userId?: string): Promise<Account | null>
  /**
   * A login (or re-authentication) completed: the failure count it was judged by starts again, and the client is
   * remembered as a known device of the account (credentials/device-cookies.ts).
   */
  loginCompleted(request: FastifyRequest, reply: FastifyReply, user: UserRef): Promise<void>
  /**
   * 403 ACCOUNT_DISABLED for a disabled account; with REQUIRE_VERIFIED_EMAIL, 403 EMAIL_NOT_VERIFIED for an account
   * without a verified address (admins excepted: operators make them). Asked only once the password was right, so
   * that the answer tells nothing to whoever does not know it.
   */
  assertMayLogIn(request: FastifyRequest, account: Account): void
  /**
   * Checks a second-factor code of the account (TOTP or recovery code), spending it, as one admitted attempt like
   * provePassword: 429 ACCOUNT_LOCKED without a check; a wrong, replayed or unknown code counts toward the lock and answers 401
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

export default fp<{ requireVerifiedEmail: boolean }>(
  async function credentialsPlugin(app, { requireVerifiedEmail }) {
    const attempterOf = (request: FastifyRequest, username: string) => ({ username, device: app.deviceCookies.deviceOf(request, username) })

    /**
     * Runs `judge` as one attempt the account lock admitted (counted with the client's device when it is a known one),
     * and settles it with its outcome.
     */
    async function admitted<T>(
      request: FastifyRequest,
      reply: FastifyReply,
      username: string,
      judge: (startBy: number) => Promise<T>,
      failed: (outcome: T) => boolean,
    ): Promise<T> {
      const attempter = attempterOf(request, username)
      const admission = await app.accountLock.admit(attempter)
      if ('retryAfterMs' in admission) {
        app.recordEvent(request.log, 'login_locked', { username, knownDevice: attempter.device !== null })
        reply.header('retry-after', Math.ceil(admission.retryAfterMs / 1000))
        throw new AccountLocked()
      }
      let outcome: T
      try {
        outcome = await judge(admission.startBy)
      } catch (error) {
        // Not judged (a store failed): the attempt stops counting as in flight, and counts as nothing else.
        await app.accountLock.settle(attempter, admission.attempt, false).catch(() => {})
        throw error
      }
      await app.accountLock.settle(attempter, admission.attempt, failed(outcome))
      return outcome
    }

    app.decorate('credentials', {
      provePassword(request, reply, username, password, userId) {
        const matches = (account: Account | null) => account !== null && (userId === undefined || account.user.id === userId)
        return admitted(request, reply, username, async (startBy) => {
          const account = await app.users.authenticate(username, password, startBy)
          return matches(account) ? account : null
        }, (account) => account === null)
      },

      async loginCompleted(request, reply, user) {
        await Promise.all([app.accountLock.reset(attempterOf(request, user.username)), app.users.recordLogin(user)])
        app.deviceCookies.remember(request, reply, user.username)
      },

      assertMayLogIn(request, { user, disabled, email }) {
        if (disabled !== null) {
          app.recordEvent(request.log, 'login_disabled', { userId: user.id })
          throw new AccountDisabled()
        }
        if (requireVerifiedEmail && !email?.verified && !user.roles.includes('admin')) {
          app.recordEvent(request.log, 'login_failed', { userId: user.id, reason: 'email not verified' })
          throw new EmailNotVerified()
        }
      },

      async proveSecondFactor(request, reply, account, code, step, hooks = {}) {
        const { user } = account
        const check = await admitted(request, reply, user.username, () => app.mfa.verify(account, code), (outcome) => !outcome.passed)
        if (!check.passed) {
          await hooks.onFailure?.()
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
  { name: 'credentials', dependencies: ['account-lock', 'device-cookies', 'users', 'mfa', 'sessions', 'metrics'] },
)
