import { sql, type Kysely } from 'kysely'

/**
 * Account state and the admin's view: a disable (why, by whom, until when: null for good) and the last completed
 * login. Users are listed by lower(username), which the unique index of 0001 already orders.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE users
      ADD COLUMN disabled_at timestamptz,
      ADD COLUMN disabled_until timestamptz,
      ADD COLUMN disabled_reason text,
      ADD COLUMN disabled_by uuid,
      ADD COLUMN last_login_at timestamptz,
      ADD CONSTRAINT users_disabled_until_check CHECK (disabled_until IS NULL OR disabled_at IS NOT NULL)`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE users
      DROP CONSTRAINT users_disabled_until_check,
      DROP COLUMN disabled_at,
      DROP COLUMN disabled_until,
      DROP COLUMN disabled_reason,
      DROP COLUMN disabled_by,
      DROP COLUMN last_login_at`.execute(db)
}
