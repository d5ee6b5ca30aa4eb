import type { ColumnType, Generated, Kysely } from 'kysely'

/**
 * The tables as the code sees them, in camelCase (the CamelCasePlugin maps them to the snake_case columns that the
 * migrations create). A column's type here must follow its migration.
 */
export interface UsersTable {
  id: string
  username: string
  roles: string[]
  passwordHash: string
  loginEpoch: Generated<number>
  /** Sealed (see secret-box.ts); null while the second factor is off. */
  totpSecret: string | null
  totpEnabledAt: Date | null
  totpLastStep: number | null
  recoveryCodeHashes: Generated<string[]>
  createdAt: ColumnType<Date, Date | undefined, never>
  updatedAt: Generated<Date>
  /** Set while the account is disabled (until disabledUntil, when that is set). */
  disabledAt: Date | null
  disabledUntil: Date | null
  disabledReason: string | null
  /** The admin who disabled it. */
  disabledBy: string | null
  lastLoginAt: Date | null
  /** Verified when emailVerifiedAt is set; unique (in any letter case) among verified addresses. */
  email: string | null
  emailVerifiedAt: Date | null
  /** A new address asked for while `email` is verified: it replaces `email` once its link is followed. */
  pendingEmail: string | null
  /** Raised by every change of the row (accounts/records.ts); the account snapshot in Redis compares it. */
  version: Generated<number>
}

export type AccountTokenPurpose = 'verify_email' | 'reset_password'

/** Links mailed to a user, by the SHA-256 of their token (see accounts/mail-tokens.ts). */
export interface AccountTokensTable {
  tokenHash: string
  userId: string
  purpose: AccountTokenPurpose
  /** The address the link was sent to (for verification: the address it verifies). */
  email: string
  /** Wrong second-factor codes sent with a reset token. */
  tries: Generated<number>
  expiresAt: Date
  createdAt: Generated<Date>
}

/** The keys that sign JWT access tokens (tokens/signing-keys.ts). */
export interface SigningKeysTable {
  /** The public key's JWK thumbprint (RFC 7638). */
  kid: string
  publicJwk: Record<string, unknown>
  /** The private JWK as JSON, sealed (see secret-box.ts). */
  sealedPrivateJwk: string
  createdAt: ColumnType<Date, Date | undefined, never>
}

export type ActorType = 'user' | 'admin' | 'system' | 'host'

/** What happened to accounts (security-events/store.ts): append-only, partitioned by month of occurredAt. */
export interface SecurityEventsTable {
  /** From a sequence: newest first is highest first. bigint: read as a string. */
  id: Generated<string>
  occurredAt: Generated<Date>
  type: string
  /** The account it happened to; null for a sign-in to a name no account has. */
  userId: string | null
  actorType: ActorType
  /** The admin, or the user, who acted; null for the system and the host application. */
  actorId: string | null
  address: string | null
  /** A short browser and system summary, never the whole header. */
  userAgent: string | null
  /** The session's handle (never its ID). */
  session: string | null
  details: ColumnType<Record<string, unknown>, string, never>
}

export interface Tables {
  users: UsersTable
  accountTokens: AccountTokensTable
  signingKeys: SigningKeysTable
  securityEvents: SecurityEventsTable
}

export type Database = Kysely<Tables>
