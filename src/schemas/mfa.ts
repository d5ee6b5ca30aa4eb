import { Type, type Static } from '@sinclair/typebox'
import { named, nullable, oneOfStrings } from './components.js'
import { CurrentPassword } from './user.js'

/** The second factors: a TOTP code from an authenticator app, or a single-use recovery code. */
export type SecondFactor = 'totp' | 'recovery_code'

/** What a session's user last proved, and with what: its assurance level. */
export const AuthMethod = oneOfStrings(['password', 'password+totp', 'password+recovery_code'])
export type AuthMethod = Static<typeof AuthMethod>

export function authMethodOf(factor: SecondFactor | null): AuthMethod {
  return factor === null ? 'password' : `password+${factor}`
}

/** A TOTP code (6 digits) or a recovery code (24 letters and digits, dashes and spaces allowed). */
export const Code = Type.String({ minLength: 6, maxLength: 64, pattern: '^[A-Za-z0-9 -]+$', description: 'A 6-digit code from the authenticator app, or a recovery code' })
const TotpCode = Type.String({ pattern: '^[0-9]{6}$', description: 'The 6-digit code the authenticator app shows now' })

export const MfaCode = Type.Object({ code: Code }, { additionalProperties: false })
export const TotpConfirmation = Type.Object({ code: TotpCode }, { additionalProperties: false })

export const MfaStatus = named('MfaStatus', Type.Object(
  {
    enabled: Type.Boolean(),
    enabledAt: nullable(Type.String({ format: 'date-time' })),
    recoveryCodesLeft: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false, description: 'Whether two-factor login is on, since when, and how many recovery codes are left' },
))
export type MfaStatus = Static<typeof MfaStatus>

const EnrolmentFields = {
  secret: Type.String({ description: 'The base32 secret, for typing into an app that cannot scan' }),
  uri: Type.String({ description: 'The otpauth:// URI (RFC 6238: SHA-1, 6 digits, 30 s)' }),
  qrCode: Type.String({ description: 'The URI as a QR code: a PNG data URL' }),
}
export interface TotpEnrolment {
  secret: string
  uri: string
  qrCode: string
}

export const EnrolmentResponse = Type.Object(
  { ...EnrolmentFields, expiresAt: Type.String({ format: 'date-time', description: 'Confirm before then' }) },
  { additionalProperties: false },
)

const RecoveryCodes = Type.Array(Type.String(), { description: 'Single-use codes, shown only in this answer: store them safely' })
export const RecoveryCodesResponse = Type.Object({ recoveryCodes: RecoveryCodes }, { additionalProperties: false })
export const MfaEnabledResponse = Type.Object(
  { recoveryCodes: RecoveryCodes, revokedSessions: Type.Integer({ minimum: 0, description: 'Other sessions of mine that were ended' }) },
  { additionalProperties: false },
)
export const MfaDisabledResponse = Type.Object({ revokedSessions: Type.Integer({ minimum: 0 }) }, { additionalProperties: false })

/** The second step of a login: the code, and the pending login's token when it was not left in a cookie. */
export const LoginSecondFactor = Type.Object(
  { code: Code, mfaToken: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'From the login answer (transport "token")' })) },
  { additionalProperties: false },
)

export const Reauthentication = Type.Object(
  { password: CurrentPassword, code: Type.Optional(Code) },
  { additionalProperties: false },
)

export const ReauthResponse = Type.Object(
  {
    authenticatedAt: Type.String({ format: 'date-time' }),
    authMethod: AuthMethod,
    freshUntil: Type.String({ format: 'date-time', description: 'Routes that need a fresh session accept this one until then' }),
    token: Type.Optional(Type.String({ description: 'A bearer session: its new token (the old one is ended)' })),
    expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
)
