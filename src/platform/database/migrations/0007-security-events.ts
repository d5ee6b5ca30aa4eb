import { sql, type Kysely } from 'kysely'

/**
 * What happened to accounts (security-events/): append-only. The rows are partitioned by month of `occurred_at`, so
 * that retention drops a month's partition (never a DELETE) and a user's newest events (newest first: by id, which the sequence hands out
 * in order) are one index probe per month.
 * The partitions themselves are made ahead of time by the store (security-events/store.ts), which also puts the
 * append-only triggers on each: triggers, not a REVOKE, because a REVOKE does not bind the table's owner or a
 * superuser, and ENABLE ALWAYS, so that `session_replication_role = replica` does not switch them off either.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE SEQUENCE security_events_id_seq AS bigint`.execute(db)
  await sql`
    CREATE TABLE security_events (
      id bigint NOT NULL DEFAULT nextval('security_events_id_seq'),
      occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      type text NOT NULL,
      user_id uuid,
      actor_type text NOT NULL,
      actor_id uuid,
      address inet,
      user_agent text,
      session text,
      details jsonb NOT NULL DEFAULT '{}',
      PRIMARY KEY (id, occurred_at)
    ) PARTITION BY RANGE (occurred_at)
  `.execute(db)
  await sql`CREATE INDEX security_events_by_user ON security_events (user_id, id DESC)`.execute(db)
  await sql`CREATE INDEX security_events_by_address ON security_events (address, id DESC)`.execute(db)
  await sql`
    CREATE FUNCTION security_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'security_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege', HINT = 'old events leave with their month''s partition (SECURITY_EVENTS_RETENTION_DAYS)';
    END
    $$
  `.execute(db)
  await sql`ALTER SEQUENCE security_events_id_seq OWNED BY security_events.id`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE security_events`.execute(db)
  await sql`DROP FUNCTION security_events_refuse_change()`.execute(db)
}
