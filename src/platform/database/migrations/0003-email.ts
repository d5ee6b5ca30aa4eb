import { sql, type Kysely } from 'kysely'

/**
 * Email and account tokens. An account's address is unique, in any letter case, among verified addresses only: an
 * address typed at registration proves nothing until its owner follows the link, so it must not keep the owner from
 * verifying it on their own account. account_tokens holds the links mailed for verification and password reset, by
 * the SHA-256 of the token only; a token ends with its account.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE users
      ADD COLUMN email text,
      ADD COLUMN email_verified_at timestamptz,
      ADD CONSTRAINT users_email_verified_check CHECK (email_verified_at IS NULL OR email IS NOT NULL)`.execute(db)
  await sql`CREATE UNIQUE INDEX users_verified_email_key ON users (lower(email)) WHERE email_verified_at IS NOT NULL`.execute(db)
  await sql`CREATE INDEX users_email_idx ON users (lower(email))`.execute(db)
  await sql`
    CREATE TABLE account_tokens (
      token_hash text PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      purpose text NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
      email text NOT NULL,
      tries integer NOT NULL DEFAULT 0,
      expires_at timestamptz NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db)
  await sql`CREATE INDEX account_tokens_user_idx ON account_tokens (user_id, purpose)`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE account_tokens`.execute(db)
  await sql`DROP INDEX users_email_idx`.execute(db)
  await sql`DROP INDEX users_verified_email_key`.execute(db)
  await sql`ALTER TABLE users DROP CONSTRAINT users_email_verified_check, DROP COLUMN email, DROP COLUMN email_verified_at`.execute(db)
}
