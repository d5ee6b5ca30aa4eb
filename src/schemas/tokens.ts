import { Type, type Static } from '@sinclair/typebox'
import { SessionHandle } from './auth.js'
import { named, nullable, ref } from './components.js'

/** `read` lets an access token call GET routes, `write` the others. */
export const TokenScope = Type.Union([Type.Literal('read'), Type.Literal('write')])
export type TokenScope = Static<typeof TokenScope>

/** What a session that is a personal access token holds besides its user. */
export interface TokenGrant {
  name: string
  scopes: TokenScope[]
}

/** Secret scanners (GitHub's, GitLab's, trufflehog) find leaked tokens by a prefix of their own. */
export const ACCESS_TOKEN_PREFIX = 'rsa_pat_'

export const MAX_TOKEN_DAYS = 365
export const DEFAULT_TOKEN_DAYS = 30

export const NewToken = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64 }),
    scopes: Type.Array(TokenScope, { minItems: 1, maxItems: 2, uniqueItems: true }),
    expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TOKEN_DAYS, default: DEFAULT_TOKEN_DAYS })),
  },
  { additionalProperties: false },
)

const TokenFields = {
  /** The handle to revoke it by: the SHA-256 it is stored under, useless as a credential. */
  id: SessionHandle,
  name: Type.String(),
  scopes: Type.Array(TokenScope),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.String({ format: 'date-time' }),
  lastUsedAt: nullable(Type.String({ format: 'date-time' })),
}

export const TokenView = named('AccessToken', Type.Object(TokenFields, { additionalProperties: false, description: 'A personal access token, without its secret' }))
export type TokenView = Static<typeof TokenView>

export const CreatedToken = Type.Object(
  { ...TokenFields, token: Type.String({ description: 'The secret: send as "Authorization: Bearer <token>"; shown only in this answer' }) },
  { additionalProperties: false },
)

export const TokensResponse = Type.Object({ tokens: Type.Array(ref(TokenView)) }, { additionalProperties: false })
export const TokenParams = Type.Object({ id: SessionHandle }, { additionalProperties: false })
