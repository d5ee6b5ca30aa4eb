import { Type } from '@sinclair/typebox'
import { Role } from './accounts.js'
import { SessionHandle } from './auth.js'

/** Longer than any token we issue (a JWT access token is about 600 characters). */
const AnyToken = Type.String({ minLength: 1, maxLength: 2048 })

export const RefreshRequest = Type.Object({ refreshToken: AnyToken }, { additionalProperties: false })

/**
 * RFC 7009 and RFC 7662 requests: `token` and an optional hint, as JSON or as a form (application/x-www-form-urlencoded,
 * what those RFCs specify).
 */
export const TokenRequest = Type.Object(
  {
    token: AnyToken,
    token_type_hint: Type.Optional(Type.String({ maxLength: 64, description: 'access_token or refresh_token; the service tells them apart itself' })),
  },
  { additionalProperties: false },
)

export const RevocationResponse = Type.Object({}, { additionalProperties: false, description: 'Answered whether or not the token was live (RFC 7009 §2.2)' })

export const IntrospectionResponse = Type.Object(
  {
    active: Type.Boolean(),
    token_type: Type.Optional(Type.Union([Type.Literal('access_token'), Type.Literal('refresh_token')])),
    sub: Type.Optional(Type.String({ description: 'The user id' })),
    username: Type.Optional(Type.String()),
    sid: Type.Optional(SessionHandle),
    iss: Type.Optional(Type.String()),
    aud: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])),
    jti: Type.Optional(Type.String()),
    iat: Type.Optional(Type.Integer()),
    exp: Type.Optional(Type.Integer({ description: 'For a refresh token: when its session ends unless used' })),
    auth_time: Type.Optional(Type.Integer()),
    amr: Type.Optional(Type.Array(Type.String())),
    roles: Type.Optional(Type.Array(Type.String())),
  },
  { additionalProperties: false },
)

export const Jwks = Type.Object(
  {
    keys: Type.Array(Type.Object(
      { kty: Type.String(), crv: Type.String(), x: Type.String(), kid: Type.String(), alg: Type.String(), use: Type.String() },
      { additionalProperties: false },
    )),
  },
  { additionalProperties: false },
)

export const AuthorizationServerMetadata = Type.Object(
  {
    issuer: Type.String(),
    jwks_uri: Type.String(),
    token_endpoint: Type.String(),
    revocation_endpoint: Type.String(),
    introspection_endpoint: Type.String(),
    grant_types_supported: Type.Array(Type.String()),
    token_endpoint_auth_methods_supported: Type.Array(Type.String()),
    revocation_endpoint_auth_methods_supported: Type.Array(Type.String()),
    introspection_endpoint_auth_methods_supported: Type.Array(Type.String()),
    response_types_supported: Type.Array(Type.String()),
  },
  { additionalProperties: false },
)

/** GET /auth/verify: a role the user must have, for a proxy that protects an admin-only upstream. */
export const VerifyQuery = Type.Object({ role: Type.Optional(Role) }, { additionalProperties: false })

export const VerifiedUser = Type.Object(
  { user: Type.Object({ id: Type.String(), username: Type.String(), roles: Type.Array(Type.String()) }, { additionalProperties: false }) },
  { additionalProperties: false },
)
