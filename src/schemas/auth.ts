import { Type, type Static } from '@sinclair/typebox'
import { named, nullable, ref } from './components.js'
import { AuthMethod, MfaStatus } from './mfa.js'
import { CurrentPassword, Password, User, Username } from './user.js'

export const MeResponse = Type.Object(
  {
    user: ref(User),
    session: Type.Object(
      {
        createdAt: Type.String({ format: 'date-time' }),
        expiresAt: Type.String({ format: 'date-time' }),
        remember: Type.Boolean(),
        authenticatedAt: Type.String({ format: 'date-time', description: 'When a credential was last proved in this session (login or re-authentication)' }),
        authMethod: AuthMethod,
      },
      { additionalProperties: false },
    ),
    mfa: ref(MfaStatus),
    email: nullable(Type.String({ description: 'The account\'s address (null: none); a new address replaces a verified one only once it is verified too' })),
    emailVerified: Type.Boolean(),
    pendingEmail: nullable(Type.String({
      description: 'A new address asked for and not yet confirmed (null: none): it replaces the verified one once confirmed; DELETE /auth/email/pending takes it back',
    })),
  },
  { additionalProperties: false },
)

/** A session's public handle: the SHA-256 (base64url) it is stored under, which cannot be used as a cookie. */
export const SessionHandle = Type.String({ minLength: 43, maxLength: 43, pattern: '^[A-Za-z0-9_-]+$' })

export const Session = named('Session', Type.Object(
  {
    id: SessionHandle,
    createdAt: Type.String({ format: 'date-time' }),
    lastSeenAt: Type.String({ format: 'date-time' }),
    ip: Type.String(),
    userAgent: Type.String(),
    remember: Type.Boolean(),
    current: Type.Boolean({ description: 'The session this request came with' }),
  },
  { additionalProperties: false, description: 'A signed-in device or client; id is its handle, never its cookie or token' },
))

export const SessionsResponse = Type.Object({ sessions: Type.Array(ref(Session)) }, { additionalProperties: false })

export const SessionParams = Type.Object({ id: SessionHandle }, { additionalProperties: false })
export const RevokedResponse = Type.Object({ revoked: Type.Integer({ minimum: 0 }) }, { additionalProperties: false })
export const LogoutBody = Type.Union([
  Type.Object({ everywhere: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
  Type.Null(),
])

export const PasswordChange = Type.Object(
  { currentPassword: CurrentPassword, newPassword: Password },
  { additionalProperties: false },
)

/**
 * A name in a path: whatever name an account could have, under today's rules or older ones, but never a control character
 * (PostgreSQL refuses a NUL in text: without this, a 500 instead of a 400).
 */
export const UsernameParams = Type.Object(
  { username: Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\u0000-\\u001f\\u007f]+$' }) },
  { additionalProperties: false },
)

export const LoginTransport = Type.Union([Type.Literal('cookie'), Type.Literal('token'), Type.Literal('jwt')])
export type LoginTransport = Static<typeof LoginTransport>
export const isLoginTransport = (value: unknown): value is LoginTransport => LoginTransport.anyOf.some((literal) => literal.const === value)

/**
 * "remember": a session with the longer REMEMBER_* limits and a persistent cookie. "transport": "token" answers the
 * session as a bearer token instead of setting a cookie (for clients that are not browsers); "jwt" answers a JWT
 * access token and a refresh token (for clients that call other services too).
 */
export const Login = Type.Object(
  {
    username: Username,
    password: Password,
    remember: Type.Optional(Type.Boolean()),
    transport: Type.Optional(LoginTransport),
  },
  { additionalProperties: false },
)

/** A bearer session's token, and when it ends unless used (it slides with use, like a cookie's session). */
const BearerToken = {
  token: Type.String({ description: 'Send as "Authorization: Bearer <token>"; shown only here' }),
  expiresAt: Type.String({ format: 'date-time' }),
}

/** A JWT access token and the refresh token that renews it (POST /auth/refresh). */
const TokenPairFields = {
  accessToken: Type.String({ description: 'A JWT (at+jwt, EdDSA): send as "Authorization: Bearer <accessToken>" to this service and to services that accept it' }),
  refreshToken: Type.String({ description: 'Send to POST /auth/refresh for the next pair; each is spent by its use. Shown only here' }),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ minimum: 1, description: 'Seconds until the access token expires' }),
}
export const TokenPair = named('TokenPair', Type.Object(TokenPairFields, { additionalProperties: false, description: 'A JWT access token and its refresh token' }))

export const LoggedIn = named('LoggedIn', Type.Object(
  {
    user: ref(User),
    ...Type.Partial(Type.Object(BearerToken)).properties,
    ...Type.Partial(Type.Object(TokenPairFields)).properties,
    recoveryCodesLeft: Type.Optional(Type.Integer({ minimum: 0, description: 'After a login with a recovery code: how many are left' })),
  },
  { additionalProperties: false, description: 'Signed in: the user, for transport "token" the bearer token, for transport "jwt" the token pair' },
))

/**
 * The password was right and the account has a second factor: no session yet. POST /auth/login/mfa completes the
 * login with a code, before expiresAt; the pending login travels in a cookie, or as mfaToken for transport "token".
 */
export const SecondFactorRequired = named('SecondFactorRequired', Type.Object(
  {
    mfaRequired: Type.Literal(true),
    expiresAt: Type.String({ format: 'date-time' }),
    mfaToken: Type.Optional(Type.String({ description: 'Send back as mfaToken to POST /auth/login/mfa (transport "token" only)' })),
  },
  { additionalProperties: false, description: 'The password was right; a second factor is needed (POST /auth/login/mfa)' },
))

export const LoginResponse = Type.Union([ref(LoggedIn), ref(SecondFactorRequired)])

/** What a password change answers a bearer client: the session's new token (the old one is ended). */
export const NewTokenResponse = Type.Object(BearerToken, { additionalProperties: false })
