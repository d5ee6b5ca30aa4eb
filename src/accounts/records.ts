import { sql } from 'kysely'
import type { Database } from '../platform/database/connection.js'
import type { User } from '../schemas/user.js'
import { ACCOUNT_COLUMNS, toAccount, type Account, type AccountChange, type AccountCopy, type AccountPage, type AccountQuery, type CopyOutcome, type EmailChange, type GuardedOutcome, type VerifyOutcome, shutsOutLogins } from './account.js'

/**
 * Accounts as PostgreSQL holds them (this module owns the users table; its migration is db/migrations/0001): one row
 * per user with the password hash, roles, login epoch and second factor (sealed TOTP secret, last accepted step,
 * recovery-code hashes).
 *
 * Concurrency rules. Every read and write below is one statement in its own transaction (READ COMMITTED, the default):
 * no transaction spans two statements, so none needs a stricter isolation level. An UPDATE locks the row it changes,
 * and an UPDATE that waited on that lock evaluates its WHERE clause again on the row as the other one left it, so
 * each guarded UPDATE below is an atomic check-and-set, across instances too. Every write names the user by id, so it
 * never lands on another account.
 * - A username is claimed by the INSERT itself: the unique index on lower(username) lets one of any number of
 *   concurrent registrations of a name, in any letter case, succeed; the others insert nothing.
 * - `loginEpoch` goes up with every change that must shut out the logins in flight: a change of what a login must
 *   prove (password, second factor on or off; in the same UPDATE as the change) and the end of every session (logout
 *   everywhere, ending all others, an admin's end). A login notes it when it checks the password and compares it
 *   again once its session exists (sessions/service.ts): a login that raced with such a change either was listed before the
 *   change ended every session, or sees the new epoch and ends its own.
 * - A password change is conditional, in its UPDATE's WHERE, on the account being active and on the epoch its request
 *   proved the old password at: of a change and a disable, a demotion or a reset racing it, the one that comes second
 *   sees the epoch moved and changes nothing. A reset (proved by its link, not the epoch) needs an active account.
 * - A TOTP step is accepted only if it is later than the last accepted one (totpLastStep, compared in the UPDATE's
 *   WHERE): a code can be used once, and two requests with the same code cannot both pass.
 * - A recovery code is spent by removing it from the array, in an UPDATE whose WHERE requires it there: of two
 *   concurrent uses, the second finds it gone and changes nothing.
 * - Disabling an account and changing its roles raise the login epoch in the same UPDATE (a login in flight loses).
 * - An address is verified by an UPDATE whose WHERE finds no other account with it verified, and the account still
 *   waiting for it (pending, or unverified in place): a link for a change taken back or replaced verifies nothing,
 *   even one a mail worker issued after the change was taken back. The partial unique index on lower(email) settles
 *   two verifications of one address at once (the second fails, EmailTaken).
 * - The one transaction: a change that takes the admin role from an active admin (a demotion, a disable, a delete)
 *   checks that another active admin remains and makes the change under one advisory lock, so that two such changes
 *   at once cannot leave no admin (READ COMMITTED alone would let each see the other admin still there).
 */

// An account not disabled now (never, or until a time now past), and one that is an admin too, in SQL.
const ACTIVE = sql<boolean>`(disabled_at IS NULL OR coalesce(disabled_until <= now(), false))`
const ACTIVE_ADMIN = sql<boolean>`'admin' = ANY(roles) AND ${ACTIVE}`
// SQLSTATE unique_violation: the partial unique index on verified addresses refused a second one.
const UNIQUE_VIOLATION = '23505'
// Any number will do, as long as nothing else in the database takes the same advisory lock.
const ADMINS_LOCK = 0x61646d6e

export interface UserRecords {
  /** Writes a new user with its password hash (and unverified address); false when the name is taken (in any letter case). */
  create(user: User, passwordHash: string, email: string | null): Promise<boolean>
  /** The account that has this address verified, in any letter case. */
  findByVerifiedEmail(email: string): Promise<Account | null>
  /**
   * Accounts that hold this address unverified, newest first, at most `limit` (any registration may type any address:
   * the newest are the likeliest to be its owner's, who has just asked).
   */
  findByUnverifiedEmail(email: string, limit: number): Promise<Account[]>
  /**
   * Asks for `email` as the account's address: an account without a verified address holds it unverified; one with a
   * verified address keeps that one and waits for this one (pendingEmail), or waits for none when `email` is the
   * verified one. null when the account is gone.
   */
  changeEmail(userId: string, email: string): Promise<EmailChange | null>
  /** The account waits for no new address any more (an unverified one is dropped); false when it is gone. */
  cancelEmailChange(userId: string): Promise<boolean>
  /** Makes `email` the account's verified address, if the account still waits for it (see the opening comment). */
  verifyEmail(userId: string, email: string): Promise<VerifyOutcome>
  /** The account under a name, in any letter case. */
  findByName(username: string): Promise<Account | null>
  findById(userId: string): Promise<Account | null>
  /** null when the user is gone. */
  loginEpoch(userId: string): Promise<number | null>
  /**
   * A new password for an active account, and a new login epoch: the epoch it left, or null when the account is gone
   * or disabled, or its epoch is no longer `provenEpoch` (when given: the epoch the request proved the old password
   * at). A change that proved an older state never overwrites a newer one (a disable, a demotion, a reset).
   */
  setPassword(userId: string, passwordHash: string, provenEpoch: number | null): Promise<number | null>
  /**
   * The same password under a stronger hash (password.ts): only while `oldHash` is still the stored one, so that a
   * password changed meanwhile stays changed. The epoch stays: what a login must prove has not changed.
   */
  upgradeHash(userId: string, oldHash: string, newHash: string): Promise<boolean>
  /** Each write below is false when the user is gone (or the state it needs is). */
  raiseLoginEpoch(userId: string): Promise<boolean>
  /** Turns TOTP on with its first accepted step and recovery codes; false when it is on already. */
  enableTotp(userId: string, secret: string, step: number, codeHashes: string[]): Promise<boolean>
  /** Turns TOTP off and drops the recovery codes; false when it was off. */
  disableTotp(userId: string): Promise<boolean>
  /**
   * Accepts a TOTP step of `secret` (as stored) if it is later than every step accepted before; stores `resealed` in
   * its place when given (the same secret sealed under the current key).
   */
  useTotpStep(userId: string, secret: string, step: number, resealed: string | null): Promise<boolean>
  /** Spends a recovery code: the codes left, or null when there was no such unused code. */
  useRecoveryCode(userId: string, codeHash: string): Promise<number | null>
  /** New recovery codes in place of the old, while `secret` is still the one on. */
  replaceRecoveryCodes(userId: string, secret: string, codeHashes: string[]): Promise<boolean>
  /** Writes an account kept elsewhere, with its id, times and login epoch, unless it or its name is here already. */
  copyIn(account: AccountCopy): Promise<CopyOutcome>
  list(query: AccountQuery): Promise<AccountPage>
  /**
   * Notes a completed login that proved the account at `provenEpoch`, in the statement that checks the epoch still
   * holds: false, noting nothing, when it moved (or the account is gone), and the login is void.
   */
  recordLogin(userId: string, provenEpoch: number): Promise<boolean>
  /**
   * Changes roles and state in one statement, raising the epoch once when logins must be shut out (new roles, a
   * disable); refused, changing nothing, when it would take the last active admin's role or access.
   */
  change(userId: string, change: AccountChange): Promise<GuardedOutcome>
  /** Deletes the account; refused for the last active admin. */
  remove(userId: string): Promise<GuardedOutcome>
}

// Every change that can show in the account snapshot goes through here: the version orders the snapshot's writes.
const changed = { updatedAt: sql<Date>`now()`, version: sql<number>`version + 1` }
const raisedEpoch = { loginEpoch: sql<number>`login_epoch + 1` }

export function userRecords(db: Database): UserRecords {
  const selectAccount = () => db.selectFrom('users').select(ACCOUNT_COLUMNS).select(sql<number>`cardinality(recovery_code_hashes)`.as('recoveryCodesLeft'))
  const update = (userId: string) => db.updateTable('users').where('id', '=', userId)
  const updatedOne = (result: { numUpdatedRows: bigint }) => result.numUpdatedRows === 1n

  /**
   * Runs `change` unless it would take the admin role from the last active admin: `takesAdmin` says whether it takes it
   * from `userId`. Under the admins' advisory lock, in one transaction (see the opening comment).
   */
  function guarded(userId: string, takesAdmin: boolean, change: (trx: Database) => Promise<boolean>): Promise<GuardedOutcome> {
    return db.transaction().execute(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(${ADMINS_LOCK})`.execute(trx)
      if (takesAdmin) {
        const admins = await trx.selectFrom('users').select('id').where(ACTIVE_ADMIN).execute()
        if (admins.some(({ id }) => id === userId) && admins.length === 1) return 'lastAdmin'
      }
      return (await change(trx)) ? 'done' : 'gone'
    })
  }

  return {
    async create({ id, username, roles, createdAt }, passwordHash, email) {
      const inserted = await db
        .insertInto('users')
        .values({ id, username, roles, passwordHash, email, createdAt: new Date(createdAt) })
        .onConflict((conflict) => conflict.doNothing())
        .executeTakeFirst()
      return inserted.numInsertedOrUpdatedRows === 1n
    },
    async findByName(username) {
      const row = await selectAccount().where(sql`lower(username)`, '=', username.toLowerCase()).executeTakeFirst()
      return row ? toAccount(row) : null
    },
    async findByVerifiedEmail(email) {
      const row = await selectAccount().where(sql`lower(email)`, '=', email.toLowerCase()).where('emailVerifiedAt', 'is not', null).executeTakeFirst()
      return row ? toAccount(row) : null
    },
    async findByUnverifiedEmail(email, limit) {
      const rows = await selectAccount()
        .where(sql`lower(email)`, '=', email.toLowerCase())
        .where('emailVerifiedAt', 'is', null)
        .orderBy('createdAt', 'desc')
        .limit(limit)
        .execute()
      return rows.map(toAccount)
    },
    async changeEmail(userId, email) {
      // One statement: whether the address in place is verified is read by the UPDATE that acts on it.
      const row = await update(userId)
        .set({
          email: sql<string>`CASE WHEN email_verified_at IS NULL THEN ${email} ELSE email END`,
          pendingEmail: sql<string | null>`CASE WHEN email_verified_at IS NULL OR lower(email) = lower(${email}) THEN NULL ELSE ${email} END`,
          ...changed,
        })
        .returning(['email', 'emailVerifiedAt', 'pendingEmail'])
        .executeTakeFirst()
      if (!row) return null
      if (row.emailVerifiedAt === null) return { toVerify: row.email, verified: null }
      return { toVerify: row.pendingEmail, verified: row.email }
    },
    async cancelEmailChange(userId) {
      const cancelled = { email: sql<string | null>`CASE WHEN email_verified_at IS NULL THEN NULL ELSE email END`, pendingEmail: null }
      return updatedOne(await update(userId).set({ ...cancelled, ...changed }).executeTakeFirst())
    },
    async verifyEmail(userId, email) {
      const verifiedElsewhere = db
        .selectFrom('users')
        .select('id')
        .where(sql`lower(email)`, '=', email.toLowerCase())
        .where('emailVerifiedAt', 'is not', null)
        .where('id', '<>', userId)
      const awaited = sql<boolean>`(lower(pending_email) = lower(${email}) OR (email_verified_at IS NULL AND lower(email) = lower(${email})))`
      try {
        const result = await update(userId)
          .set({ email, emailVerifiedAt: sql<Date>`now()`, pendingEmail: null, ...changed })
          .where(awaited)
          .where((row) => row.not(row.exists(verifiedElsewhere)))
          .executeTakeFirst()
        if (updatedOne(result)) return 'verified'
      } catch (error) {
        if ((error as { code?: unknown }).code === UNIQUE_VIOLATION) return 'taken'
        throw error
      }
      const stillAwaited = await db.selectFrom('users').select('id').where('id', '=', userId).where(awaited).executeTakeFirst()
      return stillAwaited ? 'taken' : 'gone'
    },
    async findById(userId) {
      const row = await selectAccount().where('id', '=', userId).executeTakeFirst()
      return row ? toAccount(row) : null
    },
    async loginEpoch(userId) {
      const row = await db.selectFrom('users').select('loginEpoch').where('id', '=', userId).executeTakeFirst()
      return row?.loginEpoch ?? null
    },
    async setPassword(userId, passwordHash, provenEpoch) {
      let query = update(userId).set({ passwordHash, ...raisedEpoch, ...changed }).where(ACTIVE)
      if (provenEpoch !== null) query = query.where('loginEpoch', '=', provenEpoch)
      const row = await query.returning('loginEpoch').executeTakeFirst()
      return row?.loginEpoch ?? null
    },
    async upgradeHash(userId, oldHash, newHash) {
      return updatedOne(await update(userId).set({ passwordHash: newHash }).where('passwordHash', '=', oldHash).executeTakeFirst())
    },
    async raiseLoginEpoch(userId) {
      return updatedOne(await update(userId).set({ ...raisedEpoch, ...changed }).executeTakeFirst())
    },
    async enableTotp(userId, secret, step, codeHashes) {
      const enabled = { totpSecret: secret, totpLastStep: step, totpEnabledAt: sql<Date>`now()`, recoveryCodeHashes: codeHashes }
      return updatedOne(await update(userId).set({ ...enabled, ...raisedEpoch, ...changed }).where('totpSecret', 'is', null).executeTakeFirst())
    },
    async disableTotp(userId) {
      const disabled = { totpSecret: null, totpLastStep: null, totpEnabledAt: null, recoveryCodeHashes: [] }
      return updatedOne(await update(userId).set({ ...disabled, ...raisedEpoch, ...changed }).where('totpSecret', 'is not', null).executeTakeFirst())
    },
    async useTotpStep(userId, secret, step, resealed) {
      const result = await update(userId)
        .set({ totpLastStep: step, ...(resealed !== null && { totpSecret: resealed }), ...changed })
        .where('totpSecret', '=', secret)
        .where((row) => row.or([row('totpLastStep', 'is', null), row('totpLastStep', '<', step)]))
        .executeTakeFirst()
      return updatedOne(result)
    },
    async useRecoveryCode(userId, codeHash) {
      const row = await update(userId)
        .set({ recoveryCodeHashes: sql<string[]>`array_remove(recovery_code_hashes, ${codeHash})`, ...changed })
        .where('totpSecret', 'is not', null)
        .where(sql<boolean>`${codeHash} = ANY(recovery_code_hashes)`)
        .returning(sql<number>`cardinality(recovery_code_hashes)`.as('left'))
        .executeTakeFirst()
      return row?.left ?? null
    },
    async replaceRecoveryCodes(userId, secret, codeHashes) {
      return updatedOne(await update(userId).set({ recoveryCodeHashes: codeHashes, ...changed }).where('totpSecret', '=', secret).executeTakeFirst())
    },
    async copyIn({ user, passwordHash, loginEpoch, totp }) {
      const inserted = await db
        .insertInto('users')
        .values({
          id: user.id,
          username: user.username,
          roles: user.roles,
          passwordHash,
          loginEpoch,
          createdAt: new Date(user.createdAt),
          ...(totp && {
            totpSecret: totp.secret,
            totpEnabledAt: new Date(totp.enabledAt),
            totpLastStep: totp.lastStep,
            recoveryCodeHashes: totp.recoveryCodeHashes,
          }),
        })
        .onConflict((conflict) => conflict.doNothing())
        .executeTakeFirst()
      if (inserted.numInsertedOrUpdatedRows === 1n) return 'copied'
      const here = await db.selectFrom('users').select(['passwordHash', 'totpSecret']).where('id', '=', user.id).executeTakeFirst()
      if (!here) return 'nameTaken'
      return here.passwordHash === passwordHash && here.totpSecret === (totp?.secret ?? null) ? 'present' : 'changed'
    },
    async list({ search, role, state, limit, after }) {
      let query = selectAccount().orderBy(sql`lower(username)`).limit(limit + 1)
      // A prefix, with LIKE's wildcards taken literally (a name may hold an underscore).
      if (search) query = query.where(sql`lower(username)`, 'like', `${search.toLowerCase().replace(/[\\%_]/g, '\\$&')}%`)
      if (role) query = query.where(sql<boolean>`${role} = ANY(roles)`)
      if (state) query = query.where(state === 'active' ? ACTIVE : sql<boolean>`NOT ${ACTIVE}`)
      if (after !== undefined) query = query.where(sql`lower(username)`, '>', after)
      const rows = await query.execute()
      const accounts = rows.slice(0, limit).map(toAccount)
      return { accounts, next: rows.length > limit ? accounts.at(-1)!.user.username.toLowerCase() : null }
    },
    async recordLogin(userId, provenEpoch) {
      return updatedOne(await update(userId).set({ lastLoginAt: sql<Date>`now()` }).where('loginEpoch', '=', provenEpoch).executeTakeFirst())
    },
    change(userId, change) {
      const { roles, disable, enable } = change
      const takesAdmin = disable !== undefined || (roles !== undefined && !roles.includes('admin'))
      const state = disable
        ? { disabledAt: sql<Date>`now()`, disabledUntil: disable.until, disabledReason: disable.reason, disabledBy: disable.by }
        : enable ? { disabledAt: null, disabledUntil: null, disabledReason: null, disabledBy: null } : {}
      const set = { ...state, ...(roles === undefined ? {} : { roles }), ...(shutsOutLogins(change) ? raisedEpoch : {}), ...changed }
      return guarded(userId, takesAdmin, async (trx) => updatedOne(await trx.updateTable('users').where('id', '=', userId).set(set).executeTakeFirst()))
    },
    remove(userId) {
      return guarded(userId, true, async (trx) => (await trx.deleteFrom('users').where('id', '=', userId).executeTakeFirst()).numDeletedRows === 1n)
    },
  }
}
