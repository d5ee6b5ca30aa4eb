import fp from 'fastify-plugin'
import type { EventOrigin } from '../platform/metrics.js'
import { AccountDisabled, AccountLockedFor, EmailNotVerified, InvalidCredentials, InvalidMfaCode, MfaCodeRequired } from '../errors.js'
import type { Proof } from '../sessions/index.js'
import type { SecondFactor } from '../schemas/mfa.js'
import type { Account, UserRef } from '../accounts/index.js'

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

/**
 * Who is proving a credential, as plain data (the HTTP binding, http.ts, takes it from the request): the account and
 * device the client's device cookie vouches for, the client's own session (kept when a recovery code ends the others)
 * and where its events go (an event origin: the request's logger and trail).
 */
export interface Claimant extends EventOrigin {
  knownDevice: { username: string; device: string } | null
  session: { userId: string; handle: string } | null
}

/** The device id a device cookie vouches for at `username` (any letter case), or null: it names one account only. */
export function deviceAt(knownDevice: Claimant['knownDevice'], username: string): string | null {
  return knownDevice !== null && knownDevice.username === username.toLowerCase() ? knownDevice.device : null
}

/** The proof ceremonies: login, its second step, re-authentication, two-factor changes, account deletion, a reset. */
export interface CredentialChecks {
  /**
   * Checks the password of the account named `username` as one attempt admitted by the account lock (see
   * credentials/lock.ts): the account when the password matches (and the account is `userId`'s, when given), else null,
   * counted toward the lock. 429 ACCOUNT_LOCKED with Retry-After, and no check, while the name is locked or its
   * allowance of attempts is in flight; the same for every name, existing or not, so that a lock reveals nothing.
   */
  provePassword(claimant: Claimant, username: string, password: string, userId?: string): Promise<Account | null>
  /**
   * The password, then the code when two-factor login is on (401 MFA_CODE_REQUIRED without one): the one ceremony of
   * re-authentication and of every change that asks for both. 401 INVALID_CREDENTIALS after `onWrongPassword`.
   */
  proveAccount(
    claimant: Claimant,
    user: UserRef,
    credentials: { password: string; code?: string | undefined },
    step: SecondFactorStep,
    onWrongPassword?: () => void,
  ): Promise<Proof>
  /**
   * A login (or re-authentication) completed: the failure count it was judged by starts again. The binding then
   * remembers the client as a known device of the account (http.ts).
   */
  loginCompleted(claimant: Claimant, user: UserRef): Promise<void>
  /**
   * 403 ACCOUNT_DISABLED for a disabled account; with REQUIRE_VERIFIED_EMAIL, 403 EMAIL_NOT_VERIFIED for an account
   * without a verified address (admins excepted: operators make them). Asked only once the password was right, so
   * that the answer tells nothing to whoever does not know it.
   */
  assertMayLogIn(claimant: Claimant, account: Account): void
  /**
   * Checks a second-factor code of the account (TOTP or recovery code), spending it, as one admitted attempt like
   * provePassword: 429 ACCOUNT_LOCKED without a check; a wrong, replayed or unknown code counts toward the lock and answers 401
   * INVALID_MFA_CODE. A recovery code is what a user whose authenticator is lost (or stolen) has: using one ends every
   * other session of the user (ASVS 7.4.3).
   */
  proveSecondFactor(
    claimant: Claimant,
    account: Account,
    code: string,
    step: SecondFactorStep,
    hooks?: SecondFactorHooks,
  ): Promise<{ factor: SecondFactor; recoveryCodesLeft: number | null }>
}

export default fp<{ requireVerifiedEmail: boolean }>(
  async function credentialsPlugin(app, { requireVerifiedEmail }) {
    /** The attempter the lock counts: the name, with the client's device when the cookie vouches for it at that name. */
    const attempterOf = ({ knownDevice }: Claimant, username: string) => ({ username, device: deviceAt(knownDevice, username) })

    /**
     * Runs `judge` as one attempt the account lock admitted (counted with the client's device when it is a known one),
     * and settles it with its outcome.
     */
    async function admitted<T>(
      claimant: Claimant,
      username: string,
      judge: (startBy: number) => Promise<T>,
      failed: (outcome: T) => boolean,
    ): Promise<T> {
      const attempter = attempterOf(claimant, username)
      const admission = await app.accountLock.admit(attempter)
      if ('retryAfterMs' in admission) {
        app.recordEvent(claimant, 'login_locked', { username, knownDevice: attempter.device !== null })
        throw new AccountLockedFor(Math.ceil(admission.retryAfterMs / 1000))
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

    const checks: CredentialChecks = {
      provePassword(claimant, username, password, userId) {
        const matches = (account: Account | null) => account !== null && (userId === undefined || account.user.id === userId)
        return admitted(claimant, username, async (startBy) => {
          const account = await app.users.authenticate(username, password, startBy)
          return matches(account) ? account : null
        }, (account) => account === null)
      },

      async proveAccount(claimant, user, { password, code }, step, onWrongPassword) {
        const account = await checks.provePassword(claimant, user.username, password, user.id)
        if (account === null) {
          onWrongPassword?.()
          throw new InvalidCredentials()
        }
        if (account.mfa === null) return { account, secondFactor: null }
        if (code === undefined) throw new MfaCodeRequired()
        return { account, secondFactor: (await checks.proveSecondFactor(claimant, account, code, step)).factor }
      },

      async loginCompleted(claimant, user) {
        await app.accountLock.reset(attempterOf(claimant, user.username))
      },

      assertMayLogIn(claimant, { user, disabled, email }) {
        if (disabled !== null) {
          app.recordEvent(claimant, 'login_disabled', { userId: user.id })
          throw new AccountDisabled()
        }
        if (requireVerifiedEmail && !email?.verified && !user.roles.includes('admin')) {
          app.recordEvent(claimant, 'login_failed', { userId: user.id, reason: 'email not verified' })
          throw new EmailNotVerified()
        }
      },

      async proveSecondFactor(claimant, account, code, step, hooks = {}) {
        const { user } = account
        const check = await admitted(claimant, user.username, () => app.mfa.verify(account, code), (outcome) => !outcome.passed)
        if (!check.passed) {
          await hooks.onFailure?.()
          app.recordEvent(claimant, 'mfa_failed', { userId: user.id, reason: check.reason, step })
          throw new InvalidMfaCode()
        }
        await hooks.onPass?.()
        if (check.factor === 'recovery_code') {
          // The claimant's own session, when it is the user's (re-authentication, two-factor changes), stays; a login
          // spending the code has none yet. That request is itself a login in flight: it must not void itself.
          const keep = claimant.session?.userId === user.id ? claimant.session.handle : undefined
          const ended = await app.sessionLifecycle.endAll(user, { keep, keepLoginsInFlight: true })
          app.recordEvent(claimant, 'recovery_code_used', { userId: user.id, step, recoveryCodesLeft: check.recoveryCodesLeft, revokedSessions: ended }, ended)
        }
        return check
      },
    }
    app.decorate('credentials', checks)
  },
  { name: 'credentials', dependencies: ['account-lock', 'users', 'mfa', 'sessions', 'metrics'] },
)
