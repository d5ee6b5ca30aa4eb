import { sql, type Kysely } from 'kysely'

/**
 * A change of a verified address waits in pending_email until its link is followed: the verified address stays the
 * account's (for resets and notices) meanwhile. A link verifies only the address its account still waits for (the
 * pending one, or the unverified one), so that a change taken back or replaced voids every link mailed for it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE users ADD COLUMN pending_email text`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE users DROP COLUMN pending_email`.execute(db)
}
