import { sql, type Kysely } from 'kysely'

/**
 * Every change of an account raises its version, in the UPDATE that makes it (the row lock orders them): the account
 * snapshot in Redis (accounts/snapshots.ts) keeps the version it was filled at, and a fill never writes an older
 * version over a newer one.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE users ADD COLUMN version integer NOT NULL DEFAULT 1`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE users DROP COLUMN version`.execute(db)
}
