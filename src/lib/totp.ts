import { Secret, TOTP } from 'otpauth'
import QRCode from 'qrcode'

/**
 * RFC 6238 as every authenticator app speaks it: HMAC-SHA-1, 6 digits, 30-second steps, a 160-bit secret (RFC 4226's
 * recommended length). A code is accepted one step either side of now, for clocks that drift and users who type slowly.
 */
export const TOTP_PARAMETERS = { algorithm: 'SHA1', digits: 6, period: 30 } as const
const SECRET_BYTES = 20
const ACCEPTED_DRIFT_STEPS = 1

/** Six digits: the shape of a TOTP code (a recovery code has letters). */
export const TOTP_CODE = /^\d{6}$/

/** A new random secret, base32 (the form authenticator apps and otpauth:// URIs carry). */
export function newTotpSecret(): string {
  return new Secret({ size: SECRET_BYTES }).base32
}

/** The otpauth:// URI an authenticator app scans: the issuer names the service, the label the account. */
export function otpauthUri(secret: string, issuer: string, account: string): string {
  return new TOTP({ ...TOTP_PARAMETERS, issuer, label: account, secret: Secret.fromBase32(secret) }).toString()
}

/** The URI as a QR code, a PNG data URL an <img> can show as it is. */
export function qrCodeDataUrl(uri: string): Promise<string> {
  return QRCode.toDataURL(uri, { errorCorrectionLevel: 'M' })
}

/**
 * The time step `code` belongs to, if it is the secret's code for a step within the accepted drift of `now`; else
 * null. Callers accept a step only once, and only after the last one they accepted (replay protection).
 */
export function matchingStep(secret: string, code: string, now: number): number | null {
  if (!TOTP_CODE.test(code)) return null
  const delta = TOTP.validate({ ...TOTP_PARAMETERS, secret: Secret.fromBase32(secret), token: code, timestamp: now, window: ACCEPTED_DRIFT_STEPS })
  return delta === null ? null : TOTP.counter({ period: TOTP_PARAMETERS.period, timestamp: now }) + delta
}
