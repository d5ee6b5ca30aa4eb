import { Type, type Static } from '@sinclair/typebox'
import { named, nullable, ref } from './components.js'
import { CurrentPassword, Username, USERNAME_PATTERN } from './user.js'

export const Role = Type.String({ minLength: 1, maxLength: 32, pattern: '^[a-z][a-z0-9_-]*$' })
export const AccountState = Type.Union([Type.Literal('active'), Type.Literal('disabled')])

export const DisableView = named('AccountDisable', Type.Object(
  {
    since: Type.String({ format: 'date-time' }),
    until: nullable(Type.String({ format: 'date-time' })),
    reason: nullable(Type.String()),
    by: nullable(Type.String()),
  },
  { additionalProperties: false, description: 'Since when an account is disabled, until when (null: until enabled), why and by whom' },
))

const AccountFields = {
  id: Type.String(),
  username: Type.String(),
  roles: Type.Array(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  state: AccountState,
  disabled: Type.Union([ref(DisableView), Type.Null()]),
  lastLoginAt: nullable(Type.String({ format: 'date-time' })),
  mfa: Type.Boolean(),
}
export const AccountView = named('Account', Type.Object(AccountFields, { additionalProperties: false, description: 'An account as admins see it' }))
export type AccountView = Static<typeof AccountView>
export const AccountDetail = Type.Object(
  { ...AccountFields, sessions: Type.Integer({ minimum: 0 }), tokens: Type.Integer({ minimum: 0 }) },
  { additionalProperties: false },
)

export const DEFAULT_PAGE = 50
// Query strings are strings (the service never coerces types): 1 to 200, as digits.
const PageSize = Type.String({ pattern: '^([1-9]|[1-9][0-9]|1[0-9][0-9]|200)$', description: 'Users a page, 1 to 200 (default 50)' })
/** A boolean in a query string. */
export const QueryFlag = Type.Union([Type.Literal('true'), Type.Literal('false')])
export const AccountsQuery = Type.Object(
  {
    search: Type.Optional(Type.String({ minLength: 1, maxLength: 32, pattern: USERNAME_PATTERN })),
    role: Type.Optional(Role),
    state: Type.Optional(AccountState),
    limit: Type.Optional(PageSize),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' })),
  },
  { additionalProperties: false },
)
export const AccountsPage = Type.Object(
  { users: Type.Array(ref(AccountView)), nextCursor: nullable(Type.String()) },
  { additionalProperties: false },
)

/** Roles, a disable or an enable: at least one. */
export const AccountChange = Type.Object(
  {
    roles: Type.Optional(Type.Array(Role, { minItems: 1, maxItems: 16, uniqueItems: true })),
    disabled: Type.Optional(Type.Boolean()),
    reason: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    until: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false, minProperties: 1 },
)
export type AccountChange = Static<typeof AccountChange>

export const Ended = named('Ended', Type.Object(
  { sessions: Type.Integer({ minimum: 0 }), tokens: Type.Integer({ minimum: 0 }) },
  { additionalProperties: false, description: 'What the change ended: sessions (bearer ones included) and personal access tokens' },
))
export const AccountChanged = Type.Object({ user: ref(AccountView), ended: ref(Ended) }, { additionalProperties: false })
export const AccountDeleted = Type.Object({ deleted: Type.Literal(true), ended: ref(Ended) }, { additionalProperties: false })

export const AccountDeletion = Type.Object(
  { password: CurrentPassword, code: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) },
  { additionalProperties: false },
)

export { Username }
