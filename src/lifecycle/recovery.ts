import fp from 'fastify-plugin'
import type { Claimant } from '../credentials/ceremonies.js'
import type { MailConfig } from '../config.js'
import { INTENT_QUEUE, queueConnection, retryOptions, startWorkers, type Workers } from '../platform/job-queue/queue.js'
import type { Database } from '../platform/database/connection.js'
import type { AccountTokenPurpose } from '../platform/database/schema.js'
import { EmailTaken, InvalidAccountToken, MfaCodeRequired } from '../errors.js'
import { accountTokenRecords, newToken, type TokenHolder } from '../accounts/mail-tokens.js'
import { userRecords } from '../accounts/records.js'
import type { Ended } from './account-lifecycle.js'
import type { Account, UserRef } from '../accounts/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    accountRecovery: AccountRecovery
  }
}

/** What a request asks the mail worker to look into: the lookups happen there, off the request path. */
type Intent =
  | { kind: 'verify'; userId: string; email: string }
  | { kind: 'resend'; email: string; username?: string | undefined }
  | { kind: 'reset'; email: string }

export interface PasswordReset {
  token: string
  newPassword: string
  code?: string | undefined
}

/**
 * Email verification and password reset. The public requests (forgot, resend) only queue an intent, one INSERT
 * whatever the address, so that their answer and its timing say nothing about which addresses have accounts (ASVS
 * 6.3.8); a worker looks the address up and mails a link, or nothing. A reset proves the mailed token and, with
 * two-factor login on, a code (ASVS 6.4.3); it then sets the password (raising the login epoch), spends the token and
 * every other reset link, and queues the notice, in one transaction; then ends every session, pending login and
 * access token of the user (ASVS 7.4.3), and logs no one in.
 */
export interface AccountRecovery {
  /** Queues the verification of `email` for the user; `within` a transaction, only if that commits. */
  requestVerification(user: UserRef, email: string, within?: Database): Promise<void>
  /**
   * A new link for the newest accounts holding `email` unverified (RESEND_HOLDERS at most), or for the one named
   * `username` alone, if it holds it: the way to one's own link when others gave the address too.
   */
  requestResend(email: string, username?: string): Promise<void>
  /** A reset link, if an active account has `email` verified. */
  requestReset(email: string): Promise<void>
  /**
   * A new address: verified only once its owner follows the link; a verified one in place stays until then, and gets
   * a notice. Every change (back to the verified address too) ends every link mailed for an earlier one.
   */
  changeEmail(user: UserRef, email: string): Promise<void>
  /** Takes back a change of address not yet verified: every link mailed for it ends (an unverified address goes). */
  cancelEmailChange(user: UserRef): Promise<void>
  /** Spends a verification token. Throws InvalidAccountToken, or EmailTaken when another account verified it first. */
  verify(token: string): Promise<TokenHolder>
  /** Throws InvalidAccountToken, MfaCodeRequired, or the second factor's errors; logs no one in. */
  resetPassword(claimant: Claimant, reset: PasswordReset): Promise<{ user: UserRef; ended: Ended }>
}

/** Addresses are compared in any letter case (they are kept as typed). */
export const sameAddress = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()

/** The address an account waits to see verified: a pending change, or its unverified address; null for none. */
const awaitedAddress = ({ email, pendingEmail }: Account) => pendingEmail ?? (email && !email.verified ? email.address : null)

/** Accounts whose unverified address one resend reaches: a bound on the mails one request can cause. */
export const RESEND_HOLDERS = 3

export default fp<{ mail: MailConfig }>(
  async function accountRecoveryPlugin(app, { mail: config }) {
    const records = userRecords(app.db)
    const retry = retryOptions(config)

    let workers: Workers | null = null
    async function queue(intent: Intent, within?: Database): Promise<void> {
      await app.jobs.send(INTENT_QUEUE, intent, { ...retry, db: queueConnection(within ?? app.db) })
      if (!within) workers?.wake()
    }

    /**
     * Mails `email` a new link for `purpose`, the token and the mail in one transaction. `othersHoldIt`: other accounts
     * gave the same address, and the mail says what to do when the account it names is not the reader's.
     */
    async function mailLink({ id, username }: UserRef, email: string, purpose: AccountTokenPurpose, othersHoldIt = false): Promise<void> {
      const token = newToken()
      await app.db.transaction().execute(async (trx) => {
        const tokens = accountTokenRecords(trx)
        const holder = { userId: id, email }
        // A new verification link ends the older ones; reset links live side by side until one is used.
        await (purpose === 'verify_email' ? tokens.replace(token, holder, purpose) : tokens.issue(token, holder, purpose))
        const sealedToken = app.mail.sealToken(token)
        await app.mail.enqueue(
          purpose === 'verify_email' ? { template: 'verify-email', to: email, username, sealedToken, othersHoldIt } : { template: 'password-reset', to: email, username, sealedToken },
          trx,
        )
      })
      app.mail.wake()
    }

    /**
     * A link for the address the account waits for, if it is still `email` (a change taken back or replaced since
     * mails nothing); a notice instead when another account has the address verified.
     */
    async function mailVerification(account: Account, email: string, othersHoldIt = false): Promise<void> {
      const awaited = awaitedAddress(account)
      if (awaited === null || !sameAddress(awaited, email)) return
      const holder = await records.findByVerifiedEmail(awaited)
      if (holder !== null && holder.user.id !== account.user.id) return app.mail.enqueue({ template: 'address-in-use', to: awaited })
      await mailLink(account.user, awaited, 'verify_email', othersHoldIt)
    }

    /** Links for the newest holders of the address, or for the named one; each mail counts toward the address's limit. */
    async function mailResend({ email, username }: Extract<Intent, { kind: 'resend' }>): Promise<void> {
      if (username !== undefined) {
        const account = await records.findByName(username)
        if (account !== null) await mailVerification(account, email)
        return
      }
      const holders = await records.findByUnverifiedEmail(email, RESEND_HOLDERS + 1)
      for (const [i, account] of holders.slice(0, RESEND_HOLDERS).entries()) {
        // The request counted its first mail; every further one counts too, and none goes beyond the limit.
        if (i > 0 && !(await app.takeMailAllowance(email))) return
        await mailVerification(account, email, holders.length > 1)
      }
    }

    async function mailReset(email: string): Promise<void> {
      const account = await records.findByVerifiedEmail(email)
      // A disabled account has nothing to recover: its login would be refused. The link goes to the address as
      // stored, never as typed in the request.
      if (account?.email && account.disabled === null) await mailLink(account.user, account.email.address, 'reset_password')
    }

    async function handle(intent: Intent): Promise<void> {
      switch (intent.kind) {
        case 'verify': {
          const account = await records.findById(intent.userId)
          if (account !== null) await mailVerification(account, intent.email)
          return
        }
        case 'resend':
          return mailResend(intent)
        case 'reset':
          return mailReset(intent.email)
      }
    }

    if (config.worker) {
      const intentWorkers = startWorkers<Intent>(app.jobs, INTENT_QUEUE, (job) => handle(job.data), { onQueueError: app.jobQueueFailed })
      app.addHook('onClose', () => intentWorkers.stop())
      workers = intentWorkers
    }

    app.decorate('accountRecovery', {
      async requestVerification({ id }, email, within) {
        await queue({ kind: 'verify', userId: id, email }, within)
      },
      async requestResend(email, username) {
        await queue({ kind: 'resend', email, ...(username !== undefined && { username }) })
      },
      async requestReset(email) {
        await queue({ kind: 'reset', email })
      },

      async changeEmail(user, email) {
        await app.db.transaction().execute(async (trx) => {
          // The row first (its lock keeps a concurrent link from being issued between the two), then every link mailed
          // for an earlier change: only the address asked for last can be verified.
          const change = await userRecords(trx).changeEmail(user.id, email)
          await accountTokenRecords(trx).endAll(user.id, 'verify_email')
          if (change === null || change.toVerify === null) return
          if (change.verified !== null) {
            await app.mail.enqueue({ template: 'email-change-requested', to: change.verified, username: user.username, newEmail: change.toVerify }, trx)
          }
          await queue({ kind: 'verify', userId: user.id, email: change.toVerify }, trx)
        })
        await app.accountSnapshots.refresh(user.id)
        workers?.wake()
        app.mail.wake()
      },

      async cancelEmailChange(user) {
        await app.db.transaction().execute(async (trx) => {
          await userRecords(trx).cancelEmailChange(user.id)
          await accountTokenRecords(trx).endAll(user.id, 'verify_email')
        })
        await app.accountSnapshots.refresh(user.id)
      },

      async verify(token) {
        const holder = await app.db.transaction().execute(async (trx) => {
          const tokens = accountTokenRecords(trx)
          const holder = await tokens.spend(token, 'verify_email')
          if (holder === null) throw new InvalidAccountToken()
          // Links mailed to the account's former address end with it.
          await tokens.endAll(holder.userId, 'verify_email')
          await tokens.endAll(holder.userId, 'reset_password')
          // Last: a second verification of the address at once makes it fail, and the whole transaction with it.
          const outcome = await userRecords(trx).verifyEmail(holder.userId, holder.email)
          if (outcome === 'gone') throw new InvalidAccountToken()
          if (outcome === 'taken') throw new EmailTaken()
          return holder
        })
        await app.accountSnapshots.refresh(holder.userId)
        return holder
      },

      async resetPassword(claimant, { token, newPassword, code }) {
        const tokens = accountTokenRecords(app.db)
        const holder = await tokens.find(token, 'reset_password')
        const account = holder && (await records.findById(holder.userId))
        if (!holder || !account) throw new InvalidAccountToken()
        if (account.mfa !== null) {
          if (code === undefined) throw new MfaCodeRequired()
          await app.credentials.proveSecondFactor(claimant, account, code, 'password_reset', { onFailure: () => tokens.countFailedTry(token) })
        }
        const passwordHash = await app.users.hashPassword(newPassword)
        const { user } = account
        await app.db.transaction().execute(async (trx) => {
          const spending = accountTokenRecords(trx)
          // Of requests racing with one token, one spends it; the others change nothing.
          if ((await spending.spend(token, 'reset_password')) === null) throw new InvalidAccountToken()
          // A disabled (or deleted) account gets no new password: a disable must not be undone by a reset link.
          if ((await userRecords(trx).setPassword(user.id, passwordHash, null)) === null) throw new InvalidAccountToken()
          await spending.endAll(user.id, 'reset_password')
          // The notice goes to the address as stored.
          const to = account.email?.verified ? account.email.address : holder.email
          await app.mail.enqueue({ template: 'password-changed', to, username: user.username }, trx)
        })
        app.mail.wake()
        return { user, ended: await app.accountLifecycle.endEverything(user) }
      },
    } satisfies AccountRecovery)
  },
  { name: 'account-recovery', dependencies: ['job-queue', 'mail', 'credentials', 'account-lifecycle', 'credential-rate-limit', 'account-snapshots'] },
)
