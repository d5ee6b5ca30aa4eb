import { Type } from '@sinclair/typebox'
import { Password, User, Username } from './user.js'

export const MeResponse = Type.Object(
  {
    user: User,
    session: Type.Object(
      {
        createdAt: Type.String({ format: 'date-time' }),
        expiresAt: Type.String({ format: 'date-time' }),
        remember: Type.Boolean(),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)

/** A session's public handle: the SHA-256 (base64url) it is stored under, which cannot be used as a cookie. */
export const SessionHandle = Type.String({ minLength: 43, maxLength: 43, pattern: '^[A-Za-z0-9_-]+$' })

export const SessionsResponse = Type.Object(
  {
    sessions: Type.Array(
      Type.Object(
        {
          id: SessionHandle,
          createdAt: Type.String({ format: 'date-time' }),
          lastSeenAt: Type.String({ format: 'date-time' }),
          ip: Type.String(),
          userAgent: Type.String(),
          remember: Type.Boolean(),
          current: Type.Boolean(),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)

export const SessionParams = Type.Object({ id: SessionHandle }, { additionalProperties: false })
export const RevokedResponse = Type.Object({ revoked: Type.Integer({ minimum: 0 }) }, { additionalProperties: false })
export const LogoutBody = Type.Union([
  Type.Object({ everywhere: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
  Type.Null(),
])

export const PasswordChange = Type.Object(
  { currentPassword: Type.String({ minLength: 1, maxLength: 256 }), newPassword: Password },
  { additionalProperties: false },
)

export const UsernameParams = Type.Object({ username: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false })

/**
 * "remember": a session with the longer REMEMBER_* limits and a persistent cookie. "transport": "token" answers the
 * session as a bearer token instead of setting a cookie (for clients that are not browsers).
 */
export const Login = Type.Object(
  {
    username: Username,
    password: Password,
    remember: Type.Optional(Type.Boolean()),
    transport: Type.Optional(Type.Union([Type.Literal('cookie'), Type.Literal('token')])),
  },
  { additionalProperties: false },
)

/** A bearer session's token, and when it ends unless used (it slides with use, like a cookie's session). */
const BearerToken = {
  token: Type.String({ description: 'Send as "Authorization: Bearer <token>"; shown only here' }),
  expiresAt: Type.String({ format: 'date-time' }),
}

export const LoginResponse = Type.Object({ user: User, ...Type.Partial(Type.Object(BearerToken)).properties }, { additionalProperties: false })

/** What a password change answers a bearer client: the session's new token (the old one is ended). */
export const NewTokenResponse = Type.Object(BearerToken, { additionalProperties: false })
