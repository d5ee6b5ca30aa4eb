import { Type } from '@sinclair/typebox'
import { described } from './components.js'
import { Code } from './mfa.js'
import { Credentials, Password, Username } from './user.js'

/** An address as RFC 5321 bounds it; kept as typed, compared in any letter case. */
export const Email = Type.String({ format: 'email', maxLength: 254 })

/** A token from a mailed link (the `token` of its query string). */
const LinkToken = Type.String({ minLength: 1, maxLength: 128, description: 'The token of the mailed link (its ?token= value)' })

export const Registration = Type.Object(
  {
    ...Credentials.properties,
    email: Type.Optional(described(Email, 'Optional (required with REQUIRE_VERIFIED_EMAIL): a link to confirm it is mailed there')),
  },
  { additionalProperties: false },
)

export const EmailBody = Type.Object({ email: Email }, { additionalProperties: false })

export const ResendBody = Type.Object(
  {
    email: Email,
    username: Type.Optional(described(
      Username,
      'Only the account of this name gets a link (if it holds the address unconfirmed): the way to your own link when other accounts gave your address too',
    )),
  },
  { additionalProperties: false },
)

export const EmailVerification = Type.Object({ token: LinkToken }, { additionalProperties: false })

export const PasswordResetBody = Type.Object(
  {
    token: LinkToken,
    newPassword: Password,
    code: Type.Optional(described(Code, 'Required when two-factor login is on: a code from the authenticator app, or a recovery code')),
  },
  { additionalProperties: false },
)

/** The answer to a request that queues a mail: the same whatever the address, so that it tells nothing about accounts. */
export const MailQueuedResponse = Type.Object({ message: Type.String() }, { additionalProperties: false })

export const EmailVerifiedResponse = Type.Object({ email: Email, emailVerified: Type.Literal(true) }, { additionalProperties: false })
