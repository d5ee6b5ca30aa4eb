import { sql, type Kysely } from 'kysely'

/**
 * The keys that sign JWT access tokens (tokens/signing-keys.ts): every instance signs with the same ones, so they live
 * here, the private half sealed under SESSION_SECRET. A key is published (JWKS) from its creation, signs once it has
 * been published longer than a JWKS cache keeps a set, and is deleted once every token it signed has expired.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE signing_keys (
      kid text PRIMARY KEY,
      public_jwk jsonb NOT NULL,
      sealed_private_jwk text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )
  `.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE signing_keys`.execute(db)
}
