import { sql, type Kysely } from 'kysely'

/**
 * Accounts: one row per user, with everything about its credentials (see accounts/records.ts for how it is written).
 * Recovery codes are an array on the row, so that spending one, like every other change of an account, is a
 * single-row statement. Usernames are ASCII (schemas/user.ts), so lower() is the same under every collation.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE users (
      id uuid PRIMARY KEY,
      username text NOT NULL CHECK (username <> ''),
      roles text[] NOT NULL DEFAULT '{}',
      password_hash text NOT NULL,
      login_epoch integer NOT NULL DEFAULT 0,
      totp_secret text,
      totp_enabled_at timestamptz,
      totp_last_step integer,
      recovery_code_hashes text[] NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK ((totp_secret IS NULL) = (totp_enabled_at IS NULL))
    )`.execute(db)
  // Usernames are unique regardless of letter case: of concurrent registrations of one name, one insert wins.
  await sql`CREATE UNIQUE INDEX users_username_key ON users (lower(username))`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE users`.execute(db)
}
