import type { Selectable } from 'kysely'
import type { UsersTable } from '../platform/database/schema.js'
import type { AccountView } from '../schemas/accounts.js'
import type { User } from '../schemas/user.js'

/** An account as the services see it, and how a row of the users table becomes one (records.ts reads the rows). */

export interface MfaState {
  /** The TOTP secret as stored: sealed (see secret-box.ts). */
  secret: string
  enabledAt: number
  recoveryCodesLeft: number
}

/** Why and how long an account is disabled. */
export interface Disable {
  since: number
  /** null: until an admin enables it. */
  until: number | null
  reason: string | null
  /** The admin who disabled it (null when that account is gone). */
  by: string | null
}

export interface Account {
  user: User
  passwordHash: string
  /** See loginEpoch in records.ts. */
  loginEpoch: number
  /** null: the password alone logs in. */
  mfa: MfaState | null
  /** null: active (a disable whose `until` has passed lifts itself). */
  disabled: Disable | null
  lastLoginAt: number | null
  /** The account's address: unverified until its owner follows the link mailed to it. */
  email: { address: string; verified: boolean } | null
  /** A new address asked for in place of a verified one: it replaces it once its link is followed. */
  pendingEmail: string | null
  /** Raised by every change (records.ts): what the snapshot in Redis was filled at (snapshots.ts). */
  version: number
}

/** A page of accounts, ordered by lower-cased name. */
export interface AccountPage {
  accounts: Account[]
  /** The lower-cased name to list after for the next page; null on the last one. */
  next: string | null
}

export interface AccountQuery {
  /** A prefix of the name, any letter case. */
  search?: string
  role?: string
  state?: 'active' | 'disabled'
  limit: number
  /** The lower-cased name the previous page ended with. */
  after?: string
}

/**
 * What verifying an address answers: taken when another account has it verified; gone when the account is, or no
 * longer waits for this address (its change was taken back or replaced).
 */
export type VerifyOutcome = 'verified' | 'gone' | 'taken'

/** An account's addresses once a change was asked for: the one to verify, and the verified one when there is one. */
export interface EmailChange {
  /** The address a link must now be mailed to; null when the change took the account back to its verified one. */
  toVerify: string | null
  /** The verified address, which stays until the new one is verified. */
  verified: string | null
}

/** What a change that may take the last admin's role answers. */
export type GuardedOutcome = 'done' | 'gone' | 'lastAdmin'

/** What an admin changes of an account: each part optional; `disable` and `enable` exclude each other. */
export interface AccountChange {
  roles?: string[]
  disable?: { until: Date | null; reason: string | null; by: string | null }
  enable?: true
}

/** Whether a change shuts out the logins in flight: a login proved against the old roles or an active account. */
export const shutsOutLogins = (change: AccountChange) => change.roles !== undefined || change.disable !== undefined

export const ACCOUNT_COLUMNS = [
  'id',
  'username',
  'roles',
  'createdAt',
  'passwordHash',
  'loginEpoch',
  'totpSecret',
  'totpEnabledAt',
  'disabledAt',
  'disabledUntil',
  'disabledReason',
  'disabledBy',
  'lastLoginAt',
  'email',
  'emailVerifiedAt',
  'pendingEmail',
  'version',
] as const
export type AccountRow = Pick<Selectable<UsersTable>, (typeof ACCOUNT_COLUMNS)[number]> & { recoveryCodesLeft: number }

const time = (date: Date | null) => date?.getTime() ?? null

function toDisable({ disabledAt, disabledUntil, disabledReason, disabledBy }: AccountRow, now: number): Disable | null {
  if (disabledAt === null || (disabledUntil !== null && disabledUntil.getTime() <= now)) return null
  return { since: disabledAt.getTime(), until: time(disabledUntil), reason: disabledReason, by: disabledBy }
}

export function toAccount(row: AccountRow): Account {
  const { id, username, roles, createdAt, passwordHash, loginEpoch, totpSecret, totpEnabledAt, recoveryCodesLeft, lastLoginAt } = row
  const mfa = totpSecret === null || totpEnabledAt === null ? null : { secret: totpSecret, enabledAt: totpEnabledAt.getTime(), recoveryCodesLeft }
  const user = { id, username, roles, createdAt: createdAt.toISOString() }
  const email = row.email === null ? null : { address: row.email, verified: row.emailVerifiedAt !== null }
  const disabled = toDisable(row, Date.now())
  return { user, passwordHash, loginEpoch, mfa, disabled, lastLoginAt: time(lastLoginAt), email, pendingEmail: row.pendingEmail, version: row.version }
}

/** Everything stored about an account, as the import from Redis (cli/import-redis-accounts.ts) copies it. */
export interface AccountCopy {
  user: User
  passwordHash: string
  loginEpoch: number
  totp: { secret: string; enabledAt: number; lastStep: number | null; recoveryCodeHashes: string[] } | null
}

/**
 * copied: written. present: the same account (by id) is here with the same password and second factor. changed: it
 * is here and its password or second factor differ (changed on one side since). nameTaken: another account holds
 * the name. Only `copied` wrote anything: an account here is never overwritten.
 */
export type CopyOutcome = 'copied' | 'present' | 'changed' | 'nameTaken'

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

/** An account as admins (and a host's code) see it: never a credential. */
export function toAccountView({ user, disabled, lastLoginAt, mfa }: Account): AccountView {
  return {
    ...user,
    state: disabled === null ? 'active' : 'disabled',
    disabled: disabled && { since: iso(disabled.since)!, until: iso(disabled.until), reason: disabled.reason, by: disabled.by },
    lastLoginAt: iso(lastLoginAt),
    mfa: mfa !== null,
  }
}
