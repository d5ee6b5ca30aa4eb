import { STATUS_CODES } from 'node:http'
import createError from '@fastify/error'

/** Seconds a client is told to wait (Retry-After) when Redis cannot be reached. */
export const STORE_RETRY_AFTER_SECONDS = 2

/** The status of each code we define. */
const OUR_CODES = new Map<string, number>()

/**
 * Defines an error the API answers with, under a stable code that clients branch on; the error handler answers every
 * defined code as it is, so the list of codes cannot drift from the definitions.
 */
export function define<Args extends unknown[] = []>(code: string, message: string, statusCode: number) {
  OUR_CODES.set(code, statusCode)
  return createError<Args>(code, message, statusCode)
}

export const UsernameTaken = define('USERNAME_TAKEN', 'That username is already taken', 409)
export const RegistrationClosed = define('REGISTRATION_CLOSED', 'Registration is closed', 403)
export const InvalidCredentials = define('INVALID_CREDENTIALS', 'Invalid username or password', 401)
export const Unauthenticated = define('UNAUTHENTICATED', 'Log in to use this route', 401)
export const SessionExpired = define('SESSION_EXPIRED', 'The session has expired or was ended; log in again', 401)
export const RateLimited = define<[string]>('RATE_LIMITED', 'Too many requests; retry in %s', 429)
export const AccountLocked = define('ACCOUNT_LOCKED', 'Too many failed logins for this account; retry later', 429)
/** The account lock refused an attempt (credentials/lock.ts): answered with when to retry. */
export class AccountLockedFor extends AccountLocked {
  constructor(readonly retryAfterSeconds: number) {
    super()
  }
}
export const Forbidden = define('FORBIDDEN', 'This route needs a role you do not have', 403)
export const UserNotFound = define('USER_NOT_FOUND', 'No such user', 404)
export const AccountDisabled = define('ACCOUNT_DISABLED', 'This account is disabled', 403)
export const InvalidAccountChange = define<[string]>('VALIDATION', 'Invalid account change: %s', 400)
export const InvalidQuery = define<[string]>('VALIDATION', 'Invalid query: %s', 400)
export const LastAdmin = define('LAST_ADMIN', 'The last active admin cannot be disabled, demoted or deleted: make another admin first', 409)
export const SessionNotFound = define('SESSION_NOT_FOUND', 'No such session', 404)
export const CsrfRejected = define('CSRF_REJECTED', 'Cross-site request refused', 403)
export const StoreUnavailable = define('STORE_UNAVAILABLE', 'A data store (Redis or PostgreSQL) is unavailable; retry shortly', 503)
export const Overloaded = define('OVERLOADED', 'The server is overloaded; retry shortly', 503)
const PasswordChecksQueueFull = define('OVERLOADED', 'Too many password checks are waiting on this instance; retry shortly', 503)
/** The queue of key derivations is full (lib/password.ts): answered at once, with when to retry. */
export class PasswordChecksBusy extends PasswordChecksQueueFull {
  constructor(readonly retryAfterSeconds: number) {
    super()
  }
}
export const InsecureTransport = define(
  'INSECURE_TRANSPORT',
  'The session cookie is Secure and this request did not come over HTTPS, so no session was created: call the API over HTTPS; behind a TLS-terminating proxy, set TRUST_PROXY so its X-Forwarded-Proto is believed; COOKIE_SECURE=false only for local development over http://',
  400,
)
export const AmbiguousCredentials = define(
  'AMBIGUOUS_CREDENTIALS',
  'Send the session cookie or an Authorization: Bearer token, not both',
  400,
)
export const InsufficientScope = define<[string]>('INSUFFICIENT_SCOPE', 'This access token lacks the "%s" scope this route needs', 403)
export const TokenNotAllowed = define(
  'TOKEN_NOT_ALLOWED',
  'This route needs a login session (cookie or bearer session), not a personal access token or a JWT access token',
  403,
)
export const InvalidAccessToken = define(
  'INVALID_ACCESS_TOKEN',
  'The access token is invalid or has expired: get a new one (POST /auth/refresh) or log in again',
  401,
)
export const InvalidRefreshToken = define('INVALID_REFRESH_TOKEN', 'The refresh token is invalid, expired, spent or revoked: log in again', 401)
export const IntrospectionUnauthorized = define('UNAUTHENTICATED', 'POST /auth/introspect needs the bearer token INTROSPECTION_SECRET', 401)
export const TokenLimitReached = define('TOKEN_LIMIT_REACHED', 'Too many access tokens; revoke one first', 409)
export const TokenNotFound = define('TOKEN_NOT_FOUND', 'No such access token', 404)
export const InvalidMfaCode = define('INVALID_MFA_CODE', 'That code is wrong, expired or already used', 401)
export const MfaCodeRequired = define('MFA_CODE_REQUIRED', 'This account has two-factor login: send the code from the authenticator app (or a recovery code) as "code"', 401)
export const PendingLoginNotFound = define(
  'MFA_LOGIN_EXPIRED',
  'No login is waiting for a second factor (it expired, was completed, or took too many wrong codes): log in with the password again',
  401,
)
export const LoginInterrupted = define(
  'LOGIN_INTERRUPTED',
  "The account's password or second factor changed, or all its sessions were ended, during this login: log in again",
  401,
)
export const MfaAlreadyEnabled = define('MFA_ALREADY_ENABLED', 'Two-factor login is on already: turn it off first to enrol another authenticator', 409)
export const MfaNotEnabled = define('MFA_NOT_ENABLED', 'Two-factor login is not on for this account', 409)
export const NoMfaEnrolment = define('MFA_ENROLMENT_NOT_STARTED', 'No enrolment in progress for this session (or it expired): POST /auth/mfa/totp first', 409)
export const ReauthRequired = define<[string]>(
  'REAUTH_REQUIRED',
  'This action needs a credential proved in the last %s seconds: POST /auth/reauth with the password (and code), then retry',
  403,
)
export const InvalidAccountToken = define(
  'INVALID_TOKEN',
  'This link is invalid, has expired or was already used: ask for a new one',
  400,
)
export const EmailTaken = define('EMAIL_TAKEN', 'Another account has verified this email address', 409)
export const EmailNotVerified = define(
  'EMAIL_NOT_VERIFIED',
  'Confirm your email address first: follow the link mailed to you (POST /auth/email/resend sends a new one)',
  403,
)
export const EmailRequired = define('EMAIL_REQUIRED', 'An email address is required to register (REQUIRE_VERIFIED_EMAIL is on)', 400)
export const MetricsUnauthorized = define('UNAUTHENTICATED', 'GET /metrics needs the bearer token METRICS_TOKEN', 401)

/** Codes for errors raised by Fastify itself (parsing, routing), keyed by HTTP status. */
const CODE_BY_STATUS: Record<number, string> = {
  400: 'BAD_REQUEST',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  406: 'NOT_ACCEPTABLE',
  408: 'REQUEST_TIMEOUT',
  413: 'PAYLOAD_TOO_LARGE',
  414: 'URI_TOO_LONG',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  431: 'HEADERS_TOO_LARGE',
  503: 'SERVICE_UNAVAILABLE',
}

/** Fastify's own codes that deserve a more precise code than their status gives. */
const CODE_BY_FASTIFY_CODE: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
}

/** The HTTP status every code is answered with (ours and Fastify's own); throws for a code nothing answers. */
export function statusOfCode(code: string): number {
  const status = OUR_CODES.get(code) ?? FASTIFY_STATUS_BY_CODE.get(code)
  if (status === undefined) throw new Error(`no error is answered with code ${code}`)
  return status
}

const FASTIFY_STATUS_BY_CODE = new Map<string, number>([
  ...Object.entries(CODE_BY_STATUS).map(([status, code]) => [code, Number(status)] as const),
  ['INVALID_JSON', 400],
])

export interface ErrorBody {
  statusCode: number
  error: string
  message: string
  code: string
}

export interface ErrorLike {
  statusCode?: number
  code?: string
  message: string
  validation?: unknown
}

export function errorBody(statusCode: number, code: string, message: string): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message, code }
}

/**
 * Maps any error to the response shape. Client errors keep their message; anything else becomes a generic 500
 * so that internals never leak. `storeDown` (Redis could not be reached: see isStoreOutage in platform/redis/client.ts)
 * turns an unexplained failure into 503.
 */
export function toErrorBody(error: ErrorLike, storeDown: boolean): ErrorBody {
  if (error.validation) return errorBody(400, 'VALIDATION', error.message)
  if (error.code && OUR_CODES.has(error.code) && error.statusCode) {
    return errorBody(error.statusCode, error.code, error.message)
  }
  const status = error.statusCode ?? 500
  if (status >= 400 && status < 500) {
    const code = (error.code && CODE_BY_FASTIFY_CODE[error.code]) ?? CODE_BY_STATUS[status] ?? 'BAD_REQUEST'
    return errorBody(status, code, error.message)
  }
  if (storeDown) {
    return errorBody(503, 'STORE_UNAVAILABLE', new StoreUnavailable().message)
  }
  return errorBody(500, 'INTERNAL_ERROR', 'Something went wrong on our side')
}
