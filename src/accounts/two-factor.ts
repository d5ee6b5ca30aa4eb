import fp from 'fastify-plugin'
import { MfaAlreadyEnabled } from '../errors.js'
import type { Database } from '../platform/database/connection.js'
import { newRecoveryCodes, normalizeRecoveryCode, recoveryCodeHash, recoveryCodeHashes } from '../lib/recovery-codes.js'
import { secretBox } from '../lib/secret-box.js'
import { matchingStep, newTotpSecret, otpauthUri, qrCodeDataUrl, TOTP_CODE } from '../lib/totp.js'
import type { Account } from './account.js'
import { userRecords } from './records.js'
import { snapshotOf, type AccountSnapshots } from './snapshots.js'
import type { MfaStatus, SecondFactor, TotpEnrolment } from '../schemas/mfa.js'
import type { User } from '../schemas/user.js'

declare module 'fastify' {
  interface FastifyInstance {
    mfa: Mfa
  }
}

/** A code that passed (and is now spent), or why it did not. */
export type FactorCheck =
  | { passed: true; factor: SecondFactor; recoveryCodesLeft: number | null }
  /** unreadable: the stored secret opens under no configured SESSION_SECRET (one was dropped too soon). */
  | { passed: false; reason: 'wrong' | 'replayed' | 'off' | 'unreadable' }

export interface Mfa {
  /** Checks a TOTP code or a recovery code of the account; a code that passes cannot pass again. */
  verify(account: Account, code: string): Promise<FactorCheck>
  /** A new secret for the user to add to an authenticator app, and the same sealed for keeping; nothing is stored. */
  newEnrolment(username: string): Promise<{ enrolment: TotpEnrolment; sealedSecret: string }>
  /**
   * Turns TOTP on with the sealed secret if `code` is its current code: the recovery codes (shown once), or null for
   * a wrong code. Throws MfaAlreadyEnabled.
   */
  enable(user: User, sealedSecret: string, code: string): Promise<string[] | null>
  /** Turns it off; false when it was off already. */
  disable(user: User): Promise<boolean>
  /** New recovery codes in place of the old ones; null when MFA was turned off meanwhile. */
  replaceRecoveryCodes(account: Account): Promise<string[] | null>
  status(account: Account): MfaStatus
}

export interface MfaOptions {
  /** SESSION_SECRET: the TOTP secrets are sealed under a key derived from them. */
  secrets: string[]
  /** The name authenticator apps show for the service. */
  issuer: string
}

/**
 * TOTP (RFC 6238) and recovery codes, kept on the account (see accounts/records.ts for what is atomic). The secret
 * never leaves the server after enrolment and is stored sealed (secret-box.ts); recovery codes only as hashes.
 */
export function createMfa(db: Database, snapshots: AccountSnapshots, { secrets, issuer }: MfaOptions): Mfa {
  const records = userRecords(db)
  /** `changed`, once the snapshot shows it: a change is answered only then. */
  const refreshed = async <T>(userId: string, changed: T): Promise<T> => {
    await snapshots.refresh(userId)
    return changed
  }
  const box = secretBox(secrets, 'totp secrets')

  return {
    async verify({ user, mfa }, code) {
      if (mfa === null) return { passed: false, reason: 'off' }
      if (TOTP_CODE.test(code)) {
        const opened = box.open(mfa.secret)
        if (opened === null) return { passed: false, reason: 'unreadable' }
        const step = matchingStep(opened.plaintext, code, Date.now())
        if (step === null) return { passed: false, reason: 'wrong' }
        // Sealed under a SESSION_SECRET being rotated out: sealed again under the current one as the step is taken.
        const resealed = opened.sealedWithCurrentKey ? null : box.seal(opened.plaintext)
        const accepted = await records.useTotpStep(user.id, mfa.secret, step, resealed)
        return accepted ? { passed: true, factor: 'totp', recoveryCodesLeft: null } : { passed: false, reason: 'replayed' }
      }
      const normalized = normalizeRecoveryCode(code)
      const left = normalized === null ? null : await records.useRecoveryCode(user.id, recoveryCodeHash(normalized))
      if (left === null) return { passed: false, reason: 'wrong' }
      return refreshed(user.id, { passed: true, factor: 'recovery_code', recoveryCodesLeft: left })
    },

    async newEnrolment(username) {
      const secret = newTotpSecret()
      const uri = otpauthUri(secret, issuer, username)
      return { enrolment: { secret, uri, qrCode: await qrCodeDataUrl(uri) }, sealedSecret: box.seal(secret) }
    },

    async enable(user, sealedSecret, code) {
      const secret = box.open(sealedSecret)?.plaintext
      const step = secret === undefined ? null : matchingStep(secret, code, Date.now())
      if (step === null) return null
      const codes = newRecoveryCodes()
      // The confirming code's step counts as used: it cannot log in a second time.
      if (!(await records.enableTotp(user.id, box.seal(secret!), step, recoveryCodeHashes(codes)))) throw new MfaAlreadyEnabled()
      return refreshed(user.id, codes)
    },

    async disable(user) {
      return refreshed(user.id, await records.disableTotp(user.id))
    },

    async replaceRecoveryCodes({ user, mfa }) {
      if (mfa === null) return null
      const codes = newRecoveryCodes()
      return (await records.replaceRecoveryCodes(user.id, mfa.secret, recoveryCodeHashes(codes))) ? refreshed(user.id, codes) : null
    },

    status: (account) => snapshotOf(account).mfa,
  }
}

export default fp<MfaOptions>(
  async function mfaPlugin(app, options) {
    app.decorate('mfa', createMfa(app.db, app.accountSnapshots, options))
  },
  { name: 'mfa', dependencies: ['database', 'account-snapshots'] },
)
