import { createHash, randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import type { Database } from '../platform/database/connection.js'
import type { AccountTokenPurpose } from '../platform/database/schema.js'

/**
 * The links mailed for email verification and password reset (OWASP Forgot Password Cheat Sheet, ASVS 6.5): 256 bits
 * from the CSPRNG, stored only as their SHA-256 (a database dump holds no usable link), with a lifetime and, for a
 * reset, a few tries at the second-factor code. This module owns the account_tokens table (migration 0003).
 *
 * Concurrency rules. A token is spent by a DELETE of its row, inside the transaction that makes its change: of any
 * number of requests spending one token at once, on any instance, one DELETE removes the row and the others find
 * nothing (an UPDATE or DELETE that waited on a row lock evaluates its WHERE again on what the winner left), so one
 * change is made. A wrong code counts in one UPDATE of the row. A link that replaces the user's others (verification)
 * is written under the user's row lock, so two at once leave one live.
 */

export const TOKEN_LIFETIME_MS: Record<AccountTokenPurpose, number> = {
  verify_email: 24 * 3600_000,
  reset_password: 30 * 60_000,
}

/** Wrong second-factor codes a reset link survives. */
export const RESET_TRIES = 5

const TOKEN_BYTES = 32

export function newToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url')
}

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}

/** A live token: whose it is and the address it was mailed to. */
export interface TokenHolder {
  userId: string
  email: string
}

export interface AccountTokenRecords {
  /** Stores a new token's hash; the token is mailed, never stored. */
  issue(token: string, holder: TokenHolder, purpose: AccountTokenPurpose): Promise<void>
  /** The holder of a live token (unexpired, tries left), or null. */
  find(token: string, purpose: AccountTokenPurpose): Promise<TokenHolder | null>
  /** Spends a live token: its holder when this call spent it, null when it was not live (or another call spent it). */
  spend(token: string, purpose: AccountTokenPurpose): Promise<TokenHolder | null>
  /** Counts a wrong code against a reset token. */
  countFailedTry(token: string): Promise<void>
  /**
   * Stores a new token in place of the holder's others for `purpose` (a new verification link ends the older ones).
   * Run inside a transaction: it locks the user's row first, so that two replacements at once leave one token.
   */
  replace(token: string, holder: TokenHolder, purpose: AccountTokenPurpose): Promise<void>
  /** Ends every token of the user for `purpose` (a reset voids the other reset links). */
  endAll(userId: string, purpose: AccountTokenPurpose): Promise<void>
}

export function accountTokenRecords(db: Database): AccountTokenRecords {
  const live = (token: string, purpose: AccountTokenPurpose) =>
    sql<boolean>`token_hash = ${tokenHash(token)} AND purpose = ${purpose} AND expires_at > now() AND tries < ${RESET_TRIES}`

  const endAll = async (userId: string, purpose: AccountTokenPurpose) => {
    await db.deleteFrom('accountTokens').where('userId', '=', userId).where('purpose', '=', purpose).execute()
  }

  async function issue(token: string, { userId, email }: TokenHolder, purpose: AccountTokenPurpose): Promise<void> {
    const expiresAt = new Date(Date.now() + TOKEN_LIFETIME_MS[purpose])
    // The user's expired links go as a new one comes: the table holds no more than a few rows per user.
    await db.deleteFrom('accountTokens').where('userId', '=', userId).where('expiresAt', '<=', sql<Date>`now()`).execute()
    await db.insertInto('accountTokens').values({ tokenHash: tokenHash(token), userId, email, purpose, expiresAt }).execute()
  }

  return {
    issue,
    async replace(token, holder, purpose) {
      await db.selectFrom('users').select('id').where('id', '=', holder.userId).forUpdate().execute()
      await endAll(holder.userId, purpose)
      await issue(token, holder, purpose)
    },
    async find(token, purpose) {
      const row = await db.selectFrom('accountTokens').select(['userId', 'email']).where(live(token, purpose)).executeTakeFirst()
      return row ?? null
    },
    async spend(token, purpose) {
      const row = await db.deleteFrom('accountTokens').where(live(token, purpose)).returning(['userId', 'email']).executeTakeFirst()
      return row ?? null
    },
    async countFailedTry(token) {
      await db.updateTable('accountTokens').set({ tries: sql<number>`tries + 1` }).where('tokenHash', '=', tokenHash(token)).execute()
    },
    endAll,
  }
}
