import { Type, type Static } from '@sinclair/typebox'
import { named, nullable, oneOfStrings, ref } from './components.js'

/**
 * The lifecycle events (platform/metrics.ts, where each has its log message) that are kept as security events: every
 * authentication decision and every change to an account or its sessions. Left out: a session found expired (every
 * request of a dead cookie would write one), the rotation of a refresh token (one per client every few minutes: the
 * sign-in that began the family is kept) and the password step of a two-factor sign-in (its outcome is kept).
 */
export const SECURITY_EVENT_TYPES = [
  'signup',
  'login',
  'login_failed',
  'login_locked',
  'login_disabled',
  'mfa_failed',
  'logout',
  'logout_everywhere',
  'revoke',
  'refresh_token_reused',
  'password_change',
  'password_change_failed',
  'password_reset_requested',
  'password_reset',
  'password_reset_failed',
  'email_change_requested',
  'email_change_cancelled',
  'email_verified',
  'mfa_enabled',
  'mfa_disabled',
  'mfa_reset',
  'recovery_code_used',
  'recovery_codes_replaced',
  'reauth',
  'reauth_failed',
  'token_created',
  'token_revoked',
  'account_disabled',
  'account_enabled',
  'account_deleted',
  'roles_changed',
] as const
const EventType = oneOfStrings(SECURITY_EVENT_TYPES, { description: 'What happened (docs/security-events.md lists every type and its details)' })

export const SecurityEventView = named(
  'SecurityEvent',
  Type.Object(
    {
      id: Type.String({ pattern: '^[0-9]+$', description: 'Unique, and higher for a later event' }),
      type: EventType,
      occurredAt: Type.String({ format: 'date-time' }),
      userId: nullable(Type.String({ format: 'uuid', description: 'The account; null for a sign-in to a name no account has' })),
      actor: Type.Object(
        {
          type: oneOfStrings(['user', 'admin', 'system', 'host'] as const, { description: 'user: the account itself (or an unauthenticated client, for a failed sign-in); admin: an administrator; system: the service (a cap, a theft detection); host: the application that mounts the service' }),
          id: nullable(Type.String({ format: 'uuid', description: 'The user or admin who acted, when known' })),
        },
        { additionalProperties: false },
      ),
      address: nullable(Type.String({ description: 'The client address the request came from' })),
      userAgent: nullable(Type.String({ description: 'The browser and system, in a few words' })),
      session: nullable(Type.String({ description: 'The handle of the session concerned (never its ID)' })),
      details: Type.Record(Type.String(), Type.Unknown(), { description: 'The few fields the type needs (docs/security-events.md)' }),
    },
    { additionalProperties: false, description: 'Something that happened to an account' },
  ),
)
export type SecurityEventView = Static<typeof SecurityEventView>

// Query strings are strings (the service never coerces types).
const PageSize = Type.String({ pattern: '^([1-9]|[1-9][0-9]|1[0-9][0-9]|200)$', description: 'Events a page, 1 to 200 (default 50)' })
const Cursor = Type.String({ pattern: '^[0-9]{1,19}$', description: 'nextCursor of the previous page' })
const Types = Type.String({
  pattern: `^(${SECURITY_EVENT_TYPES.join('|')})(,(${SECURITY_EVENT_TYPES.join('|')}))*$`,
  maxLength: 1000,
  description: 'Only events of these types (comma-separated)',
})

export const OwnEventsQuery = Type.Object(
  { type: Type.Optional(Types), limit: Type.Optional(PageSize), cursor: Type.Optional(Cursor) },
  { additionalProperties: false },
)

export const AdminEventsQuery = Type.Object(
  {
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Events of this account' })),
    userId: Type.Optional(Type.String({ format: 'uuid', description: 'Events of this account id (a deleted account keeps its events)' })),
    type: Type.Optional(Types),
    address: Type.Optional(Type.String({ minLength: 2, maxLength: 43, description: 'A client address, or a network in CIDR form (203.0.113.0/24)' })),
    from: Type.Optional(Type.String({ format: 'date-time', description: 'Events at or after this time' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'Events before this time' })),
    limit: Type.Optional(PageSize),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
)

export const SecurityEventsPage = Type.Object(
  {
    events: Type.Array(ref(SecurityEventView)),
    nextCursor: nullable(Type.String({ description: 'Pass as cursor for the next page; null: the last page' })),
  },
  { additionalProperties: false },
)
